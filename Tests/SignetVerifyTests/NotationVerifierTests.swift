import Foundation
import SignetCrypto
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

        init(layouts: [String] = [
            "e2e", "e2e-valid-signature", "e2e-valid-multiple-signatures", "e2e-invalid-signature", "e2e-expired-signature", "e2e-with-expired-cert",
        ]) async throws {
            registry = try await offThePool { try RegistryFixture() }
            client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
            engine = VerificationEngine(registry: client, verifiers: [NotationSignatureVerifier(registry: client, clock: .fixed(NotationLayouts.pinnedTime))])
            for layout in layouts {
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

    /// Whoever may push a referrer of an image must not keep its valid signature from being
    /// examined: signatures listed before it whose manifest cannot be read (more JSON values
    /// than a registry document may hold) or whose envelope blob is larger than its descriptor
    /// says are passed over, and the valid one verifies. Without a valid one, an unreadable
    /// manifest makes the verification an error (it may be the registry's), not a verdict.
    @Test func signaturesThatCannotBeReadDoNotHideAValidOne() async throws {
        let fixture = try await Fixture(layouts: ["e2e-valid-signature"])
        let client = fixture.client
        let repository = try ImageReference(parsing: "\(fixture.registry.host)/e2e-valid-signature")
        let subject: [String: Any] = [
            "mediaType": MediaType.ociManifest, "size": 517,
            "digest": "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9",
        ]
        let valid: [String: Any] = [
            "mediaType": MediaType.ociManifest, "size": 728, "artifactType": MediaType.notarySignature,
            "digest": "sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f",
        ]
        let config: [String: Any] = [
            "mediaType": MediaType.notarySignature, "size": 2,
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        ]
        func push(_ manifest: [String: Any]) async throws -> [String: Any] {
            let bytes = [UInt8](try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys]))
            let digest = "sha256:" + DigestAlgorithm.sha256.hexHash(bytes)
            try await client.pushManifest(bytes, mediaType: MediaType.ociManifest, to: try ImageReference(parsing: "\(repository.name)@\(digest)"), deadline: deadline())
            return ["mediaType": MediaType.ociManifest, "size": bytes.count, "digest": digest, "artifactType": MediaType.notarySignature]
        }
        // 1. A manifest of 120,000 JSON values (60,000 annotations).
        var annotations: [String: String] = [:]
        for index in 0..<60_000 { annotations["a\(index)"] = "" }
        let crowded = try await push([
            "schemaVersion": 2, "mediaType": MediaType.ociManifest, "config": config, "subject": subject, "annotations": annotations,
            "layers": [["mediaType": "application/jose+json", "size": 2070, "digest": "sha256:c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50"]],
        ])
        // 2. An envelope layer whose descriptor says 2,070 bytes and whose blob is 2 MiB.
        let large = [UInt8](repeating: UInt8(ascii: "x"), count: 2 << 20)
        try await client.pushBlob(large, to: repository, deadline: deadline())
        let oversized = try await push([
            "schemaVersion": 2, "mediaType": MediaType.ociManifest, "config": config, "subject": subject,
            "layers": [["mediaType": "application/jose+json", "size": 2070, "digest": "sha256:" + DigestAlgorithm.sha256.hexHash(large)]],
        ])
        func listReferrers(_ manifests: [[String: Any]]) async throws {
            let index: [String: Any] = ["schemaVersion": 2, "mediaType": MediaType.ociIndex, "manifests": manifests]
            let bytes = [UInt8](try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys]))
            try await client.pushManifest(
                bytes, mediaType: MediaType.ociIndex,
                to: try ImageReference(parsing: "\(repository.name):sha256-b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9"), deadline: deadline())
        }
        try await listReferrers([crowded, oversized, valid])
        let passed = try await fixture.verify("e2e-valid-signature", policy: "trustpolicy.json")
        #expect(passed.passed, "\(passed.reason)")
        #expect(passed.steps.filter { $0.name.hasPrefix("signature ") && !$0.passed }.count == 2, "\(passed.steps.map(\.name))")

        // Without the valid one: the oversized envelope alone is a verdict, the unreadable manifest an error.
        try await listReferrers([oversized])
        let refused = try await fixture.verify("e2e-valid-signature", policy: "trustpolicy.json")
        #expect(!refused.passed && refused.failure == .noValidSignature, "\(refused.reason)")
        try await listReferrers([oversized, crowded])
        await #expect(throws: VerificationError.self) { _ = try await fixture.verify("e2e-valid-signature", policy: "trustpolicy.json") }
        await fixture.stop()
    }
}
