import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `signet serve --policy-source kubernetes` admitting pods whose pull secrets it must read from
/// the API server while the API server fails: 500, 429, garbage, slower than the review's
/// deadline, then down. Each review is answered (HTTP 200) with the Enforce policy's deny naming
/// the image and the policy; never an allow.
@Suite("signet serve: API server faults end in the policy's deny", .serialized)
struct APIServerFaultTests {
    static let reviewTimeoutSeconds = 3

    @Test func eachFaultIsDeniedInTimeWithAReason() async throws {
        let issuer = try await offThePool { try TokenIssuer(username: "ci-bot", password: "pull-token") }
        let registry = try await offThePool { try RegistryFixture(authentication: .token(issuer)) }
        let owner = RegistryCredentialStore([registry.host: RegistryCredential(username: "ci-bot", password: "pull-token")])
        let pusher = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]), credentials: owner)
        defer { pusher.shutdown() }
        let images = TestRegistryImages(client: pusher)
        let key = try await TestSigningKey.generate(.ecP256)
        let reference = try ImageReference(parsing: "\(registry.host)/private/app:v1")
        let digest = try await images.pushImage(reference)
        try await images.sign(digest, in: reference, with: [key])
        let image = reference.withDigest(digest).description

        let apiServer = try await offThePool { try KubernetesAPIServerDouble() }
        let pem = key.publicKeyPEM.replacingOccurrences(of: "\n", with: "\\n")
        try apiServer.apply("clusterimagepolicies", try PullSecretServeTests.object("""
            {"apiVersion":"signet.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"private-signed"},
             "spec":{"images":[{"glob":"\(registry.host)/private/**"}],
                     "authorities":[{"name":"release-key","key":{"publicKeys":[{"pem":"\(pem)"}]}}]}}
            """))
        try apiServer.apply("namespaces", try PullSecretServeTests.object(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}"#))
        let faults = ["500", "429", "garbage", "slow", "down"]
        for fault in faults {
            try apiServer.apply("secrets", PullSecretServeTests.pullSecret(
                namespace: "shop", name: "regcred-\(fault)", registry: registry.host, username: "ci-bot", password: "pull-token"))
        }
        let serviceAccount = TemporaryDirectory(prefix: "signet-sa")
        try serviceAccount.write("token", apiServer.token)
        try serviceAccount.write("namespace", "signet-system")
        try FileManager.default.copyItem(atPath: apiServer.pki.caFile, toPath: serviceAccount.file("ca.crt").path)
        let unused = TemporaryDirectory(prefix: "signet-unused-policies")
        let server = try await SignetServerFixture.start(
            policyDirectory: unused.path, arguments: ["--policy-source", "kubernetes", "--allow-insecure-registry", registry.host],
            environment: [
                "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(apiServer.port)",
                "SIGNET_SERVICE_ACCOUNT_DIR": serviceAccount.path,
            ])
        let reviews = TemporaryDirectory(prefix: "signet-api-fault-reviews")
        for fault in faults {
            if fault == "down" {
                apiServer.stop()
            } else {
                try apiServer.failGets("secrets", mode: fault)
            }
            let file = try PullSecretServeTests.review(in: reviews, name: "web-\(fault)", namespace: "shop", image: image, pullSecrets: ["regcred-\(fault)"])
            let review = try await FaultReview.post(file, to: server, timeoutSeconds: Self.reviewTimeoutSeconds, peer: "API server", fault: fault)
            #expect(review.httpStatus == 200, "\(fault): \(review.stderr)")
            let denial = try #require(review.answer, "\(fault): no AdmissionReview answer")
            #expect(!denial.allowed, "\(fault) was allowed")
            #expect(denial.message.contains(image), "\(fault): \(denial.message)")
            #expect(denial.message.contains("private-signed"), "\(fault): \(denial.message)")
        }
        _ = try? await offThePool {
            server.stop()
            registry.stop()
        }
    }
}
