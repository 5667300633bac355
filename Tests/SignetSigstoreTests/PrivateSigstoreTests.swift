import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import Testing

/// Bundles from a private Sigstore the test makes (`Tests/SigstoreFixture/private_sigstore.py`:
/// a transparency log key of its own in a custom trusted root, a managed signing key), whose log
/// entries always match what the bundle carries, each broken in exactly one place. The real
/// vectors cannot do this: a tampered signature in them no longer matches its log entry and is
/// refused at the entry-body check, so no real vector ever reaches the signature step.
@Suite("A private Sigstore: each check reached and refusing on its own")
struct PrivateSigstoreTests {
    /// After the fixture's integrated time (2026-01-01).
    static let now = Date(timeIntervalSince1970: 1_780_000_000)

    /// Makes the fixture in a fresh directory.
    static func fixture() async throws -> TemporaryDirectory {
        try await PrivateSigstoreFixture.make()
    }

    /// The first failed step and the failure, or `verified`.
    static func verify(_ name: String, in fixture: TemporaryDirectory) throws -> (step: String, reason: String) {
        let root = try TrustedRoot(contentsOf: fixture.file("trusted_root.json"))
        let bundle = try SigstoreBundle(contentsOf: fixture.file("\(name).json"))
        let key = try PublicKey(pem: try String(contentsOf: fixture.file("key.pub"), encoding: .utf8))
        let artifact = [UInt8](try Data(contentsOf: fixture.file("artifact")))
        var configuration = SigstoreVerifierConfiguration()
        configuration.clock = { now }
        let result = SigstoreVerifier(trustedRoot: root, configuration: configuration)
            .verify(bundle, policy: SigstoreVerificationPolicy(signer: .publicKey(key), artifact: .bytes(artifact)))
        guard let failure = result.failure else { return ("verified", "") }
        let failed = result.steps.first { if case .failed = $0.outcome { true } else { false } }
        return (failed?.kind.rawValue ?? failure.step.rawValue, failure.description)
    }

    @Test func eachBrokenPlaceIsRefusedAtItsStep() async throws {
        let fixture = try await Self.fixture()
        #expect(try Self.verify("valid", in: fixture).step == "verified", "the unbroken bundle verifies")
        let expected: [(String, String, String)] = [
            ("signature-over-other-bytes", "signature", "the message signature does not verify"),
            ("signature-by-another-key", "signature", "the message signature does not verify"),
            ("set-by-another-key", "tlog", "signed entry timestamp"),
            ("integrated-time-altered", "tlog", "signed entry timestamp"),
        ]
        for (name, step, reason) in expected {
            let refusal = try Self.verify(name, in: fixture)
            #expect(refusal.step == step, "\(name): refused at \(refusal.step): \(refusal.reason)")
            #expect(refusal.reason.contains(reason), "\(name): \(refusal.reason)")
        }
    }

    /// The identity every keyless case is checked against: the exact issuer and subject.
    static let identity = CertificateIdentity(
        issuer: .exact("https://issuer.signet.test"), subjectAlternativeName: .exact("signer@signet.test"))

    /// The verifier for keyless cases: the fixture's log, CA, CT log and TSA, with the secure
    /// defaults (one log entry, one verified time, `signedCertificateTimestampThreshold` SCTs).
    static func keylessVerifier(_ fixture: TemporaryDirectory, signedCertificateTimestampThreshold: Int = 1) throws -> SigstoreVerifier {
        var configuration = SigstoreVerifierConfiguration()
        configuration.clock = { now }
        configuration.signedCertificateTimestampThreshold = signedCertificateTimestampThreshold
        return SigstoreVerifier(trustedRoot: try TrustedRoot(contentsOf: fixture.file("trusted_root.json")), configuration: configuration)
    }

    /// The first failed step and the failure of a verification, or `verified`.
    static func outcome(_ result: SigstoreVerificationResult) -> (step: String, reason: String) {
        guard let failure = result.failure else { return ("verified", "") }
        let failed = result.steps.first { if case .failed = $0.outcome { true } else { false } }
        return (failed?.kind.rawValue ?? failure.step.rawValue, failure.description)
    }

