import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `signet serve` with a policy requiring SLSA provenance from one builder: /validate admits the
/// image whose provenance that builder signed, and denies, naming the attestation type or the
/// failed condition, one without provenance and one whose provenance names another builder.
@Suite("signet serve requires attestations", .serialized)
struct AttestationServeTests {
    static let runner = "https://github.com/actions/runner"

    static func policy(glob: String, keyFile: String) -> String {
        """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: require-provenance
        spec:
          images:
            - glob: "\(glob)"
          authorities:
            - name: built-by-ci
              attestations:
                require:
                  - name: provenance
                    predicateType: slsaprovenance1
                    key:
                      publicKeys:
                        - file: \(keyFile)
                    conditions:
                      - path: runDetails.builder.id
                        operator: equals
                        value: \(runner)
        """
    }

    static func reviewFile(in directory: TemporaryDirectory, named name: String, image: String) throws -> String {
        try ReviewFiles.pod(in: directory, named: name, images: [image])
    }

    @Test func provenanceRequiredThroughValidate() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let images = TestRegistryImages(client: client)
        let key = try await TestSigningKey.generate(.ecP256)

        func push(_ path: String, builder: String?) async throws -> ImageReference {
            let image = try ImageReference(parsing: "\(registry.host)/team/\(path):v1")
            let digest = try await images.pushImage(image)
            if let builder {
                let statement = TestAttestation.statement(
                    for: digest, predicateType: TestAttestation.provenanceV1, predicate: TestAttestation.provenance(builder: builder))
                try await TestAttestation.push([try await TestAttestation.envelope(statement, key: key)], for: digest, in: image, client: client)
            }
            return image
        }
        let built = try await push("built", builder: Self.runner)
        let bare = try await push("bare", builder: nil)
        let evil = try await push("evil", builder: "https://evil.example")

        let policies = TemporaryDirectory(prefix: "signet-serve-policies")
        try policies.write("provenance.yaml", Self.policy(glob: "\(registry.host)/team/**", keyFile: key.publicKeyFile))
        let server = try await offThePool {
            try SignetServerFixture(policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host])
        }
        let reviews = TemporaryDirectory(prefix: "signet-serve-reviews")
        func answer(_ name: String, _ image: ImageReference) async throws -> AdmissionAnswer {
            let file = try Self.reviewFile(in: reviews, named: name, image: image.description)
            return try AdmissionAnswer(decoding: try await offThePool { try server.review(file) }.body)
        }
        let allowed = try await answer("built", built)
        #expect(allowed.allowed, "\(allowed.message)")
        let lacking = try await answer("bare", bare)
        #expect(!lacking.allowed)
        #expect(lacking.message.contains(bare.description) && lacking.message.contains("require-provenance"), "\(lacking.message)")
        #expect(lacking.message.contains("no attestation of type https://slsa.dev/provenance/v1 signed by"), "\(lacking.message)")
        let other = try await answer("evil", evil)
        #expect(!other.allowed)
        #expect(other.message.contains("provenance runDetails.builder.id is https://evil.example, expected \(Self.runner)"), "\(other.message)")
        _ = try? await offThePool {
            server.stop()
            registry.stop()
        }
    }
}
