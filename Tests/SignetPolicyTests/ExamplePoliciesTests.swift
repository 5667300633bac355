import Foundation
import SignetRegistry
import Testing
@testable import SignetPolicy

@Suite("Example policies in policies/")
struct ExamplePoliciesTests {
    /// `policies/` at the package root, found from this file's path.
    static var directory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("policies").path
    }

    @Test func loadAndDecideTheDemo() async throws {
        let set = try PolicyLoader().load(directory: Self.directory)
        #expect(Set(set.policies.map(\.name)).isSuperset(of: ["system-images", "demo-allowed", "deny-untrusted"]))
        let evaluator = PolicyEvaluator(policies: set)
        let subject = AdmissionSubject(namespace: "demo", name: "web", kind: "Pod")
        let allowed = await evaluator.evaluate(
            [ImageUse(image: "ghcr.io/signet-demo/hello:v1", container: "hello"), ImageUse(image: "registry.k8s.io/pause:3.9", container: "pause")],
            subject: subject, deadline: .now + .seconds(600))
        #expect(allowed.allowed)
        let denied = await evaluator.evaluate([ImageUse(image: "nginx", container: "web")], subject: subject, deadline: .now + .seconds(600))
        #expect(!denied.allowed)
        #expect(denied.denials.first?.contains(#"denied by policy "deny-untrusted", authority "block-docker-hub""#) == true)
    }
}
