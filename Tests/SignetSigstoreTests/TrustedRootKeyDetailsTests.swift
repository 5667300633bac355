import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import Testing

/// The verifier follows the trusted root's key details and sigstore-go's counting rules:
/// - a log key signs with the hash its `keyDetails` name (ECDSA P-384: SHA-384), for SETs and
///   checkpoints alike; a DSSE signature by a P-384 key is checked with SHA-384;
/// - a v0.1/v0.2 bundle whose chain also carries the root is read (only the leaf is used);
/// - an entry from a log the trusted root does not name is skipped, and entries are counted once
///   per log; the same entry twice is refused;
/// - a malformed SCT is skipped rather than failing the certificate's other SCTs.
///
/// Every case starts from a real vector (sigstore-conformance `happy-path-v0.2`, `happy-path-v0.3`,
/// `happy-path-intoto-in-dsse-v3`) and changes the one thing the case is about. The P-384 log is
/// the production Rekor entry re-signed by a P-384 key made for the test, standing in for that
/// log in a copy of the production trusted root.
@Suite("Trusted root key details and entry counting", .serialized)
struct TrustedRootKeyDetailsTests {
    static let v03 = ConformanceCase(name: "happy-path-v0.3")
    static let v02 = ConformanceCase(name: "happy-path-v0.2")
    static let dsse = ConformanceCase(name: "happy-path-intoto-in-dsse-v3")
    /// 2026-11-01T00:00:00Z, after every vector's signing time (as in ``ConformanceTests``).
    static let pinnedNow = Date(timeIntervalSince1970: 1_793_491_200)

    static var configuration: SigstoreVerifierConfiguration {
        var configuration = SigstoreVerifierConfiguration()
        let now = pinnedNow
        configuration.clock = { now }
        return configuration
    }

    static var identity: SigstoreVerificationPolicy.Signer {
        .certificateIdentities([CertificateIdentity(
            issuer: .exact(ConformanceCase.defaultIssuer), subjectAlternativeName: .exact(ConformanceCase.defaultIdentity))])
    }

    static func verify(
        _ bundle: SigstoreBundle, root: TrustedRoot, testCase: ConformanceCase = v03,
        configuration: SigstoreVerifierConfiguration = configuration, signer: SigstoreVerificationPolicy.Signer = identity
    ) throws -> SigstoreVerificationResult {
        let artifact = SigstoreArtifact.bytes([UInt8](try Data(contentsOf: testCase.artifactURL)))
        return SigstoreVerifier(trustedRoot: root, configuration: configuration)
            .verify(bundle, policy: SigstoreVerificationPolicy(signer: signer, artifact: artifact))
    }

    /// An ECDSA P-384 key pair made by OpenSSL, signing with SHA-384.
    final class P384Signer: Sendable {
        let directory: TemporaryDirectory
        let publicKeyDER: [UInt8]

