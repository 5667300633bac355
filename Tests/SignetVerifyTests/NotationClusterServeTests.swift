import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `signet serve --policy-source kubernetes --key-secrets-source api` admitting pods by Notation
/// signatures whose trust policy document and CA certificate live in a ConfigMap, read and
/// watched through ``KubernetesAPIServerDouble`` acting as RBAC with the chart's rules
/// (`trustConfigMaps`): the `e2e-valid-signature` image is allowed while the ConfigMap trusts
/// `e2e.crt`, denied naming the failed check within one reload interval of the ConfigMap trusting
/// `new_e2e.crt` (the cached allow retired), and denied naming the ConfigMap once it is deleted.
@Suite("signet serve reads Notation trust from ConfigMaps", .serialized)
struct NotationClusterServeTests {
    @Test func aConfigMapTrustChangeRetiresTheCachedAllowAndADeletedOneFailsClosed() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let image = try await NotationLayouts.push("e2e-valid-signature", to: registry, client: client, repository: "trusted/app")

        let apiServer = try await KubernetesAPIServerDouble.start()
        defer { apiServer.stop() }
        // Every call signet makes must be one the chart grants with these values: the one ConfigMap, by name.
        if ChartRBAC.helm != nil {
            try apiServer.restrict(to: try ChartRBAC.serviceAccountRules(values: ["keySecretsSource=api", "trustConfigMaps={notation-trust}"]))
        }
        let trustPolicy = try NotationLayouts.trustPolicy("trustpolicy.json")
        func configMap(trusting certificate: String) throws -> [String: Any] {
            ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "notation-trust", "namespace": "signet-system"],
             "data": ["trustpolicy.json": trustPolicy, "ca.crt": try String(contentsOfFile: NotationLayouts.certificateFile(certificate), encoding: .utf8)]]
        }
        try apiServer.apply("configmaps", try configMap(trusting: "e2e.crt"))
        try apiServer.apply("clusterimagepolicies", [
            "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": "notation-configmap"],
            "spec": [
                "images": [["glob": "\(registry.host)/trusted/**"]],
                "authorities": [["name": "notation-e2e", "notation": [
                    "trustPolicyConfigMapRef": ["namespace": "signet-system", "name": "notation-trust"],
                    "trustStores": [["name": "ca:e2e", "configMapRef": ["namespace": "signet-system", "name": "notation-trust", "key": "ca.crt"]]],
                ]]],
            ],
        ])
        let interval = 1
        let served = try await TrustMaterialReloadTests.ServedImage.fromCluster(apiServer: apiServer, registry: registry, image: image, interval: interval)

        let allowed = try await served.decide()
        #expect(allowed.allowed, "\(allowed.message)")
        #expect(try await served.decide().allowed, "the second review is the cached allow")

        // The ConfigMap now trusts new_e2e.crt: the signature made under e2e.crt is no longer
        // trusted; no policy edit, and the cached allow must not outlive one interval.
        try apiServer.apply("configmaps", try configMap(trusting: "new_e2e.crt"))
        let denied = try #require(
            try await served.firstDenial(within: TestBudget.seconds(interval * 60)), "the cached allow must be retired after the ConfigMap changed")
        #expect(denied.message.contains("trusted/app"), "\(denied.message)")
        #expect(denied.message.contains("notation-configmap"), "\(denied.message)")
        #expect(denied.message.contains("authenticity validation failed"), "\(denied.message)")
        #expect(denied.message.contains("ca:e2e"), "\(denied.message)")

        // Deleted: fails closed, naming the ConfigMap and the key the trust policy was read from.
        try apiServer.delete("configmaps", key: "signet-system/notation-trust")
        let answer = try #require(
            try await served.firstAnswer(containing: "unresolved notation trust material", within: TestBudget.seconds(interval * 60)),
            "a deleted ConfigMap must fail closed")
        #expect(!answer.allowed)
        #expect(answer.message.contains(
            "trustPolicyConfigMapRef: key trustpolicy.json of ConfigMap signet-system/notation-trust is missing (the ConfigMap does not exist)"),
            "\(answer.message)")
        #expect(try !apiServer.requests().contains { $0.hasPrefix("GET /api/v1/configmaps") }, "ConfigMaps are never listed across the cluster")
        await served.stop()
        apiServer.stop()
    }
}
