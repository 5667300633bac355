import Foundation
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// Notation signatures from the vectors, pushed to a real registry (Debian's docker-registry,
/// which has no referrers API, so discovery goes through the `sha256-<hex>` tag index), and
/// verified through the engine with policies compiled by the loader, at a pinned time.
@Suite("Notation verification", .serialized)
struct NotationVerifierTests {
    final class Fixture: @unchecked Sendable {
        let registry: RegistryFixture
        let client: RegistryClient
        let engine: VerificationEngine

        init() async throws {
            registry = try await offThePool { try RegistryFixture() }
            client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
            engine = VerificationEngine(registry: client, verifiers: [NotationSignatureVerifier(registry: client, clock: .fixed(NotationLayouts.pinnedTime))])
            for layout in ["e2e", "e2e-valid-signature", "e2e-valid-multiple-signatures", "e2e-invalid-signature", "e2e-expired-signature", "e2e-with-expired-cert"] {
                try await NotationLayouts.push(layout, to: registry, client: client)
            }
        }

        func verify(_ repository: String, policy trustPolicy: String, certificate: String = "e2e.crt", scope: String? = nil) async throws -> VerificationResult {
            var document = try NotationLayouts.trustPolicy(trustPolicy)
            if let scope { document = document.replacingOccurrences(of: "localhost:5000/test-repo", with: scope) }
            let policy = try NotationLayouts.compile(NotationLayouts.policyYAML(
                glob: "\(registry.host)/**", trustPolicy: document, certificate: NotationLayouts.certificateFile(certificate)))
            let image = try ImageReference(parsing: "\(registry.host)/\(repository):v1")
            return try await engine.verify(image: image, authority: policy.authorities[0], policy: policy.name, revision: UUID().uuidString, deadline: deadline())
        }

        func stop() async {
            let registry = self.registry
            _ = try? await offThePool { registry.stop() }
        }
    }

    @Test func vectorOutcomesThroughTheRegistry() async throws {
        let fixture = try await Fixture()

        let valid = try await fixture.verify("e2e-valid-signature", policy: "trustpolicy.json")
        #expect(valid.passed, "\(valid.reason)")
        #expect(valid.format == .notation)
        #expect(valid.steps.contains { $0.name == "signatures" && $0.detail.contains("tag index") })
        #expect(valid.signers.first?.identity?.contains("CN=e2e") == true)
        #expect(valid.signers.first?.certificateChain?.first?.contains("CN=e2e") == true, "the path starts at the signing certificate")

        let multiple = try await fixture.verify("e2e-valid-multiple-signatures", policy: "trustpolicy.json")
        #expect(multiple.passed, "\(multiple.reason)")

        let untrusted = try await fixture.verify("e2e-valid-signature", policy: "trustpolicy.json", certificate: "new_e2e.crt")
        #expect(!untrusted.passed)
        #expect(untrusted.reason.contains("authenticity validation failed"), "\(untrusted.reason)")

        let invalid = try await fixture.verify("e2e-invalid-signature", policy: "trustpolicy.json")
        #expect(invalid.reason.contains("integrity validation failed"), "\(invalid.reason)")

        let expired = try await fixture.verify("e2e-expired-signature", policy: "trustpolicy.json")
        #expect(expired.reason.contains("expiry validation failed: digital signature has expired"), "\(expired.reason)")
        let permissive = try await fixture.verify("e2e-expired-signature", policy: "permissive_trustpolicy.json")
        #expect(permissive.passed, "\(permissive.reason)")
        #expect(permissive.reason.contains("expiry was set to \"log\""))

        let expiredCertificate = try await fixture.verify("e2e-with-expired-cert", policy: "trustpolicy.json", certificate: "expired_e2e.crt")
        #expect(expiredCertificate.reason.contains("authenticTimestamp validation failed"), "\(expiredCertificate.reason)")

        let unsigned = try await fixture.verify("e2e", policy: "trustpolicy.json")
        #expect(!unsigned.passed)
        #expect(unsigned.failure == .noSignatures)

        let skipped = try await fixture.verify("e2e-invalid-signature", policy: "skip_trustpolicy.json")
        #expect(skipped.passed)
        #expect(skipped.reason.contains("configured to skip signature verification"))

        // A statement scoped to another repository and no global one: nothing applies.
        let elsewhere = try await fixture.verify("e2e-valid-signature", policy: "registry_scope_trustpolicy.json", scope: "\(fixture.registry.host)/other")
        #expect(!elsewhere.passed)
        #expect(elsewhere.reason.contains("no applicable trust policy statement"), "\(elsewhere.reason)")
        // Scoped to this repository exactly: it applies.
        let scoped = try await fixture.verify("e2e-valid-signature", policy: "registry_scope_trustpolicy.json", scope: "\(fixture.registry.host)/e2e-valid-signature")
        #expect(scoped.passed, "\(scoped.reason)")

        await fixture.stop()
    }
}
