import Foundation
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import Testing

/// Trust material is live: a key file a policy reads is part of the policy's revision, and the
/// directory watcher sees it change, so a rotated key retires the cached verdicts of the old one
/// without any edit to the policy text (DESIGN: everything a verdict depended on is in its cache
/// key).
@Suite("Live trust material", .serialized)
struct TrustMaterialReloadTests {
    static func policy(keyFile: String, registry: String) -> String {
        """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: team-signed
        spec:
          images:
            - glob: "\(registry)/team/**"
          authorities:
            - name: release-key
              key:
                publicKeys:
                  - file: \(keyFile)
        """
    }

    @Test("a key file's change is a new revision, seen by the watcher at its next poll")
    func revisionFollowsTheKeyFile() async throws {
        let alice = try await TestSigningKey.generate(.ecP256)
        let bob = try await TestSigningKey.generate(.ecP256, slot: 1)
        let keys = TemporaryDirectory(prefix: "signet-trust-keys")
        let keyFile = try keys.write("release.pub", alice.publicKeyPEM).path
        let policies = TemporaryDirectory(prefix: "signet-trust-policies")
        try policies.write("policy.yaml", Self.policy(keyFile: keyFile, registry: "registry.example"))

        let watcher = PolicyDirectoryWatcher(directory: policies.path, interval: .seconds(1))
        let first = try await watcher.loadInitial()
        #expect(await watcher.poll() == nil)

        try keys.write("release.pub", bob.publicKeyPEM)
        guard case .reloaded(let second)? = await watcher.poll() else {
            Issue.record("the watcher must reload when the key file changes")
            return
        }
        #expect(second.revision != first.revision)
        guard case .key(let trust)? = second["team-signed"]?.authorities.first?.kind else {
            Issue.record("the policy keeps its key authority")
            return
        }
        #expect(trust.keys.map(\.key) == [try bob.publicKey()])
    }

    @Test("a key rotated under a running signet serve retires its cached allow within one reload interval")
    func rotatedKeyUnderServe() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let images = TestRegistryImages(client: client)
        let alice = try await TestSigningKey.generate(.ecP256)
        let bob = try await TestSigningKey.generate(.ecP256, slot: 1)
        let image = try ImageReference(parsing: "\(registry.host)/team/app:v1")
        let digest = try await images.pushImage(image)
        try await images.sign(digest, in: image, with: [alice])

        let keys = TemporaryDirectory(prefix: "signet-trust-keys")
        let keyFile = try keys.write("release.pub", alice.publicKeyPEM).path
        let policies = TemporaryDirectory(prefix: "signet-trust-policies")
        try policies.write("policy.yaml", Self.policy(keyFile: keyFile, registry: registry.host))
        let interval = 1
        let server = try await SignetServerFixture.start(
            policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host, "--policy-reload-interval", "\(interval)s"])
        let reviews = TemporaryDirectory(prefix: "signet-trust-reviews")
        let containers = #"[{"name":"app","image":"\#(image)"}]"#
        let reviewFile = try reviews.write("review.json", """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"6d0c4d7e-0000-4000-8000-000000000001",\
            "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
            "namespace":"default","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod",\
            "metadata":{"name":"app","namespace":"default"},"spec":{"containers":\(containers)}}}}
            """).path
        func decide() async throws -> AdmissionAnswer {
            try AdmissionAnswer(decoding: try await offThePool { try server.review(reviewFile) }.body)
        }

        let allowed = try await decide()
        #expect(allowed.allowed, "\(allowed.message)")
        let cached = try await decide()
        #expect(cached.allowed, "the second review is the cached allow")

        // Rotate the key: alice's signature is no longer trusted. No policy text changes.
        try keys.write("release.pub", bob.publicKeyPEM)
        let rotated = ContinuousClock.now
        // One interval for the watcher to poll, plus slack for a busy machine.
        let budget = TestBudget.seconds(interval * 10)
        var denied: AdmissionAnswer?
        while ContinuousClock.now - rotated < budget {
            let answer = try await decide()
            if !answer.allowed {
                denied = answer
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let answer = try #require(denied, "the cached allow must be retired after the key rotated")
        #expect(answer.message.contains("does not verify with any of the 1 trusted key(s)"), "\(answer.message)")
        _ = try? await offThePool {
            server.stop()
            registry.stop()
        }
    }
}
