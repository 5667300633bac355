import Foundation
import SignetCrypto
import SignetNotation
import SignetTestSupport
import SignetVerify
import Testing

/// ``HTTPCRLDownloader`` against real HTTP servers on 127.0.0.1: Python's `http.server` serving
/// CRLs made with `openssl ca`, and a server that accepts connections and never answers.
@Suite(.serialized) struct HTTPCRLDownloaderTests {
    static func deadline() -> ContinuousClock.Instant { TestBudget.deadline(120) }

    @Test func aCRLIsDownloadedOnceAndKeptAndAFailureIsHeld() async throws {
        let served = TemporaryDirectory(prefix: "crl-server")
        let server = try await StaticFileServer.start(serving: served.url)
        let signer = try await offThePool { try NotationTestSigner() }
        let bytes = try await offThePool { try signer.rootCRL(revoking: [signer.leaf]) }
        try Data(bytes).write(to: served.file("acme.crl"))
        let downloader = try HTTPCRLDownloader()
        defer { downloader.shutdown() }
        let location = server.baseURL + "/acme.crl"

        let first = await downloader.download([location, location], deadline: Self.deadline())
        #expect(first.count == 1)
        #expect(try first[location]?.get().derEncoded == bytes)
        let again = await downloader.download([location], deadline: Self.deadline())
        #expect(try again[location]?.get().derEncoded == bytes)
        #expect(server.requestedPaths.filter { $0 == "/acme.crl" }.count == 1, "kept until its nextUpdate: \(server.requestedPaths)")

        // Not found: a failure that will not pass by itself, held for a while without asking again.
        let missing = server.baseURL + "/missing.crl"
        let notFound = await downloader.download([missing], deadline: Self.deadline())
        #expect(Self.failure(notFound[missing]) == CRLDownloadFailure("HTTP status 404", isTransient: false))
        try Data(bytes).write(to: served.file("missing.crl"))
        let held = await downloader.download([missing], deadline: Self.deadline())
        #expect(Self.failure(held[missing])?.description == "HTTP status 404")
        #expect(server.requestedPaths.filter { $0 == "/missing.crl" }.count == 1, "\(server.requestedPaths)")

        // Not a CRL.
        try Data("not a CRL".utf8).write(to: served.file("text.crl"))
        let text = server.baseURL + "/text.crl"
        #expect(Self.failure(await downloader.download([text], deadline: Self.deadline())[text])?.description
                == "the answer is not a DER-encoded CRL (RFC 5280 section 4.2.1.13)")

        // Locations signet does not download are refused without a request.
        let refusedLocations = ["https://127.0.0.1:\(server.port)/acme.crl", "ldap://127.0.0.1/cn=acme", "http://user:secret@127.0.0.1:\(server.port)/acme.crl",
                                "http://127.0.0.1:\(server.port)/a b.crl", "http:///acme.crl"]
        let refused = await downloader.download(refusedLocations, deadline: Self.deadline())
        for location in refusedLocations {
            #expect(Self.failure(refused[location])?.description == "not an http URL signet downloads", "\(location)")
        }
        #expect(server.requestedPaths == ["/acme.crl", "/missing.crl", "/text.crl"], "\(server.requestedPaths)")

        // Larger than the limit.
        var small = HTTPCRLDownloader.Configuration()
        small.maximumBytes = 64
        let limited = try HTTPCRLDownloader(configuration: small)
        defer { limited.shutdown() }
        let tooLarge = await limited.download([location], deadline: Self.deadline())
        #expect(Self.failure(tooLarge[location]) == CRLDownloadFailure("the CRL is larger than 64 bytes", isTransient: false))
    }

    /// A distribution point that accepts the connection and never answers: each verification
    /// waits until its own deadline and no longer; the one download goes on for all of them
    /// (single flight), so the server sees one connection however many reviews ask.
    @Test func aDistributionPointThatNeverAnswersCostsAVerificationItsDeadlineAndIsAskedOnce() async throws {
        let port = FreePort.make()
        let script = """
            import socket, sys, threading
            def hold(connection):
                if connection.recv(4096).startswith(b"GET "):
                    print("request", flush=True)
                threading.Event().wait()
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", int(sys.argv[1])))
            server.listen(16)
            while True:
                connection, _ = server.accept()
                threading.Thread(target=hold, args=(connection,), daemon=True).start()
            """
        let silent = try TestProcess("python3", ["-c", script, String(port)])
        defer { silent.terminate() }
        #expect(try await offThePool { FreePort.waitUntilListening(port) })
        var configuration = HTTPCRLDownloader.Configuration()
        configuration.requestTimeout = TestBudget.seconds(600)
        let downloader = try HTTPCRLDownloader(configuration: configuration)
        defer { downloader.shutdown() }
        let location = "http://127.0.0.1:\(port)/acme.crl"

        async let first = downloader.download([location], deadline: .now + .milliseconds(800))
        async let second = downloader.download([location], deadline: .now + .milliseconds(800))
        let answers = await [first, second]
        for answer in answers {
            let failure = Self.failure(answer[location])
            #expect(failure?.isTransient == true)
            #expect(failure?.description == "no answer before the verification deadline (the download goes on and is kept for the next review)")
        }
        let third = await downloader.download([location], deadline: .now + .milliseconds(300))
        #expect(Self.failure(third[location])?.isTransient == true)
        // The request may still be on its way on a busy machine: wait for it (bounded), then count.
        let seen = ContinuousClock.now + TestBudget.seconds(60)
        while silent.stdout.isEmpty, ContinuousClock.now < seen { try await Task.sleep(for: .milliseconds(50)) }
        #expect(silent.stdout.split(separator: "\n") == ["request"], "one download for three verifications: \(silent.stdout)")
    }

    static func failure(_ result: Result<CertificateRevocationList, CRLDownloadFailure>?) -> CRLDownloadFailure? {
        guard case .failure(let failure) = result else { return nil }
        return failure
    }
}