        init() throws {
            directory = TemporaryDirectory()
            let key = directory.path + "/p384.key"
            try Self.openssl(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", key])
            try Self.openssl(["pkey", "-in", key, "-pubout", "-outform", "DER", "-out", directory.path + "/p384.der"])
            publicKeyDER = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory.path + "/p384.der")))
        }

        func sign(_ message: [UInt8], hash: String = "sha384") throws -> [UInt8] {
            let input = directory.path + "/message", output = directory.path + "/signature"
            try Data(message).write(to: URL(fileURLWithPath: input))
            try Self.openssl(["dgst", "-\(hash)", "-sign", directory.path + "/p384.key", "-out", output, input])
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
        }

        static func openssl(_ arguments: [String]) throws {
            let result = try TestProcess.run("openssl", arguments)
            guard result.status == 0 else { throw TestProcessError(message: "openssl \(arguments.joined(separator: " ")): \(result.stderr)") }
        }
    }

    /// The production trusted root with the log `logID` keyed by `keyDER` under `keyDetails`.
    static func productionRoot(replacingLog logID: [UInt8], keyDER: [UInt8], keyDetails: String) throws -> TrustedRoot {
        var document = try JSONSerialization.jsonObject(with: Data(TrustedRoot.productionJSON.utf8)) as! [String: Any]
        var logs = document["tlogs"] as! [[String: Any]]
        let index = try #require(logs.firstIndex { ($0["logId"] as? [String: Any])?["keyId"] as? String == base64(logID) })
        var key = logs[index]["publicKey"] as! [String: Any]
        key["rawBytes"] = base64(keyDER)
        key["keyDetails"] = keyDetails
        logs[index]["publicKey"] = key
        document["tlogs"] = logs
        return try TrustedRoot(json: [UInt8](JSONSerialization.data(withJSONObject: document)))
    }

    /// `note` with its signature lines replaced by one by `signer` (C2SP signed-note: key hash
    /// then signature, base64), keeping the signer name.
    static func resign(checkpoint note: String, keyHash: [UInt8], with signer: P384Signer) throws -> String {
        let parsed = try #require(SignedNote(note))
        let signature = try signer.sign(Array(parsed.text.utf8))
        return parsed.text + "\n\u{2014} \(parsed.signatures[0].name) " + base64(keyHash + signature) + "\n"
    }

    @Test("a P-384 log key's SET and checkpoint are checked with SHA-384, as its key details say")
    func p384LogKey() throws {
        let signer = try P384Signer()
        var bundle = try SigstoreBundle(contentsOf: Self.v03.bundleURL)
        var entry = bundle.transparencyLogEntries[0]
        entry.inclusionPromise = try signer.sign(entry.signedEntryTimestampPayload)
        entry.inclusionProof!.checkpoint = try Self.resign(
            checkpoint: entry.inclusionProof!.checkpoint, keyHash: Array(entry.logID.prefix(4)), with: signer)
        bundle.transparencyLogEntries = [entry]

        let root = try Self.productionRoot(replacingLog: entry.logID, keyDER: signer.publicKeyDER, keyDetails: "PKIX_ECDSA_P384_SHA_384")
        let result = try Self.verify(bundle, root: root)
        #expect(result.isVerified, "\(result)")

        // Details that do not describe the key keep the log out of the root, saying why.
        let wrong = try Self.productionRoot(replacingLog: entry.logID, keyDER: signer.publicKeyDER, keyDetails: "PKIX_ECDSA_P256_SHA_256")
        #expect(wrong.transparencyLog(id: entry.logID) == nil)
        #expect(wrong.skippedEntries.contains { $0.contains("keyDetails PKIX_ECDSA_P256_SHA_256 does not describe the key, which is ecdsa-p384") })

        // A SET made with SHA-256 by the same key is not what the key details promise.
        var sha256Entry = entry
        sha256Entry.inclusionPromise = try signer.sign(entry.signedEntryTimestampPayload, hash: "sha256")
        bundle.transparencyLogEntries = [sha256Entry]
        let refused = try Self.verify(bundle, root: root)
        #expect(!refused.isVerified)
        #expect(refused.failure?.description.contains("does not verify with the key of https://rekor.sigstore.dev (sha384)") == true, "\(refused)")
    }

    @Test("a DSSE envelope signed by a P-384 key with SHA-384 verifies")
    func p384DSSE() throws {
        let signer = try P384Signer()
        let original = try SigstoreBundle(contentsOf: Self.dsse.bundleURL)
        guard case .dsseEnvelope(var envelope) = original.content else {
            Issue.record("the vector holds a DSSE envelope")
            return
        }
        envelope.signatures = [DSSEEnvelope.Signature(keyID: nil, signature: try signer.sign(envelope.preAuthenticationEncoding))]
        // A managed key, offline: no log entry or timestamp is asked for, only the signature.
        let bundle = SigstoreBundle(version: .v0_3, verificationMaterial: .publicKey(hint: nil), transparencyLogEntries: [], content: .dsseEnvelope(envelope))
        var configuration = Self.configuration
        configuration.transparencyLogThreshold = 0
        configuration.timestampThreshold = 0
        let key = try PublicKey(der: signer.publicKeyDER)
        let result = try Self.verify(bundle, root: TrustedRoot.production(), testCase: Self.dsse, configuration: configuration, signer: .publicKey(key))
        #expect(result.isVerified, "\(result)")

        var tampered = envelope
        tampered.payload[tampered.payload.count - 2] ^= 0x01
        let refused = try Self.verify(
            SigstoreBundle(version: .v0_3, verificationMaterial: .publicKey(hint: nil), transparencyLogEntries: [], content: .dsseEnvelope(tampered)),
            root: TrustedRoot.production(), testCase: Self.dsse, configuration: configuration, signer: .publicKey(key))
        #expect(refused.failure?.step == .signature, "\(refused)")
    }

    @Test("a v0.2 bundle whose chain also carries the Fulcio root is read and verifies")
    func chainWithRoot() throws {
        var document = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.v02.bundleURL)) as! [String: Any]
        var material = document["verificationMaterial"] as! [String: Any]
        var chain = material["x509CertificateChain"] as! [String: Any]
        let root = try TrustedRoot.production()
        let fulcio = try #require(root.certificateAuthorities.first { $0.uri.contains("fulcio.sigstore.dev") })
        let certificates = (chain["certificates"] as! [[String: Any]])
            + fulcio.certificates.map { ["rawBytes": base64($0.derEncoded)] }
        #expect(fulcio.certificates.last.map { $0.isSelfSigned } == true)
        chain["certificates"] = certificates
        material["x509CertificateChain"] = chain
        document["verificationMaterial"] = material
        let bundle = try SigstoreBundle(json: [UInt8](JSONSerialization.data(withJSONObject: document)))
        #expect(bundle.additionalCertificates.count == fulcio.certificates.count)
        let result = try Self.verify(bundle, root: root, testCase: Self.v02)
        #expect(result.isVerified, "\(result)")
    }

    @Test("an entry from a log the trusted root does not name is skipped; each log counts once; a repeated entry is refused")
    func entriesFromUnknownLogs() throws {
        let root = try TrustedRoot.production()
        var bundle = try SigstoreBundle(contentsOf: Self.v03.bundleURL)
        let entry = bundle.transparencyLogEntries[0]
        var foreign = entry
        foreign.logID = DigestAlgorithm.sha256.hash(Array("a log nobody trusts".utf8))

        bundle.transparencyLogEntries = [foreign, entry]
        let skipped = try Self.verify(bundle, root: root)
        #expect(skipped.isVerified, "\(skipped)")
        if case .passed(let detail) = skipped.steps.first?.outcome {
            #expect(detail.contains("skipped: entry \(entry.logIndex) is from log"), "\(detail)")
        } else {
            Issue.record("the transparency log step passes: \(skipped)")
        }

        // Two entries, one trusted log: a threshold of two is not met.
        var two = Self.configuration
        two.transparencyLogThreshold = 2
        let oneLog = try Self.verify(bundle, root: root, configuration: two)
        #expect(oneLog.failure?.step == .transparencyLog)
        #expect(oneLog.failure?.description.contains("1 entries from distinct trusted logs verified, 2 required") == true, "\(oneLog)")

        bundle.transparencyLogEntries = [entry, entry]
        let repeated = try Self.verify(bundle, root: root, configuration: two)
        #expect(repeated.failure?.description.contains("appears twice") == true, "\(repeated)")

        bundle.transparencyLogEntries = [foreign]
        let none = try Self.verify(bundle, root: root)
        #expect(none.failure?.step == .transparencyLog)
        #expect(none.failure?.description.contains("which the trusted root does not name") == true, "\(none)")
    }

    @Test("a malformed SCT is skipped and the well-formed one beside it is read")
    func malformedSCT() async throws {
        // The real SCT list of the vector's Fulcio certificate, plus one truncated SCT, in a
        // certificate OpenSSL makes for the test.
        let leaf = try #require(try SigstoreBundle(contentsOf: Self.v03.bundleURL).certificate)
        let real = try SignedCertificateTimestamp.embedded(in: leaf)
        #expect(real.count == 1)
        let value = try #require(leaf.extensionValue(oid: SignedCertificateTimestamp.embeddedListOID))
        // OCTET STRING (short or long form) around the TLS list: uint16 length, then the SCTs.
        let headerLength = value[1] < 0x80 ? 2 : 2 + Int(value[1] & 0x7f)
        let tlsList = Array(value[headerLength...])
        let entries = Array(tlsList[2...])
        let malformed: [UInt8] = [0x00, 0x05, 0x00, 0x01, 0x02, 0x03, 0x04]  // v1, then 4 bytes of a 32-byte log ID
        let body = entries + malformed
        let list = [UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
        let octets = [0x04, 0x82, UInt8(list.count >> 8), UInt8(list.count & 0xff)] + list

        let directory = TemporaryDirectory()
        let certificatePath = directory.path + "/leaf.pem"
        try await offThePool {
            try P384Signer.openssl([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", directory.path + "/leaf.key",
                "-subj", "/CN=sct-test", "-days", "1", "-out", certificatePath,
                "-addext", "\(SignedCertificateTimestamp.embeddedListOID)=DER:" + Hex.encode(octets),
            ])
        }
        let pem = try String(contentsOfFile: certificatePath, encoding: .utf8)
        let der = [UInt8](try #require(Data(base64Encoded: pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined())))
        let certificate = try Certificate(derEncoded: der)
        let read = try SignedCertificateTimestamp.embedded(in: certificate)
        #expect(read == real)
    }

    /// A certificate is validated at a verified signing time; a configuration that asks for no
    /// log entry and no timestamp leaves none, and the chain is then refused, not passed unchecked.
    @Test("a certificate with no verified signing time is refused")
    func certificateWithoutSigningTime() throws {
        var bundle = try SigstoreBundle(contentsOf: Self.v03.bundleURL)
        bundle.transparencyLogEntries = []
        var configuration = Self.configuration
        configuration.transparencyLogThreshold = 0
        configuration.timestampThreshold = 0
        let result = try Self.verify(bundle, root: try TrustedRoot.production(), configuration: configuration)
        #expect(!result.isVerified)
        #expect(result.failure?.step == .certificateChain, "\(result)")
        #expect(result.failure?.description.contains("no verified signing time") == true, "\(result)")
    }
}

/// Standard base64 (RFC 4648 section 4), as the bundle and trusted root JSON hold bytes.
private func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
