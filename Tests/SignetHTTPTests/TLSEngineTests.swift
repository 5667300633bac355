import Foundation
import SignetTestSupport
import Testing

@testable import SignetHTTP

/// A client engine and a server engine joined in memory: each turn moves the ciphertext one side
/// produced to the other and lets both read.
final class TLSConversation {
    let client: TLSEngine
    let server: TLSEngine
    var clientInbox: [UInt8] = []
    var serverInbox: [UInt8] = []
    private(set) var lastClientResult: TLSReadResult = .wantMoreCiphertext
    private(set) var lastServerResult: TLSReadResult = .wantMoreCiphertext

    init(client: TLSEngine, server: TLSEngine) {
        self.client = client
        self.server = server
    }

    convenience init(clientContext: TLSContext, serverContext: TLSContext, serverName: String? = "localhost") throws {
        try self.init(client: clientContext.makeEngine(serverName: serverName), server: serverContext.makeEngine())
    }

    /// Runs turns until neither side has anything left to say.
    func run(maxTurns: Int = 100) {
        for _ in 0..<maxTurns {
            var moved = false
            let toServer = client.takeCiphertext()
            if !toServer.isEmpty {
                server.receiveCiphertext(toServer)
                moved = true
            }
            lastServerResult = server.readPlaintext(into: &serverInbox)
            let toClient = server.takeCiphertext()
            if !toClient.isEmpty {
                client.receiveCiphertext(toClient)
                moved = true
            }
            lastClientResult = client.readPlaintext(into: &clientInbox)
            if !moved && !client.hasPendingCiphertext && !server.hasPendingCiphertext { return }
        }
    }

    var clientFailure: TLSError? { Self.failure(lastClientResult) }
    var serverFailure: TLSError? { Self.failure(lastServerResult) }

    private static func failure(_ result: TLSReadResult) -> TLSError? {
        if case .failed(let error) = result { return error }
        return nil
    }
}

@Suite("TLS engine over memory BIOs")
struct TLSEngineTests {
    let pki: TestPKI

    init() throws {
        pki = try TestPKI()
    }

    private func serverContext(clientCA: Bool = false, alpn: [String]? = nil) throws -> TLSContext {
        var configuration = TLSServerConfiguration(
            certificateChainFile: pki.serverCertFile, privateKeyFile: pki.serverKeyFile,
            clientCAFile: clientCA ? pki.clientCAFile : nil)
        if let alpn { configuration.alpnProtocols = alpn }
        return try TLSContext.makeServer(configuration)
    }

    @Test func tls13HandshakeAndEchoBothWays() throws {
        let conversation = try TLSConversation(
            clientContext: TLSContext.makeClient(trustedCAFile: pki.caFile), serverContext: serverContext())
        conversation.run()
        #expect(conversation.client.isHandshakeComplete)
        #expect(conversation.server.isHandshakeComplete)
        #expect(conversation.client.negotiatedProtocolVersion == "TLSv1.3")
        #expect(conversation.server.negotiatedProtocolVersion == "TLSv1.3")
        #expect(conversation.client.peerCertificateSubject == "CN=localhost")
        #expect(conversation.server.peerCertificateSubject == nil)

        #expect(conversation.client.writePlaintext(Array("ping".utf8)) == .written)
        conversation.run()
        #expect(conversation.serverInbox == Array("ping".utf8))
        #expect(conversation.server.writePlaintext(Array("pong".utf8)) == .written)
        conversation.run()
        #expect(conversation.clientInbox == Array("pong".utf8))
    }

    @Test func tls12WhenTheClientStopsAt12() throws {
        let client = try TLSContext.makeClient(trustedCAFile: pki.caFile, maximumVersion: .tls1_2)
        let conversation = try TLSConversation(clientContext: client, serverContext: serverContext())
        conversation.run()
        #expect(conversation.server.negotiatedProtocolVersion == "TLSv1.2")
        #expect(conversation.client.negotiatedProtocolVersion == "TLSv1.2")
        #expect(conversation.client.writePlaintext(Array("over 1.2".utf8)) == .written)
        conversation.run()
        #expect(conversation.serverInbox == Array("over 1.2".utf8))
    }

