import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `signet serve --policy-source kubernetes` verifying images in a private registry (Debian's
/// docker-registry with bearer tokens from a ``TokenIssuer``) with the credentials of the pod
/// under admission: its own `imagePullSecrets`, or its service account's, read from
/// ``KubernetesAPIServerDouble`` (a double of the API server's wire protocol; no API server can
/// run here). signet itself has no registry credentials in this test.
@Suite("signet serve uses the pod's pull secrets", .serialized)
struct PullSecretServeTests {
    static func object(_ json: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    static func pullSecret(namespace: String, name: String, registry: String, username: String, password: String) -> [String: Any] {
        let auth = Data("\(username):\(password)".utf8).base64EncodedString()
        let config = #"{"auths":{"\#(registry)":{"auth":"\#(auth)"}}}"#
        return ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": name, "namespace": namespace],
                "type": "kubernetes.io/dockerconfigjson", "data": [".dockerconfigjson": Data(config.utf8).base64EncodedString()]]
    }

    /// An AdmissionReview of a Pod in `namespace` running `image`, naming `pullSecrets` and
    /// `serviceAccount` when given.
    static func review(in directory: TemporaryDirectory, name: String, namespace: String, image: String,
                       pullSecrets: [String] = [], serviceAccount: String? = nil) throws -> String {
        let secrets = pullSecrets.map { #"{"name":"\#($0)"}"# }.joined(separator: ",")
        let account = serviceAccount.map { #""serviceAccountName":"\#($0)","# } ?? ""
        let json = """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\(UUID().uuidString.lowercased())",\
            "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
            "name":"\(name)","namespace":"\(namespace)","operation":"CREATE","userInfo":{"username":"alice"},\
            "object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\(name)","namespace":"\(namespace)"},\
            "spec":{\(account)"imagePullSecrets":[\(secrets)],"containers":[{"name":"app","image":"\(image)"}]}}}}
            """
        return try directory.write("\(name).json", json).path
    }

    @Test func podAndServiceAccountPullSecretsAuthenticateVerification() async throws {
        let issuer = try await offThePool { try TokenIssuer(username: "ci-bot", password: "pull-token") }
        let registry = try await offThePool { try RegistryFixture(authentication: .token(issuer)) }
        let owner = RegistryCredentialStore([registry.host: RegistryCredential(username: "ci-bot", password: "pull-token")])
        let pusher = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]), credentials: owner)
        defer { pusher.shutdown() }
        let images = TestRegistryImages(client: pusher)
        let key = try await TestSigningKey.generate(.ecP256)
        var signed: [String: ImageReference] = [:]
        for name in ["by-pod-secret", "by-service-account", "without-secret", "wrong-secret"] {
            let reference = try ImageReference(parsing: "\(registry.host)/private/\(name):v1")
            let digest = try await images.pushImage(reference)
            try await images.sign(digest, in: reference, with: [key])
            signed[name] = reference.withDigest(digest)
        }

        let apiServer = try await offThePool { try KubernetesAPIServerDouble() }
        let pem = key.publicKeyPEM.replacingOccurrences(of: "\n", with: "\\n")
        try apiServer.apply("clusterimagepolicies", try Self.object("""
            {"apiVersion":"signet.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"private-signed"},
             "spec":{"images":[{"glob":"\(registry.host)/private/**"}],
                     "authorities":[{"name":"release-key","key":{"publicKeys":[{"pem":"\(pem)"}]}}]}}
            """))
        for namespace in ["shop", "ci"] {
            try apiServer.apply("namespaces", try Self.object(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"\#(namespace)"}}"#))
        }
        try apiServer.apply("secrets", Self.pullSecret(namespace: "shop", name: "regcred", registry: registry.host, username: "ci-bot", password: "pull-token"))
        try apiServer.apply("secrets", Self.pullSecret(namespace: "shop", name: "stale", registry: registry.host, username: "ci-bot", password: "revoked"))
        try apiServer.apply("secrets", Self.pullSecret(namespace: "ci", name: "builder-pull", registry: registry.host, username: "ci-bot", password: "pull-token"))
        try apiServer.apply("serviceaccounts", ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "builder", "namespace": "ci"],
                                                "imagePullSecrets": [["name": "builder-pull"]]])

        // Every call signet makes must be one the chart grants with pull Secrets enabled.
        if ChartRBAC.helm != nil {
            try apiServer.restrict(to: try ChartRBAC.serviceAccountRules(values: ["rbac.pullSecrets.enabled=true"]))
        }

        let serviceAccount = TemporaryDirectory(prefix: "signet-sa")
        try serviceAccount.write("token", apiServer.token)
        try serviceAccount.write("namespace", "signet-system")
        try FileManager.default.copyItem(atPath: apiServer.pki.caFile, toPath: serviceAccount.file("ca.crt").path)
        let unused = TemporaryDirectory(prefix: "signet-unused-policies")
        let server = try await offThePool {
            try SignetServerFixture(
                policyDirectory: unused.path,
                arguments: ["--policy-source", "kubernetes", "--allow-insecure-registry", registry.host],
                environment: [
                    "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(apiServer.port)",
                    "SIGNET_SERVICE_ACCOUNT_DIR": serviceAccount.path,
                ])
        }
        let reviews = TemporaryDirectory(prefix: "signet-pull-secret-reviews")
        func decide(_ file: String) async throws -> AdmissionAnswer {
            try AdmissionAnswer(decoding: try await offThePool { try server.review(file) }.body)
        }

        let byPod = try await decide(try Self.review(
            in: reviews, name: "web", namespace: "shop", image: signed["by-pod-secret"]!.description, pullSecrets: ["regcred"]))
        #expect(byPod.allowed, "\(byPod.message)")

        let byAccount = try await decide(try Self.review(
            in: reviews, name: "build", namespace: "ci", image: signed["by-service-account"]!.description, serviceAccount: "builder"))
        #expect(byAccount.allowed, "\(byAccount.message)")

        // No secret: the registry refuses, and the deny says so (fail closed).
        let without = try await decide(try Self.review(
            in: reviews, name: "stray", namespace: "shop", image: signed["without-secret"]!.description))
        #expect(!without.allowed)
        let withoutMessage = without.message
        #expect(withoutMessage.contains("no credentials for this registry"), "\(withoutMessage)")
        #expect(withoutMessage.contains(signed["without-secret"]!.description), "\(withoutMessage)")
        #expect(withoutMessage.contains("private-signed"), "\(withoutMessage)")

        // A revoked secret: refused, naming whose credentials.
        let wrong = try await decide(try Self.review(
            in: reviews, name: "old", namespace: "shop", image: signed["wrong-secret"]!.description, pullSecrets: ["stale"]))
        #expect(!wrong.allowed)
        #expect(wrong.message.contains("refused the credentials of ci-bot"), "\(wrong.message)")

        // The secrets were read through the API, the pod's own and the service account's.
        let requests = try apiServer.requests()
        #expect(requests.contains { $0.hasPrefix("GET /api/v1/namespaces/shop/secrets/regcred") })
        #expect(requests.contains { $0.hasPrefix("GET /api/v1/namespaces/ci/serviceaccounts/builder") })
        #expect(requests.contains { $0.hasPrefix("GET /api/v1/namespaces/ci/secrets/builder-pull") })
    }
}
