import Foundation
import SignetKube
import SignetPolicy
import SignetSigstore
import SignetTestSupport
import Testing
@testable import SignetCLI

/// `secretRef` public keys read through the Kubernetes API (`--key-secrets-source api`), against
/// ``KubernetesAPIServerDouble`` acting as RBAC with `resourceNames`: each named Secret listed
/// and watched alone, its content part of the policy set's revision, a rotated key recompiled, a
/// removed or unreadable one failing closed.
@Suite(.serialized)
struct KubernetesKeySecretsTests {
    static let alicePEM = TestKeys.unusedP256PublicKeyPEM + "\n"
    static let bobPEM = TestKeys.otherUnusedP256PublicKeyPEM + "\n"

    static func policy(name: String, secret: String) -> [String: Any] { [
        "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": name],
        "spec": [
            "images": [["glob": "ghcr.io/acme/\(name)/**"]],
            "authorities": [["name": "release", "key": ["publicKeys": [["secretRef": ["namespace": "signet-system", "name": secret]]]]]],
        ],
    ] }

    static func secret(_ name: String, _ pem: String) -> [String: Any] { [
        "apiVersion": "v1", "kind": "Secret", "metadata": ["name": name, "namespace": "signet-system"],
        "type": "Opaque", "data": ["cosign.pub": Data(pem.utf8).base64EncodedString()],
    ] }

    static func keys(_ set: PolicySet, _ policy: String) -> [String]? {
        guard case .key(let trust)? = set[policy]?.authorities.first?.kind else { return nil }
        return trust.keys.map(\.key.fingerprint)
    }

    /// A policy source over `server` reading Secrets and ConfigMaps through the API, checking
    /// trust material every 200 ms.
    static func apiSource(_ server: KubernetesAPIServerDouble) throws -> KubernetesPolicySource {
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        return KubernetesPolicySource(
            client: client, exemptions: ExemptionConfiguration(), writeStatus: true, keySecrets: .api,
            trustMaterialInterval: .milliseconds(200), backoff: Backoff(initial: .milliseconds(10), maximum: .milliseconds(50)))
    }

    @Test func namedSecretsAreWatchedAloneAndTheirContentIsTrustMaterial() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.restrictSecrets(to: ["signet-system/release-key"])
        try server.apply("clusterimagepolicies", Self.policy(name: "payments", secret: "release-key"))
        try server.apply("secrets", Self.secret("release-key", Self.alicePEM))
        try server.apply("secrets", Self.secret("unrelated", Self.bobPEM))
        let source = try Self.apiSource(server)
        let task = Task { await source.run() }
        defer { task.cancel() }
        await source.waitUntilLoaded()

        // Loaded only with the Secret read: the first set in force has the key.
        let first = await source.current()
        let alice = try #require(Self.keys(first, "payments")?.first)
        #expect(Self.keys(first, "payments")?.count == 1)
        #expect(first["payments"]?.authorities.first?.unresolvedReason == nil)
        let requests = try server.requests()
        #expect(requests.contains { $0.hasPrefix("GET /api/v1/namespaces/signet-system/secrets?fieldSelector=metadata.name%3Drelease-key") })
        #expect(requests.contains { $0.hasPrefix("GET /api/v1/namespaces/signet-system/secrets?watch=1") && $0.contains("fieldSelector=metadata.name%3Drelease-key") })
        #expect(!requests.contains { $0.hasPrefix("GET /api/v1/secrets") }, "Secrets are never listed across the cluster")

        // Rotated: the new key is in force, under a new revision, with no edit to the policy.
        try server.apply("secrets", Self.secret("release-key", Self.bobPEM))
        try await KubernetesWatchTests.eventually("rotated key in force") {
            let keys = Self.keys(await source.current(), "payments")
            return keys?.count == 1 && keys != [alice]
        }
        #expect(await source.current().revision != first.revision)

        // Removed: the authority fails closed, naming the Secret, and the status says so.
        try server.delete("secrets", key: "signet-system/release-key")
        try await KubernetesWatchTests.eventually("removed key unresolved") {
            await source.current()["payments"]?.authorities.first?.unresolvedReason != nil
        }
        let removed = await source.current()
        #expect(Self.keys(removed, "payments") == [], "the removed key must not stay trusted")
        let reason = try #require(removed["payments"]?.authorities.first?.unresolvedReason)
        #expect(reason.contains("unresolved key: publicKeys[0]: key cosign.pub of Secret signet-system/release-key is missing (the Secret does not exist)"), "\(reason)")
        let decision = await PolicyEvaluator(policies: removed, noMatchAction: .allow).evaluate(
            [ImageUse(image: "ghcr.io/acme/payments/api:1", container: "api")],
            subject: AdmissionSubject(namespace: "shop", kind: "Pod"), deadline: .now + .seconds(10))
        #expect(!decision.allowed)
        #expect(decision.denials.first?.contains(#"denied by policy "payments", authority "release": unresolved key"#) == true, "\(decision.denials)")
        try await KubernetesWatchTests.eventually("status Invalid") {
            let status = try server.object("clusterimagepolicies", key: "payments")?["status"] as? [String: Any]
            return status?["state"] as? String == "Invalid" && (status?["message"] as? String)?.contains("Secret signet-system/release-key") == true
        }

        // Back: resolved again.
        try server.apply("secrets", Self.secret("release-key", Self.alicePEM))
        try await KubernetesWatchTests.eventually("key back") { Self.keys(await source.current(), "payments") == [alice] }

        // A Secret RBAC does not name: unreadable, so the policy naming it fails closed with the 403.
        try server.apply("clusterimagepolicies", Self.policy(name: "billing", secret: "unrelated"))
        try await KubernetesWatchTests.eventually("forbidden Secret unresolved") {
            await source.current()["billing"]?.authorities.first?.unresolvedReason?.contains("cannot read the Secret") == true
        }
        let forbidden = try #require(await source.current()["billing"]?.authorities.first?.unresolvedReason)
        #expect(forbidden.contains("HTTP 403"), "\(forbidden)")
        #expect(Self.keys(await source.current(), "payments") == [alice], "other policies keep their keys")
    }

    @Test func mountedSecretsAndKeyFilesAreCheckedEveryInterval() async throws {
        let directory = TemporaryDirectory(prefix: "signet-key-secrets")
        try FileManager.default.createDirectory(atPath: directory.file("signet-system/release-key").path, withIntermediateDirectories: true)
        let keyFile = try directory.write("signet-system/release-key/cosign.pub", Self.alicePEM).path
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy(name: "payments", secret: "release-key"))
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        let source = KubernetesPolicySource(
            client: client, exemptions: ExemptionConfiguration(), writeStatus: false, keySecrets: .directory(directory.path),
            trustMaterialInterval: .milliseconds(200), backoff: Backoff(initial: .milliseconds(10), maximum: .milliseconds(50)))
        let task = Task { await source.run() }
        defer { task.cancel() }
        await source.waitUntilLoaded()
        let first = await source.current()
        let alice = try #require(Self.keys(first, "payments")?.first, "--key-secrets-dir is honoured in cluster mode")
        #expect(first["payments"]?.authorities.first?.unresolvedReason == nil)

        _ = try directory.write("signet-system/release-key/cosign.pub", Self.bobPEM)
        try await KubernetesWatchTests.eventually("rotated key in force") {
            let keys = Self.keys(await source.current(), "payments")
            return keys?.count == 1 && keys != [alice]
        }
        #expect(await source.current().revision != first.revision)

        try FileManager.default.removeItem(atPath: keyFile)
        try await KubernetesWatchTests.eventually("removed key unresolved") {
            await source.current()["payments"]?.authorities.first?.unresolvedReason?.contains(keyFile) == true
        }
        #expect(try !server.requests().contains { $0.contains("/secrets") }, "the directory source reads no Secret through the API")
    }

    @Test func aNewSigstoreRootFromTUFRecompilesKeylessPolicies() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", [
            "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": "keyless"],
            "spec": [
                "images": [["glob": "ghcr.io/acme/**"]],
                "authorities": [["name": "ci", "keyless": ["identities": [["issuer": "https://issuer.example", "subject": "ci@example.com"]]]]],
            ],
        ])
        let empty = TrustedRoot(transparencyLogs: [], certificateAuthorities: [], certificateTransparencyLogs: [], timestampAuthorities: [])
        let live = LiveTrustedRoot(.init(root: empty, digest: String(repeating: "a", count: 64), origin: "TUF test (targets version 1)"))
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        let source = KubernetesPolicySource(
            client: client, exemptions: ExemptionConfiguration(), writeStatus: false, trustMaterialInterval: .milliseconds(200),
            liveTrustedRoot: live, backoff: Backoff(initial: .milliseconds(10), maximum: .milliseconds(50)))
        let task = Task { await source.run() }
        defer { task.cancel() }
        await source.waitUntilLoaded()
        func trust(_ set: PolicySet) -> (source: String, digest: String)? {
            guard case .keyless(let trust)? = set["keyless"]?.authorities.first?.kind else { return nil }
            return (trust.trustRootSource, trust.trustRootDigest)
        }
        let first = await source.current()
        #expect(trust(first)?.source == "TUF test (targets version 1)")

        live.publish(.init(root: empty, digest: String(repeating: "b", count: 64), origin: "TUF test (targets version 2)"))
        try await KubernetesWatchTests.eventually("recompiled with the new root") {
            trust(await source.current())?.digest == String(repeating: "b", count: 64)
        }
        let second = await source.current()
        #expect(second.revision != first.revision)
        #expect(trust(second)?.source == "TUF test (targets version 2)")
        #expect(second["keyless"]?.authorities.first?.trustFingerprint != first["keyless"]?.authorities.first?.trustFingerprint)
    }
}
