import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `signet verify IMAGE --attestation TYPE --key FILE [--condition ...]`, the built binary
/// against the local registry: each attestation verified is printed with its subject, signer,
/// the fields the conditions read and each condition's outcome; the exit status is 1 when a
/// requirement is not met, 2 for a bad flag.
@Suite("signet verify --attestation", .serialized)
struct AttestationCommandTests {
    static let runner = AttestationVerifierTests.runner

    @Test func printsEachAttestationItsSignerAndEachConditionsOutcome() async throws {
        let setup = try await AttestationVerifierTests.Setup()
        let good = try await setup.image("attc/good:v1") { digest in
            [try await TestAttestation.envelope(
                TestAttestation.statement(for: digest, predicateType: TestAttestation.provenanceV1, predicate: TestAttestation.provenance(builder: Self.runner)),
                key: setup.key)]
        }
        let bare = try await setup.image("attc/bare:v1") { _ in [] }
        let host = setup.fixture.registry.host
        let binary = TestPaths.signetBinary.path
        func verify(_ image: String, _ flags: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await offThePool { try TestProcess.run(binary, ["verify", image, "--allow-insecure-registry", host] + flags) }
        }
        let builder = "{path: runDetails.builder.id, operator: equals, value: \(Self.runner)}"
        let ref = #"{"path": "buildDefinition.externalParameters.workflow.ref", "operator": "matches", "value": "refs/tags/v.*"}"#
        let flags = ["--attestation", "slsaprovenance1", "--key", setup.key.publicKeyFile]

        let met = try await verify(good.description, flags + ["--condition", builder])
        #expect(met.status == 0, "\(met.stdout)\(met.stderr)")
        #expect(met.stdout.hasPrefix("VERIFIED: \(good)"), "\(met.stdout)")
        #expect(met.stdout.contains("attestation slsaprovenance1 (https://slsa.dev/provenance/v1): \(good.name):sha256-"), "\(met.stdout)")
        #expect(met.stdout.contains("  statement: https://in-toto.io/Statement/v1, subject sha256:"), "\(met.stdout)")
        #expect(met.stdout.contains("  signed by: publicKeys[0] (file \(setup.key.publicKeyFile))"), "\(met.stdout)")
        #expect(met.stdout.contains("  field runDetails.builder.id: \(Self.runner)"), "\(met.stdout)")
        #expect(met.stdout.contains("  [met] runDetails.builder.id equals \(Self.runner)"), "\(met.stdout)")
        // No bundle referrer beside the .att image is not a failed step.
        #expect(!met.stdout.contains("[FAIL]"), "\(met.stdout)")

        // A second condition (JSON) that the provenance does not meet: exit 1, both outcomes shown.
        let unmet = try await verify(good.description, flags + ["--condition", builder, "--condition", ref])
        #expect(unmet.status == 1, "\(unmet.stdout)\(unmet.stderr)")
        #expect(unmet.stdout.hasPrefix("NOT VERIFIED: \(good)"), "\(unmet.stdout)")
        #expect(unmet.stdout.contains("  [met] runDetails.builder.id equals \(Self.runner)"), "\(unmet.stdout)")
        #expect(unmet.stdout.contains("  [NOT MET] buildDefinition.externalParameters.workflow.ref matches refs/tags/v.*: "
            + "buildDefinition.externalParameters.workflow.ref is refs/heads/main"), "\(unmet.stdout)")

        // No attestation at all: exit 1 naming the type.
        let none = try await verify(bare.description, flags)
        #expect(none.status == 1, "\(none.stdout)\(none.stderr)")
        #expect(none.stdout.contains("reason: no attestation of type https://slsa.dev/provenance/v1 signed by"), "\(none.stdout)")
        #expect(none.stdout.contains("attestation slsaprovenance1 (https://slsa.dev/provenance/v1): none verified, signed by publicKeys[0]"), "\(none.stdout)")

        // The keyless flags make a keyless signer: a key-signed attestation does not count for it.
        let keyless = try await verify(good.description, [
            "--attestation", "slsaprovenance1", "--certificate-identity", "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main",
            "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com",
        ])
        #expect(keyless.status == 1, "\(keyless.stdout)\(keyless.stderr)")
        #expect(keyless.stdout.contains("the layer has no dev.sigstore.cosign/certificate annotation"), "\(keyless.stdout)")
        #expect(keyless.stdout.contains("none verified, signed by {"), "\(keyless.stdout)")

        // Bad flags: exit 2 with the reason.
        let badOperator = try await verify(good.description, flags + ["--condition", "{path: a, operator: like, value: b}"])
        #expect(badOperator.status == 2, "\(badOperator.stdout)\(badOperator.stderr)")
        #expect(badOperator.stderr.contains("operator"), "\(badOperator.stderr)")
        let twoTypes = try await verify(good.description, ["--attestation", "slsaprovenance1", "--attestation", "vuln", "--key", setup.key.publicKeyFile, "--condition", builder])
        #expect(twoTypes.status == 2)
        #expect(twoTypes.stderr.contains("--condition goes with exactly one --attestation"), "\(twoTypes.stderr)")
        await setup.fixture.stop()
    }
}
