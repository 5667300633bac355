import Foundation
import SignetCrypto
import SignetKube
import SignetNotation
import SignetPolicy
import SignetTestSupport
import Testing
@testable import SignetCLI

/// A `notation` authority's trust policy document and trust stores kept in a ConfigMap or a
/// Secret and read through the Kubernetes API (`--key-secrets-source api`), against
/// ``KubernetesAPIServerDouble`` acting as RBAC with the chart's rules (`trustConfigMaps`,
/// `keySecrets`): each object watched alone, its content part of the revision and of the
/// authority's trust, a changed certificate recompiled, a missing ConfigMap, key or forbidden
/// object failing closed with the reason.
@Suite(.serialized)
struct KubernetesNotationTrustTests {
    static let localKeys = TestPaths.vectors.appendingPathComponent("notation/test/e2e/testdata/config/localkeys")
    static let trustPolicyJSON = TestPaths.vectors.appendingPathComponent("notation/test/e2e/testdata/config/trustpolicies/trustpolicy.json")

    static func text(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }

    /// A policy whose notation trust policy and `ca:e2e` store come from `configMap` (keys
    /// `trustpolicy.json` by default and `e2e.crt`).
    static func configMapPolicy(name: String, configMap: String) -> [String: Any] { [
        "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": name],
        "spec": [
            "images": [["glob": "registry.example/\(name)/**"]],
            "authorities": [["name": "notation", "notation": [
                "trustPolicyConfigMapRef": ["namespace": "signet-system", "name": configMap],
                "trustStores": [["name": "ca:e2e", "configMapRef": ["namespace": "signet-system", "name": configMap, "key": "e2e.crt"]]],
            ]]],
        ],
    ] }

    static func configMap(_ name: String, data: [String: String]) -> [String: Any] {
        ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": name, "namespace": "signet-system"], "data": data]
    }

    static func notation(_ set: PolicySet, _ policy: String) -> CompiledNotationAuthority? {
        guard case .notation(let trust)? = set[policy]?.authorities.first?.kind else { return nil }
        return trust
    }

    /// The SHA-256 fingerprints of the certificates of the authority's `ca:e2e` store.
    static func storeFingerprints(_ set: PolicySet, _ policy: String) -> [String]? {
        notation(set, policy)?.trustStores.stores.first { $0.key.description == "ca:e2e" }?.value.map { DigestAlgorithm.sha256.hexHash($0.derEncoded) }
    }

    @Test func trustPolicyAndCertificatesFromAConfigMapAreWatchedAndFailClosed() async throws {
        let trustPolicy = try Self.text(Self.trustPolicyJSON)
        let e2e = try Self.text(Self.localKeys.appendingPathComponent("e2e.crt"))
        let newE2E = try Self.text(Self.localKeys.appendingPathComponent("new_e2e.crt"))
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        // RBAC as the chart grants it with these values: the named ConfigMap and Secret only.
        let rbac = ChartRBAC.helm != nil
        if rbac {
            try server.restrict(to: try ChartRBAC.serviceAccountRules(values: [
                "keySecretsSource=api", "trustConfigMaps={notation-trust}", "keySecrets={notation-secret}",
            ]))
        }
        try server.apply("clusterimagepolicies", Self.configMapPolicy(name: "payments", configMap: "notation-trust"))
        try server.apply("configmaps", Self.configMap("notation-trust", data: ["trustpolicy.json": trustPolicy, "e2e.crt": e2e]))
        try server.apply("configmaps", Self.configMap("unrelated", data: ["trustpolicy.json": trustPolicy, "e2e.crt": e2e]))
        // The same trust from a Secret: the document and the certificate, base64 in `data`.
        try server.apply("clusterimagepolicies", [
            "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": "billing"],
            "spec": [
                "images": [["glob": "registry.example/billing/**"]],
                "authorities": [["name": "notation", "notation": [
                    "trustPolicySecretRef": ["namespace": "signet-system", "name": "notation-secret"],
                    "trustStores": [["name": "ca:e2e", "secretRef": ["namespace": "signet-system", "name": "notation-secret", "key": "ca.crt"]]],
                ]]],
            ],
        ])
        try server.apply("secrets", [
            "apiVersion": "v1", "kind": "Secret", "metadata": ["name": "notation-secret", "namespace": "signet-system"], "type": "Opaque",
            "data": ["trustpolicy.json": Data(trustPolicy.utf8).base64EncodedString(), "ca.crt": Data(e2e.utf8).base64EncodedString()],
        ])
        let source = try KubernetesKeySecretsTests.apiSource(server)
        let task = Task { await source.run() }
        defer { task.cancel() }
        await source.waitUntilLoaded()

        // Loaded only with the ConfigMap and the Secret read: the first set in force has their trust.
        let first = await source.current()
        let trusted = try #require(Self.storeFingerprints(first, "payments"))
        #expect(trusted.count == 1)
        #expect(first["payments"]?.authorities.first?.unresolvedReason == nil)
        #expect(Self.notation(first, "payments")?.trustPolicy.statements.first?.name == "e2e")
        #expect(Self.notation(first, "payments")?.trustPolicySource == "key trustpolicy.json of ConfigMap signet-system/notation-trust")
        #expect(Self.storeFingerprints(first, "billing") == trusted)
        #expect(first["billing"]?.authorities.first?.unresolvedReason == nil)
        let requests = try server.requests()
        #expect(requests.contains { $0.hasPrefix("GET /api/v1/namespaces/signet-system/configmaps?fieldSelector=metadata.name%3Dnotation-trust") })
        #expect(requests.contains { $0.hasPrefix("GET /api/v1/namespaces/signet-system/configmaps?watch=1") && $0.contains("fieldSelector=metadata.name%3Dnotation-trust") })
        #expect(requests.contains { $0.hasPrefix("GET /api/v1/namespaces/signet-system/secrets?fieldSelector=metadata.name%3Dnotation-secret") })
        #expect(!requests.contains { $0.hasPrefix("GET /api/v1/configmaps") }, "ConfigMaps are never listed across the cluster")

        // The certificate changed in the ConfigMap: the new one is the trust, under a new
        // revision and a new authority fingerprint (the cache key), with no edit to the policy.
        try server.apply("configmaps", Self.configMap("notation-trust", data: ["trustpolicy.json": trustPolicy, "e2e.crt": newE2E]))
        try await KubernetesWatchTests.eventually("the new certificate in force") {
            let now = Self.storeFingerprints(await source.current(), "payments")
            return now?.count == 1 && now != trusted
        }
        let rotated = await source.current()
        #expect(rotated.revision != first.revision)
        #expect(rotated["payments"]?.authorities.first?.trustFingerprint != first["payments"]?.authorities.first?.trustFingerprint)
        #expect(rotated["billing"]?.authorities.first?.trustFingerprint == first["billing"]?.authorities.first?.trustFingerprint)

        // The certificate's key removed: the authority fails closed, naming the key and the ConfigMap.
        try server.apply("configmaps", Self.configMap("notation-trust", data: ["trustpolicy.json": trustPolicy]))
        try await KubernetesWatchTests.eventually("the removed key unresolved") {
            await source.current()["payments"]?.authorities.first?.unresolvedReason?.contains("e2e.crt") == true
        }
        let keyless = try #require(await source.current()["payments"]?.authorities.first?.unresolvedReason)
        #expect(keyless.contains(
            "unresolved notation trust material: trustStores[0]: key e2e.crt of ConfigMap signet-system/notation-trust is missing (the ConfigMap has no key e2e.crt)"),
            "\(keyless)")
        #expect(Self.storeFingerprints(await source.current(), "payments") == nil, "the removed certificate must not stay trusted")
        let decision = await PolicyEvaluator(policies: await source.current(), noMatchAction: .allow).evaluate(
            [ImageUse(image: "registry.example/payments/api@sha256:\(String(repeating: "a", count: 64))", container: "api")],
            subject: AdmissionSubject(namespace: "shop", kind: "Pod"), deadline: .now + .seconds(10))
        #expect(!decision.allowed)
        #expect(decision.denials.first?.contains(#"denied by policy "payments", authority "notation": unresolved notation trust material"#) == true,
                "\(decision.denials)")

        // The ConfigMap deleted: the document is missing too; the status says so.
        try server.delete("configmaps", key: "signet-system/notation-trust")
        try await KubernetesWatchTests.eventually("the deleted ConfigMap unresolved") {
            await source.current()["payments"]?.authorities.first?.unresolvedReason?.contains("does not exist") == true
        }
        let deleted = try #require(await source.current()["payments"]?.authorities.first?.unresolvedReason)
        #expect(deleted.contains(
            "trustPolicyConfigMapRef: key trustpolicy.json of ConfigMap signet-system/notation-trust is missing (the ConfigMap does not exist)"),
            "\(deleted)")
        try await KubernetesWatchTests.eventually("status Invalid") {
            let status = try server.object("clusterimagepolicies", key: "payments")?["status"] as? [String: Any]
            return status?["state"] as? String == "Invalid" && (status?["message"] as? String)?.contains("ConfigMap signet-system/notation-trust") == true
        }

        // Back: resolved again, with the trust it now holds.
        try server.apply("configmaps", Self.configMap("notation-trust", data: ["trustpolicy.json": trustPolicy, "e2e.crt": e2e]))
        try await KubernetesWatchTests.eventually("trust back") { Self.storeFingerprints(await source.current(), "payments") == trusted }
        #expect(await source.current()["payments"]?.authorities.first?.unresolvedReason == nil)
        try await KubernetesWatchTests.eventually("status Ready") {
            let status = try server.object("clusterimagepolicies", key: "payments")?["status"] as? [String: Any]
            return status?["state"] as? String == "Ready" && status?["message"] as? String == "in force"
        }

        // The document in the ConfigMap turned to level audit: no edit to the policy, so nothing
        // was warned at admission; the policy stays in force and its status warns that any
        // signature now passes, whoever made it.
        let audit = trustPolicy.replacingOccurrences(of: #""level" : "strict""#, with: #""level" : "audit""#)
        #expect(audit != trustPolicy)
        try server.apply("configmaps", Self.configMap("notation-trust", data: ["trustpolicy.json": audit, "e2e.crt": e2e]))
        try await KubernetesWatchTests.eventually("the audit document in force") {
            Self.notation(await source.current(), "payments")?.trustPolicy.statements.first?.level == .audit
        }
        let warnings = await source.current().notationStatementWarnings
        #expect(warnings.map(\.policy) == ["payments"])
        #expect(warnings.first?.warning.fieldPath == "spec.authorities[0].notation.trustPolicyConfigMapRef")
        #expect(warnings.first?.warning.documentOrigin == "key trustpolicy.json of ConfigMap signet-system/notation-trust")
        try await KubernetesWatchTests.eventually("status Ready with the warning") {
            let status = try server.object("clusterimagepolicies", key: "payments")?["status"] as? [String: Any]
            return status?["state"] as? String == "Ready" && status?["message"] as? String
                == #"in force; warning: authority "notation": trust policy statement "e2e" does not enforce authenticity (level audit): an image of * covered by this policy is admitted with any well-formed Notation signature over its digest, whoever made it; use level strict or permissive to enforce who signed"#
        }
        try server.apply("configmaps", Self.configMap("notation-trust", data: ["trustpolicy.json": trustPolicy, "e2e.crt": e2e]))
        try await KubernetesWatchTests.eventually("status Ready without the warning") {
            let status = try server.object("clusterimagepolicies", key: "payments")?["status"] as? [String: Any]
            return status?["message"] as? String == "in force"
        }

        // A ConfigMap the chart's RBAC does not name: unreadable, so the policy naming it fails
        // closed with the 403, and the others keep their trust.
        guard rbac else { return }
        try server.apply("clusterimagepolicies", Self.configMapPolicy(name: "shipping", configMap: "unrelated"))
        try await KubernetesWatchTests.eventually("the forbidden ConfigMap unresolved") {
            await source.current()["shipping"]?.authorities.first?.unresolvedReason?.contains("cannot read the ConfigMap") == true
        }
        let forbidden = try #require(await source.current()["shipping"]?.authorities.first?.unresolvedReason)
        #expect(forbidden.contains("HTTP 403"), "\(forbidden)")
        #expect(Self.storeFingerprints(await source.current(), "payments") == trusted, "other policies keep their trust")
    }
}
