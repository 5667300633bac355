import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `signet serve` admitting pods by Notation signatures: the `e2e-valid-signature` vector image
/// is allowed under a policy trusting `e2e.crt` and denied under one trusting `new_e2e.crt`,
/// the deny naming the image, the policy and the failed check.
@Suite("signet serve verifies Notation signatures", .serialized)
struct NotationServeTests {
    @Test func podAllowedUnderTrustedCertificateAndDeniedUnderAnother() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let trusted = try await NotationLayouts.push("e2e-valid-signature", to: registry, client: client, repository: "trusted/app")
        let untrusted = try await NotationLayouts.push("e2e-valid-signature", to: registry, client: client, repository: "untrusted/app")
        let unsigned = try await NotationLayouts.push("e2e", to: registry, client: client, repository: "trusted/unsigned")

        let document = try NotationLayouts.trustPolicy("trustpolicy.json")
        let policies = TemporaryDirectory(prefix: "signet-notation-policies")
        try policies.write("trusted.yaml", NotationLayouts.policyYAML(
            name: "notation-e2e", glob: "\(registry.host)/trusted/**", trustPolicy: document, certificate: NotationLayouts.certificateFile("e2e.crt")))
        try policies.write("untrusted.yaml", NotationLayouts.policyYAML(
            name: "notation-new-e2e", glob: "\(registry.host)/untrusted/**", trustPolicy: document, certificate: NotationLayouts.certificateFile("new_e2e.crt")))
        let server = try await offThePool {
            try SignetServerFixture(policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host])
        }
        let reviews = TemporaryDirectory(prefix: "signet-notation-reviews")
        func decide(_ name: String, _ image: ImageReference) async throws -> AdmissionAnswer {
            let containers = #"{"name":"app","image":"\#(image.description)"}"#
            let json = """
                {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\(UUID().uuidString.lowercased())",\
                "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
                "namespace":"default","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod",\
                "metadata":{"name":"\(name)","namespace":"default"},"spec":{"containers":[\(containers)]}}}}
                """
            let file = try reviews.write("\(name).json", json).path
            let answer = try await offThePool { try server.review(file) }
            #expect(answer.httpStatus == 200)
            return try AdmissionAnswer(decoding: answer.body)
        }

        let allowed = try await decide("trusted", trusted)
        #expect(allowed.allowed, "\(allowed.message)")

        let denied = try await decide("untrusted", untrusted)
        #expect(!denied.allowed)
        #expect(denied.message.contains("untrusted/app"), "\(denied.message)")
        #expect(denied.message.contains("notation-new-e2e"), "\(denied.message)")
        #expect(denied.message.contains("authenticity validation failed"), "\(denied.message)")

        let none = try await decide("unsigned", unsigned)
        #expect(!none.allowed)
        #expect(none.message.contains("no Notation signatures"), "\(none.message)")

        _ = try? await offThePool { server.stop() }
        _ = try? await offThePool { registry.stop() }
    }
}
