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
        let directory = TemporaryDirectory(prefix: "signet-private-sigstore")
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/SigstoreFixture/private_sigstore.py").path
        let made = try await TestProcess.run("python3", [script, directory.path])
        try #require(made.status == 0, "\(made.stderr)")
        return directory
    }

    /// The first failed step and the failure, or `verified`.
    static func verify(_ name: String, in fixture: TemporaryDirectory) throws -> (step: String, reason: String) {
        let root = try TrustedRoot(contentsOf: fixture.file("trusted_root.json"))
        let bundle = try SigstoreBundle(contentsOf: fixture.file("\(name).json"))
        let key = try PublicKey(pem: try String(contentsOf: fixture.file("key.pub"), encoding: .utf8))
        let artifact = [UInt8](try Data(contentsOf: fixture.file("artifact")))
        var configuration = SigstoreVerifierConfiguration()
        configuration.clock = { now }
        let result = try SigstoreVerifier(trustedRoot: root, configuration: configuration)
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