    /// Keyless bundles from the fixture's Fulcio-like CA: each broken certificate or identity is
    /// refused at its own step (the log entry matches what each bundle carries).
    @Test func keylessCertificatesAreRefusedAtTheirStep() async throws {
        let fixture = try await Self.fixture()
        let verifier = try Self.keylessVerifier(fixture)
        let artifact = [UInt8](try Data(contentsOf: fixture.file("artifact")))
        func verify(_ name: String) throws -> (step: String, reason: String) {
            Self.outcome(verifier.verify(
                try SigstoreBundle(contentsOf: fixture.file("\(name).json")),
                policy: SigstoreVerificationPolicy(signer: .certificateIdentities([Self.identity]), artifact: .bytes(artifact))))
        }
        let valid = try verify("keyless-valid")
        #expect(valid.step == "verified", "\(valid)")
        // The bundle's own chain is trusted for nothing: a foreign chain neither helps nor harms.
        let swapped = try verify("keyless-swapped-chain")
        #expect(swapped.step == "verified", "\(swapped)")
        let expected: [(String, String, String)] = [
            ("keyless-foreign-ca", "chain", "certificate path invalid at 2026-01-01T00:00:00Z: certificate signature failure (depth 0)"),
            ("keyless-foreign-ca-with-its-chain", "chain", "certificate path invalid at 2026-01-01T00:00:00Z: certificate signature failure (depth 0)"),
            ("keyless-expired-at-signing", "chain", "certificate path invalid at 2026-01-01T00:00:00Z: certificate has expired (depth 0)"),
            ("keyless-wrong-issuer", "identity", "https://other-issuer.signet.test"),
        ]
        for (name, step, reason) in expected {
            let refusal = try verify(name)
            #expect(refusal.step == step, "\(name): refused at \(refusal.step): \(refusal.reason)")
            #expect(refusal.reason.contains(reason), "\(name): \(refusal.reason)")
        }
    }

    /// Bundle version rules (sigstore_bundle.proto): each refused when the bundle is read, naming
    /// the rule.
    @Test func bundleVersionRulesAreRefusedWhenRead() async throws {
        let fixture = try await Self.fixture()
        let expected = [
            "rule-v0.1-without-promise": "v0.1 bundles need an inclusion promise in every tlog entry",
            "rule-v0.3-with-chain": "v0.3 bundles carry a single certificate, not a chain",
            "rule-both-contents": "a bundle holds a messageSignature or a dsseEnvelope, not both",
        ]
        for (name, rule) in expected.sorted(by: { $0.key < $1.key }) {
            do {
                _ = try SigstoreBundle(contentsOf: fixture.file("\(name).json"))
                Issue.record("\(name) must be refused")
            } catch {
                #expect(error.description == "bundle breaks its version's rules: \(rule)", "\(name): \(error)")
            }
        }
    }

    /// A cosign keyless `.sig` layer's annotations (signature, certificate, chain, Rekor bundle),
    /// each tampered with in one place, read as cosign writes them.
    @Test func keylessSigAnnotationsTamperedWithAreRefusedAtTheirStep() async throws {
        let fixture = try await Self.fixture()
        let verifier = try Self.keylessVerifier(fixture)
        func verify(_ layer: String) throws -> (step: String, reason: String) {
            let directory = fixture.file("keyless-sig/\(layer)")
            func text(_ name: String) -> String? { try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) }
            let bundle = try SigstoreBundle(
                cosignSignature: text("signature")!, certificatePEM: text("certificate")!, chainPEM: text("chain"), rekorBundleJSON: text("bundle"))
            let payload = [UInt8](try Data(contentsOf: directory.appendingPathComponent("payload")))
            return Self.outcome(verifier.verify(
                bundle, policy: SigstoreVerificationPolicy(signer: .certificateIdentities([Self.identity]), artifact: .bytes(payload))))
        }
        let valid = try verify("valid")
        #expect(valid.step == "verified", "\(valid)")
        let swapped = try verify("chain-swapped")
        #expect(swapped.step == "verified", "a chain annotation is trusted for nothing: \(swapped)")
        let expected: [(String, String, String)] = [
            ("bundle-removed", "tlog", "the bundle has no transparency log entries"),
            ("set-altered", "tlog", "signed entry timestamp of entry 7 does not verify"),
            ("certificate-swapped", "tlog", "the logged key or certificate is not the bundle's"),
        ]
        for (layer, step, reason) in expected {
            let refusal = try verify(layer)
            #expect(refusal.step == step, "\(layer): refused at \(refusal.step): \(refusal.reason)")
            #expect(refusal.reason.contains(reason), "\(layer): \(refusal.reason)")
        }
    }

    /// The same through `signet verify-bundle`, as a user runs it: exit 0 and 1, with the step.
    @Test func theCommandLineSaysWhichStepRefused() async throws {
        let fixture = try await Self.fixture()
        func run(_ name: String) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await TestProcess.run(TestPaths.signetBinary.path, [
                "verify-bundle", "--bundle", fixture.file("\(name).json").path, "--key", fixture.file("key.pub").path,
                "--trusted-root", fixture.file("trusted_root.json").path, fixture.file("artifact").path,
            ])
        }
        let valid = try await run("valid")
        #expect(valid.status == 0, "\(valid.stdout)\(valid.stderr)")
        let forged = try await run("signature-over-other-bytes")
        #expect(forged.status == 1, "\(forged.stdout)\(forged.stderr)")
        #expect((forged.stdout + forged.stderr).contains("signature: FAILED (signature: the message signature does not verify"))
    }
}