    @Test func serverRefusesTLS13MinimumFromA12Client() throws {
        var configuration = TLSServerConfiguration(certificateChainFile: pki.serverCertFile, privateKeyFile: pki.serverKeyFile)
        configuration.minimumVersion = .tls1_3
        let client = try TLSContext.makeClient(trustedCAFile: pki.caFile, maximumVersion: .tls1_2)
        let conversation = try TLSConversation(clientContext: client, serverContext: TLSContext.makeServer(configuration))
        conversation.run()
        #expect(conversation.serverFailure == .handshakeFailed)
        #expect(conversation.clientFailure != nil)
    }

    @Test func tls11ClientIsRefused() throws {
        let legacy = TLSContext.openSSLVersionTLS1_1
        let client = try TLSContext.makeClient(
            trustedCAFile: pki.caFile, certificateChainFile: nil, privateKeyFile: nil, alpnProtocols: ["http/1.1"],
            openSSLVersions: (legacy, legacy), allowLegacyProtocolsUnsafe: true)
        let conversation = try TLSConversation(clientContext: client, serverContext: serverContext())
        conversation.run()
        #expect(!conversation.server.isHandshakeComplete)
        #expect(!conversation.client.isHandshakeComplete)
        let failure = try #require(conversation.clientFailure ?? conversation.serverFailure)
        #expect(failure == .handshakeFailed)
        // The server itself saw the ClientHello and refused it (not just the client's own policy).
        #expect(conversation.serverFailure == .handshakeFailed)
        #expect(conversation.serverFailure?.reason.contains("protocol") == true)
    }

    @Test func alpnNegotiatesHTTP11() throws {
        let client = try TLSContext.makeClient(trustedCAFile: pki.caFile, alpnProtocols: ["h2", "http/1.1"])
        let conversation = try TLSConversation(clientContext: client, serverContext: serverContext())
        conversation.run()
        #expect(conversation.server.negotiatedALPN == "http/1.1")
        #expect(conversation.client.negotiatedALPN == "http/1.1")
    }

    @Test func clientWithoutALPNIsAccepted() throws {
        let client = try TLSContext.makeClient(trustedCAFile: pki.caFile, alpnProtocols: [])
        let conversation = try TLSConversation(clientContext: client, serverContext: serverContext())
        conversation.run()
        #expect(conversation.server.isHandshakeComplete)
        #expect(conversation.server.negotiatedALPN == nil)
    }

    @Test func clientOfferingOnlyH2IsRefused() throws {
        let client = try TLSContext.makeClient(trustedCAFile: pki.caFile, alpnProtocols: ["h2"])
        let conversation = try TLSConversation(clientContext: client, serverContext: serverContext())
        conversation.run()
        #expect(conversation.serverFailure == .handshakeFailed)
        let clientFailure = try #require(conversation.clientFailure)
        #expect(clientFailure == .handshakeFailed)
        #expect(clientFailure.reason.contains("no application protocol"))
    }

    @Test func clientCertificateFromClientCAIsAccepted() throws {
        let client = try TLSContext.makeClient(
            trustedCAFile: pki.caFile, certificateChainFile: pki.clientCertFile, privateKeyFile: pki.clientKeyFile)
        let conversation = try TLSConversation(clientContext: client, serverContext: serverContext(clientCA: true))
        conversation.run()
        #expect(conversation.server.isHandshakeComplete)
        #expect(conversation.server.peerCertificateSubject == "CN=signet-test-client")
        #expect(conversation.client.writePlaintext(Array("authenticated".utf8)) == .written)
        conversation.run()
        #expect(conversation.serverInbox == Array("authenticated".utf8))
        #expect(conversation.clientFailure == nil)
    }

    @Test(arguments: [TLSProtocolVersion.tls1_2, .tls1_3])
    func clientWithoutCertificateIsRejected(version: TLSProtocolVersion) throws {
        let client = try TLSContext.makeClient(trustedCAFile: pki.caFile, maximumVersion: version)
        let conversation = try TLSConversation(clientContext: client, serverContext: serverContext(clientCA: true))
        conversation.run()
        let failure = try #require(conversation.serverFailure)
        #expect(failure == .certificateRejected)
        #expect(failure.reason.contains("client certificate is required"))
        #expect(conversation.server.peerCertificateSubject == nil)
        // The client learns it from the alert: certificate_required in TLS 1.3 (RFC 8446 section
        // 4.4.2.4), which arrives after its side of the handshake ended; handshake_failure in TLS 1.2.
        let clientFailure = try #require(conversation.clientFailure)
        if version == .tls1_3 { #expect(clientFailure == .certificateRejected) }
    }

    @Test(arguments: [TLSProtocolVersion.tls1_2, .tls1_3])
    func clientCertificateFromAnotherCAIsRejected(version: TLSProtocolVersion) throws {
        let stranger = try pki.issueClientCertificate(commonName: "stranger", signedBy: .serverCA, named: "stranger")
        let client = try TLSContext.makeClient(
            trustedCAFile: pki.caFile, certificateChainFile: stranger.certificateFile,
            privateKeyFile: stranger.privateKeyFile, maximumVersion: version)
        let conversation = try TLSConversation(clientContext: client, serverContext: serverContext(clientCA: true))
        conversation.run()
        let failure = try #require(conversation.serverFailure)
        #expect(failure == .certificateRejected)
        #expect(failure.reason.contains("certificate was rejected"))
        #expect(conversation.clientFailure == .certificateRejected)
    }

    @Test func clientRejectsServerFromAnUntrustedCA() throws {
        let client = try TLSContext.makeClient(trustedCAFile: pki.clientCAFile)
        let conversation = try TLSConversation(clientContext: client, serverContext: serverContext())
        conversation.run()
        #expect(conversation.clientFailure == .certificateRejected)
        #expect(conversation.serverFailure == .certificateRejected)
    }

    @Test func clientChecksTheServerName() throws {
        let client = try TLSContext.makeClient(trustedCAFile: pki.caFile)
        let wrongName = try TLSConversation(clientContext: client, serverContext: serverContext(), serverName: "example.com")
        wrongName.run()
        let failure = try #require(wrongName.clientFailure)
        #expect(failure == .certificateRejected)
        #expect(failure.reason.contains("hostname mismatch"))

        let address = try TLSConversation(clientContext: client, serverContext: serverContext(), serverName: "127.0.0.1")
        address.run()
        #expect(address.client.isHandshakeComplete)
        #expect(address.clientFailure == nil)
    }

    @Test func mismatchedKeyNamesTheFile() throws {
        let configuration = TLSServerConfiguration(certificateChainFile: pki.serverCertFile, privateKeyFile: pki.clientKeyFile)
        let error = try #require(throws: TLSError.self) { try TLSContext.makeServer(configuration) }
        #expect(error == .privateKeyMismatch)
        #expect(error.description.contains(pki.serverCertFile))
        #expect(error.description.contains("does not match"))
    }

    @Test func rsaKeyWithECCertificateIsAMismatch() throws {
        let rsa = try TestPKI(keyType: .rsa2048)
        let configuration = TLSServerConfiguration(certificateChainFile: pki.serverCertFile, privateKeyFile: rsa.serverKeyFile)
        let error = try #require(throws: TLSError.self) { try TLSContext.makeServer(configuration) }
        #expect(error == .privateKeyMismatch)
        #expect(error.description.contains(pki.serverCertFile))
    }

    @Test func missingFileGivesAClearError() throws {
        let missing = pki.directory.file("nope/tls.crt").path
        let configuration = TLSServerConfiguration(certificateChainFile: missing, privateKeyFile: pki.serverKeyFile)
        let error = try #require(throws: TLSError.self) { try TLSContext.makeServer(configuration) }
        #expect(error == .fileUnreadable)
        #expect(error.description == "cannot read the certificate chain file \(missing): No such file or directory")

        let missingCA = TLSServerConfiguration(
            certificateChainFile: pki.serverCertFile, privateKeyFile: pki.serverKeyFile, clientCAFile: missing)
        #expect(throws: TLSError.fileUnreadable) { try TLSContext.makeServer(missingCA) }
    }

    @Test func fileWithoutPEMIsRefused() throws {
        let notPEM = try pki.directory.write("garbage.pem", "not a certificate\n").path
        let certificate = TLSServerConfiguration(certificateChainFile: notPEM, privateKeyFile: pki.serverKeyFile)
        #expect(throws: TLSError.invalidCertificate) { try TLSContext.makeServer(certificate) }
        let key = TLSServerConfiguration(certificateChainFile: pki.serverCertFile, privateKeyFile: notPEM)
        #expect(throws: TLSError.invalidPrivateKey) { try TLSContext.makeServer(key) }
        let trust = TLSServerConfiguration(
            certificateChainFile: pki.serverCertFile, privateKeyFile: pki.serverKeyFile, clientCAFile: notPEM)
        #expect(throws: TLSError.invalidTrustAnchors) { try TLSContext.makeServer(trust) }
    }

    @Test func encryptedKeyIsRefusedWithoutPrompting() throws {
        let encrypted = pki.directory.file("encrypted.key").path
        let result = try TestProcess.run(
            "openssl", ["pkey", "-in", pki.serverKeyFile, "-aes256", "-passout", "pass:secret", "-out", encrypted])
        try #require(result.status == 0, "\(result.stderr)")
        let configuration = TLSServerConfiguration(certificateChainFile: pki.serverCertFile, privateKeyFile: encrypted)
        let error = try #require(throws: TLSError.self) { try TLSContext.makeServer(configuration) }
        #expect(error == .invalidPrivateKey)
        #expect(error.description.contains(encrypted))
    }

    @Test func failureDoesNotLeakIntoTheNextConnection() throws {
        let context = try serverContext()
        let broken = try context.makeEngine()
        broken.receiveCiphertext(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        var inbox: [UInt8] = []
        #expect(broken.readPlaintext(into: &inbox) == .failed(.plaintextHTTP))
        // Same thread, next connection: a clean handshake and no inherited error.
        let conversation = try TLSConversation(
            client: TLSContext.makeClient(trustedCAFile: pki.caFile).makeEngine(serverName: "localhost"),
            server: context.makeEngine())
        conversation.run()
        #expect(conversation.server.isHandshakeComplete)
        #expect(conversation.serverFailure == nil)
        #expect(conversation.clientFailure == nil)
    }

    @Test func invalidALPNNameIsAConfigurationError() throws {
        #expect(throws: TLSError.invalidConfiguration) { try serverContext(alpn: [""]) }
        #expect(throws: TLSError.invalidConfiguration) {
            try TLSContext.makeClient(trustedCAFile: nil, minimumVersion: .tls1_3, maximumVersion: .tls1_2)
        }
    }

    @Test func garbageFails() throws {
        let server = try serverContext().makeEngine()
        server.receiveCiphertext(Array("\u{1}\u{2}this is certainly not a TLS record, just noise\r\n".utf8))
        var inbox: [UInt8] = []
        guard case .failed(let error) = server.readPlaintext(into: &inbox) else {
            Issue.record("garbage was not refused")
            return
        }
        #expect(error == .handshakeFailed)
        #expect(!error.reason.isEmpty)
        // The failure sticks, and writes are refused too.
        #expect(server.readPlaintext(into: &inbox) == .failed(error))
        #expect(server.writePlaintext([1, 2, 3]) == .failed(error))
        #expect(inbox.isEmpty)
    }

    @Test func randomBytesNeverCrash() throws {
        let context = try serverContext()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let server = try context.makeEngine()
            let noise = (0..<Int.random(in: 1...4096, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            server.receiveCiphertext(noise)
            var inbox: [UInt8] = []
            let result = server.readPlaintext(into: &inbox)
            #expect(result != .closedByPeer)
            if case .readBytes = result { Issue.record("noise decrypted to plaintext") }
            server.receiveEndOfCiphertext()
            if case .failed = server.readPlaintext(into: &inbox) {} else { Issue.record("noise then EOF did not fail") }
            _ = server.takeCiphertext()
        }
    }

    @Test func plaintextHTTPRequestFails() throws {
        let server = try serverContext().makeEngine()
        server.receiveCiphertext(Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        var inbox: [UInt8] = []
        let result = server.readPlaintext(into: &inbox)
        #expect(result == .failed(.plaintextHTTP))
        if case .failed(let error) = result {
            #expect(error.reason.contains("plaintext HTTP"))
        }
    }

    @Test func truncatedHandshake() throws {
        let client = try TLSContext.makeClient(trustedCAFile: pki.caFile).makeEngine(serverName: "localhost")
        let server = try serverContext().makeEngine()
        var inbox: [UInt8] = []
        #expect(client.readPlaintext(into: &inbox) == .wantMoreCiphertext)
        let hello = client.takeCiphertext()
        #expect(hello.count > 20)
        server.receiveCiphertext(Array(hello.prefix(hello.count / 2)))
        #expect(server.readPlaintext(into: &inbox) == .wantMoreCiphertext)
        server.receiveEndOfCiphertext()
        let result = server.readPlaintext(into: &inbox)
        #expect(result == .failed(.truncated))
    }

    @Test func closeNotifyIsClosedByPeer() throws {
        let conversation = try TLSConversation(
            clientContext: TLSContext.makeClient(trustedCAFile: pki.caFile), serverContext: serverContext())
        conversation.run()
        #expect(conversation.client.writePlaintext(Array("last words".utf8)) == .written)
        conversation.client.shutdown()
        #expect(conversation.client.hasPendingCiphertext)
        conversation.run()
        #expect(conversation.serverInbox == Array("last words".utf8))
        #expect(conversation.lastServerResult == .closedByPeer)
        var inbox: [UInt8] = []
        #expect(conversation.server.readPlaintext(into: &inbox) == .closedByPeer)
        #expect(conversation.client.writePlaintext([1]) == .failed(.connectionClosed))

        conversation.server.shutdown()
        conversation.run()
        #expect(conversation.lastClientResult == .closedByPeer)
    }

    @Test func endOfStreamWithoutCloseNotifyIsTruncation() throws {
        let conversation = try TLSConversation(
            clientContext: TLSContext.makeClient(trustedCAFile: pki.caFile), serverContext: serverContext())
        conversation.run()
        conversation.server.receiveEndOfCiphertext()
        var inbox: [UInt8] = []
        #expect(conversation.server.readPlaintext(into: &inbox) == .failed(.truncated))
    }

    @Test func oneMebibyteRoundTrips() throws {
        let conversation = try TLSConversation(
            clientContext: TLSContext.makeClient(trustedCAFile: pki.caFile), serverContext: serverContext())
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
        // Written before the handshake: queued, then sent once it completes.
        #expect(conversation.client.writePlaintext(payload) == .written)
        conversation.run()
        #expect(conversation.serverInbox.count == payload.count)
        #expect(conversation.serverInbox == payload)
        #expect(conversation.server.writePlaintext(conversation.serverInbox) == .written)
        conversation.run()
        #expect(conversation.clientInbox == payload)
        // Drained buffers do not keep the memory of the megabyte.
        #expect(conversation.client.bufferCapacity <= 128 * 1024)
        #expect(conversation.server.bufferCapacity <= 128 * 1024)
        // And the connection still works after the buffers were replaced.
        #expect(conversation.client.writePlaintext(Array("after".utf8)) == .written)
        conversation.run()
        #expect(conversation.serverInbox.suffix(5) == Array("after".utf8))
    }

    @Test func serverSeesTheRequestedServerName() throws {
        let conversation = try TLSConversation(
            clientContext: TLSContext.makeClient(trustedCAFile: pki.caFile), serverContext: serverContext())
        conversation.run()
        #expect(conversation.server.requestedServerName == "localhost")

        let byAddress = try TLSConversation(
            clientContext: TLSContext.makeClient(trustedCAFile: pki.caFile), serverContext: serverContext(),
            serverName: "127.0.0.1")
        byAddress.run()
        #expect(byAddress.server.isHandshakeComplete)
        #expect(byAddress.server.requestedServerName == nil)  // no SNI for IP literals (RFC 6066 section 3)
    }

    @Test(arguments: [TLSProtocolVersion.tls1_2, .tls1_3])
    func rsaCertificates(version: TLSProtocolVersion) throws {
        let rsa = try TestPKI(keyType: .rsa2048)
        let server = try TLSContext.makeServer(
            TLSServerConfiguration(certificateChainFile: rsa.serverCertFile, privateKeyFile: rsa.serverKeyFile, clientCAFile: rsa.clientCAFile))
        let client = try TLSContext.makeClient(
            trustedCAFile: rsa.caFile, certificateChainFile: rsa.clientCertFile, privateKeyFile: rsa.clientKeyFile,
            maximumVersion: version)
        let conversation = try TLSConversation(clientContext: client, serverContext: server)
        conversation.run()
        #expect(conversation.server.negotiatedProtocolVersion == version.rawValue)
        #expect(conversation.server.peerCertificateSubject == "CN=signet-test-client")
    }

    @Test func certificateSummaryAndReload() throws {
        let first = try serverContext()
        #expect(first.certificateSummary.hasPrefix("subject=CN=localhost sha256="))
        #expect(first.certificateSummary.contains("notAfter=20"))

        let mount = pki.directory.file("secret")
        let issued = try pki.issueServerCertificate(commonName: "signet.signet-system.svc", into: mount)
        let second = try TLSContext.makeServer(
            TLSServerConfiguration(certificateChainFile: issued.certificateFile, privateKeyFile: issued.privateKeyFile))
        #expect(second.certificateSummary.hasPrefix("subject=CN=signet.signet-system.svc sha256="))
        #expect(second.certificateSummary != first.certificateSummary)

        let client = try TLSContext.makeClient(trustedCAFile: pki.caFile)
        let conversation = try TLSConversation(clientContext: client, serverContext: second, serverName: "signet.signet-system.svc")
        conversation.run()
        #expect(conversation.client.peerCertificateSubject == "CN=signet.signet-system.svc")
        #expect(try TLSContext.makeClient(trustedCAFile: nil).certificateSummary == "no certificate")
    }

    @Test func chainWithIntermediateIsSent() throws {
        let issued = try pki.issueServerCertificate(into: pki.directory.file("chained"), throughIntermediate: true)
        let server = try TLSContext.makeServer(
            TLSServerConfiguration(certificateChainFile: issued.certificateFile, privateKeyFile: issued.privateKeyFile))
        // The client trusts only the root: the handshake works only if the intermediate is sent.
        let conversation = try TLSConversation(
            clientContext: TLSContext.makeClient(trustedCAFile: pki.caFile), serverContext: server)
        conversation.run()
        #expect(conversation.clientFailure == nil)
        #expect(conversation.client.peerCertificateSubject == "CN=localhost")
    }

    @Test func ciphertextDeliveredOneByteAtATime() throws {
        let client = try TLSContext.makeClient(trustedCAFile: pki.caFile).makeEngine(serverName: "localhost")
        let server = try serverContext().makeEngine()
        var clientInbox: [UInt8] = []
        var serverInbox: [UInt8] = []
        #expect(client.writePlaintext(Array("fragmented".utf8)) == .written)
        for _ in 0..<20 {
            for byte in client.takeCiphertext() {
                server.receiveCiphertext([byte])
                if case .failed(let error) = server.readPlaintext(into: &serverInbox) { Issue.record("server: \(error)") }
            }
            for byte in server.takeCiphertext() {
                client.receiveCiphertext([byte])
                if case .failed(let error) = client.readPlaintext(into: &clientInbox) { Issue.record("client: \(error)") }
            }
            if !client.hasPendingCiphertext && !server.hasPendingCiphertext && serverInbox.count == 10 { break }
        }
        #expect(server.isHandshakeComplete)
        #expect(serverInbox == Array("fragmented".utf8))
    }

    @Test func contextsAreSharedAcrossThreads() async throws {
        let serverContext = try serverContext()
        let clientContext = try TLSContext.makeClient(trustedCAFile: pki.caFile)
        let outcomes = await withTaskGroup(of: Bool.self, returning: [Bool].self) { group in
            for index in 0..<16 {
                group.addTask {
                    guard let conversation = try? TLSConversation(clientContext: clientContext, serverContext: serverContext)
                    else { return false }
                    let message = Array("connection \(index)".utf8)
                    guard conversation.client.writePlaintext(message) == .written else { return false }
                    conversation.run()
                    return conversation.serverInbox == message
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count == 16)
        #expect(outcomes.allSatisfy { $0 })
    }

    @Test func engineOutlivesItsContextObject() throws {
        var server: TLSEngine? = try serverContext().makeEngine()
        let client = try TLSContext.makeClient(trustedCAFile: pki.caFile).makeEngine(serverName: "localhost")
        let conversation = TLSConversation(client: client, server: server!)
        server = nil
        conversation.run()
        #expect(conversation.server.negotiatedALPN == "http/1.1")
    }
}
