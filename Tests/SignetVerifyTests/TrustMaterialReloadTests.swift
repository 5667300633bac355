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

    /// A running `signet serve` over `policies` and a registry holding `image`, signed by
    /// `signer`; `decide()` reviews a Pod running the image.
    struct ServedImage {
        let server: SignetServerFixture
        let registry: RegistryFixture
        let reviewFile: String
        let reviews: TemporaryDirectory

        func decide() async throws -> AdmissionAnswer {
            let server = server
            let reviewFile = reviewFile
            return try AdmissionAnswer(decoding: try await offThePool { try server.review(reviewFile) }.body)
        }

        /// Reviews until an answer denies, for at most `budget`.
        func firstDenial(within budget: Duration) async throws -> AdmissionAnswer? {
            try await firstAnswer(within: budget) { !$0.allowed }
        }

        /// Reviews until an answer's message contains `text`, for at most `budget`.
        func firstAnswer(containing text: String, within budget: Duration) async throws -> AdmissionAnswer? {
            try await firstAnswer(within: budget) { $0.message.contains(text) }
        }

        private func firstAnswer(within budget: Duration, where wanted: (AdmissionAnswer) -> Bool) async throws -> AdmissionAnswer? {
            let start = ContinuousClock.now
            while ContinuousClock.now - start < budget {
                let answer = try await decide()
                if wanted(answer) { return answer }
                try await Task.sleep(for: .milliseconds(200))
            }
            return nil
        }

        func stop() async {
            let (server, registry) = (server, registry)
            _ = try? await offThePool {
                server.stop()
                registry.stop()
            }
        }
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
        // One interval for the watcher to poll; the budget only catches a rotation never picked
        // up (on a machine busy with the whole suite, each review alone can take seconds).
        let budget = TestBudget.seconds(interval * 60)
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

    // MARK: - A key that disappears fails closed

    @Test("a key file that disappears compiles to an unresolved key that fails the authority; its return resolves it")
    func vanishedKeyFileIsUnresolved() async throws {
        let alice = try await TestSigningKey.generate(.ecP256)
        let keys = TemporaryDirectory(prefix: "signet-trust-keys")
        let keyFile = try keys.write("release.pub", alice.publicKeyPEM).path
        let policies = TemporaryDirectory(prefix: "signet-trust-policies")
        try policies.write("policy.yaml", Self.policy(keyFile: keyFile, registry: "registry.example"))

        let watcher = PolicyDirectoryWatcher(directory: policies.path, interval: .seconds(1))
        let first = try await watcher.loadInitial()
        #expect(first["team-signed"]?.authorities.first?.unresolvedReason == nil)

        try FileManager.default.removeItem(atPath: keyFile)
        guard case .reloaded(let second)? = await watcher.poll() else {
            Issue.record("a vanished key file must reload the policies, not keep the last good set with the old key")
            return
        }
        #expect(second.revision != first.revision)
        let authority = try #require(second["team-signed"]?.authorities.first)
        let reason = try #require(authority.unresolvedReason)
        #expect(reason.hasPrefix("unresolved key: publicKeys[0]: the public key file \(keyFile)"), "\(reason)")
        guard case .key(let trust) = authority.kind else {
            Issue.record("the policy keeps its key authority")
            return
        }
        #expect(trust.keys.isEmpty, "the old key must not stay trusted")
        #expect(authority.trustFingerprint != first["team-signed"]?.authorities.first?.trustFingerprint)

        // The evaluator fails the authority without a verifier: no registry, no cache.
        let evaluator = PolicyEvaluator(policies: second, noMatchAction: .allow)
        let decision = await evaluator.evaluate(
            [ImageUse(image: "registry.example/team/app@sha256:\(String(repeating: "a", count: 64))", container: "app")],
            subject: AdmissionSubject(namespace: "default", kind: "Pod"), deadline: .now + .seconds(30))
        #expect(!decision.allowed)
        let denial = try #require(decision.denials.first)
        #expect(denial.contains("denied by policy \"team-signed\", authority \"release-key\": unresolved key: publicKeys[0]"), "\(denial)")
        #expect(denial.contains(keyFile), "\(denial)")

        try keys.write("release.pub", alice.publicKeyPEM)
        guard case .reloaded(let third)? = await watcher.poll() else {
            Issue.record("the key's return must reload the policies")
            return
        }
        #expect(third["team-signed"]?.authorities.first?.unresolvedReason == nil)
        #expect(third.revision == first.revision)
    }

    @Test("a mounted Secret key that disappears or turns unusable is an unresolved key naming the Secret")
    func vanishedSecretKeyIsUnresolved() async throws {
        let alice = try await TestSigningKey.generate(.ecP256)
        let secrets = TemporaryDirectory(prefix: "signet-trust-secrets")
        try FileManager.default.createDirectory(atPath: secrets.file("signet-system/release-key").path, withIntermediateDirectories: true)
        let keyFile = try secrets.write("signet-system/release-key/cosign.pub", alice.publicKeyPEM).path
        let policy = """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: team-signed
            spec:
              images:
                - glob: "registry.example/team/**"
              authorities:
                - name: release-key
                  key:
                    publicKeys:
                      - secretRef: {namespace: signet-system, name: release-key}
            """
        let loader = PolicyLoader(keySecretsDirectory: secrets.path)
        let file = PolicySourceFile(name: "policy.yaml", bytes: Array(policy.utf8))
        let first = try loader.load(files: [file])
        #expect(first["team-signed"]?.authorities.first?.unresolvedReason == nil)
        #expect(first.trustMaterialFiles == [keyFile])

        try FileManager.default.removeItem(atPath: keyFile)
        let missing = try loader.load(files: [file])
        #expect(missing.revision != first.revision)
        let reason = try #require(missing["team-signed"]?.authorities.first?.unresolvedReason)
        #expect(reason.contains("unresolved key: publicKeys[0]: key cosign.pub of Secret signet-system/release-key is missing"), "\(reason)")

        _ = try secrets.write("signet-system/release-key/cosign.pub", "not a key")
        let garbled = try loader.load(files: [file])
        let garbledReason = try #require(garbled["team-signed"]?.authorities.first?.unresolvedReason)
        #expect(garbledReason.contains("secret signet-system/release-key key cosign.pub holds no usable public key"), "\(garbledReason)")
    }

    @Test("a key file deleted under a running signet serve turns its cached allow into a deny within one reload interval")
    func deletedKeyUnderServe() async throws {
        let served = try await Self.serveSignedImage(keyFileName: "release.pub")
        let allowed = try await served.image.decide()
        #expect(allowed.allowed, "\(allowed.message)")
        let cached = try await served.image.decide()
        #expect(cached.allowed, "the second review is the cached allow")

        try FileManager.default.removeItem(atPath: served.keyFile)
        let answer = try #require(
            try await served.image.firstDenial(within: TestBudget.seconds(served.interval * 60)),
            "the cached allow must be retired once the key file is gone")
        #expect(answer.message.contains("denied by policy \"team-signed\", authority \"release-key\": unresolved key: publicKeys[0]"), "\(answer.message)")
        #expect(answer.message.contains(served.keyFile), "\(answer.message)")
        await served.image.stop()
        withExtendedLifetime(served) {}
    }

    /// An image in a local registry signed by a key, and `signet serve` over a policy naming the
    /// key's file, reloading every second.
    static func serveSignedImage(keyFileName: String) async throws
        -> (image: ServedImage, keyFile: String, keys: TemporaryDirectory, policies: TemporaryDirectory, interval: Int) {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let images = TestRegistryImages(client: client)
        let alice = try await TestSigningKey.generate(.ecP256)
        let image = try ImageReference(parsing: "\(registry.host)/team/app:v1")
        let digest = try await images.pushImage(image)
        try await images.sign(digest, in: image, with: [alice])

        let keys = TemporaryDirectory(prefix: "signet-trust-keys")
        let keyFile = try keys.write(keyFileName, alice.publicKeyPEM).path
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
        return (ServedImage(server: server, registry: registry, reviewFile: reviewFile, reviews: reviews), keyFile, keys, policies, interval)
    }

    // MARK: - Secrets through the Kubernetes API

    @Test("a Secret key rotated under signet serve --policy-source kubernetes --key-secrets-source api retires its cached allow within one interval")
    func rotatedSecretUnderClusterServe() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let images = TestRegistryImages(client: client)
        let alice = try await TestSigningKey.generate(.ecP256)
        let bob = try await TestSigningKey.generate(.ecP256, slot: 1)
        let image = try ImageReference(parsing: "\(registry.host)/team/app:v1")
        let digest = try await images.pushImage(image)
        try await images.sign(digest, in: image, with: [alice])

        let apiServer = try await KubernetesAPIServerDouble.start()
        // RBAC as the chart grants it: the named Secret only.
        try apiServer.restrictSecrets(to: ["signet-system/release-key"])
        func secret(_ pem: String) -> [String: Any] {
            ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "release-key", "namespace": "signet-system"],
             "data": ["cosign.pub": Data(pem.utf8).base64EncodedString()]]
        }
        try apiServer.apply("secrets", secret(alice.publicKeyPEM))
        try apiServer.apply("clusterimagepolicies", [
            "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": "team-signed"],
            "spec": [
                "images": [["glob": "\(registry.host)/team/**"]],
                "authorities": [["name": "release-key", "key": ["publicKeys": [["secretRef": ["namespace": "signet-system", "name": "release-key"]]]]]],
            ],
        ])
        let interval = 1
        let served = try await ServedImage.fromCluster(apiServer: apiServer, registry: registry, image: image, interval: interval)

        let allowed = try await served.decide()
        #expect(allowed.allowed, "\(allowed.message)")
        #expect(try await served.decide().allowed, "the second review is the cached allow")

        // Rotated in the cluster: alice's signature is no longer trusted; no policy edit.
        try apiServer.apply("secrets", secret(bob.publicKeyPEM))
        let rotated = try #require(
            try await served.firstDenial(within: TestBudget.seconds(interval * 60)), "the cached allow must be retired after the Secret rotated")
        #expect(rotated.message.contains("does not verify with any of the 1 trusted key(s)"), "\(rotated.message)")

        // Removed: fails closed, naming the Secret.
        try apiServer.delete("secrets", key: "signet-system/release-key")
        let answer = try #require(
            try await served.firstAnswer(containing: "unresolved key", within: TestBudget.seconds(interval * 60)), "a removed Secret must fail closed")
        #expect(!answer.allowed)
        #expect(answer.message.contains("key cosign.pub of Secret signet-system/release-key is missing (the Secret does not exist)"), "\(answer.message)")
        #expect(try !apiServer.requests().contains { $0.hasPrefix("GET /api/v1/secrets") }, "Secrets are never listed across the cluster")
        await served.stop()
        apiServer.stop()
    }

    // MARK: - A trust root that disappears fails closed

    @Test("a trust root file or mounted ConfigMap key that disappears or turns unusable fails the keyless authority closed")
    func vanishedTrustRootIsUnresolved() async throws {
        let roots = TemporaryDirectory(prefix: "signet-trust-roots")
        let production = try Data(contentsOf: TestPaths.vectors.appendingPathComponent("root-signing/targets/trusted_root.json"))
        let rootFile = roots.file("trusted_root.json").path
        try production.write(to: URL(fileURLWithPath: rootFile))
        try FileManager.default.createDirectory(atPath: roots.file("configmaps/signet-system/private-root").path, withIntermediateDirectories: true)
        let mounted = roots.file("configmaps/signet-system/private-root/trusted_root.json").path
        try production.write(to: URL(fileURLWithPath: mounted))
        let policies = TemporaryDirectory(prefix: "signet-trust-policies")
        func policy(_ name: String, trustRoot: String) throws {
            try policies.write("\(name).yaml", """
                apiVersion: signet.dev/v1alpha1
                kind: ClusterImagePolicy
                metadata:
                  name: \(name)
                spec:
                  images:
                    - glob: "registry.example/\(name)/**"
                  authorities:
                    - name: release
                      keyless:
                        identities:
                          - {issuer: https://accounts.example, subject: release@example.com}
                        trustRoot: \(trustRoot)
                """)
        }
        try policy("from-file", trustRoot: "{file: \(rootFile)}")
        try policy("from-configmap", trustRoot: "{configMapRef: {namespace: signet-system, name: private-root}}")
        var loader = PolicyLoader()
        loader.configMapsDirectory = roots.file("configmaps").path
        let watcher = PolicyDirectoryWatcher(directory: policies.path, interval: .seconds(1), loader: loader)
        let first = try await watcher.loadInitial()
        #expect(first.policies.allSatisfy { $0.authorities[0].unresolvedReason == nil })

        try FileManager.default.removeItem(atPath: rootFile)
        try Data("not json".utf8).write(to: URL(fileURLWithPath: mounted))
        guard case .reloaded(let second)? = await watcher.poll() else {
            Issue.record("a vanished trust root must reload the policies, not keep the last good set with the old root")
            return
        }
        let file = try #require(second["from-file"]?.authorities[0].unresolvedReason)
        #expect(file.hasPrefix("unresolved trust root: spec.authorities[0].keyless.trustRoot.file: cannot read the trust root file \(rootFile)"), "\(file)")
        let configMap = try #require(second["from-configmap"]?.authorities[0].unresolvedReason)
        #expect(configMap.contains("trustRoot.configMapRef: not a usable Sigstore trusted_root.json"), "\(configMap)")
        #expect(second["from-file"]?.authorities[0].trustFingerprint != first["from-file"]?.authorities[0].trustFingerprint)
        let decision = await PolicyEvaluator(policies: second, noMatchAction: .allow).evaluate(
            [ImageUse(image: "registry.example/from-file/app@sha256:\(String(repeating: "b", count: 64))", container: "app")],
            subject: AdmissionSubject(namespace: "default", kind: "Pod"), deadline: .now + .seconds(30))
        #expect(decision.denials.first?.contains(#"denied by policy "from-file", authority "release": unresolved trust root"#) == true, "\(decision.denials)")

        try production.write(to: URL(fileURLWithPath: rootFile))
        try production.write(to: URL(fileURLWithPath: mounted))
        guard case .reloaded(let third)? = await watcher.poll() else {
            Issue.record("the trust root's return must reload the policies")
            return
        }
        #expect(third.policies.allSatisfy { $0.authorities[0].unresolvedReason == nil })
        #expect(third.revision == first.revision)
    }
}

extension TrustMaterialReloadTests.ServedImage {
    /// `signet serve --policy-source kubernetes --key-secrets-source api --policy-reload-interval
    /// <interval>s` configured in cluster from a service-account directory for `apiServer`, with
    /// the namespace `default` created and a Pod review of `image` there.
    static func fromCluster(
        apiServer: KubernetesAPIServerDouble, registry: RegistryFixture, image: ImageReference, interval: Int
    ) async throws -> Self {
        try apiServer.apply("namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "default"]])
        let serviceAccount = TemporaryDirectory(prefix: "signet-sa")
        try serviceAccount.write("token", apiServer.token)
        try serviceAccount.write("namespace", "signet-system")
        try FileManager.default.copyItem(atPath: apiServer.pki.caFile, toPath: serviceAccount.file("ca.crt").path)
        let unused = TemporaryDirectory(prefix: "signet-unused-policies")
        let server = try await SignetServerFixture.start(
            policyDirectory: unused.path,
            arguments: [
                "--allow-insecure-registry", registry.host, "--policy-source", "kubernetes", "--policy-reload-interval", "\(interval)s",
                "--key-secrets-source", "api",
            ],
            environment: [
                "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(apiServer.port)",
                "SIGNET_SERVICE_ACCOUNT_DIR": serviceAccount.path,
            ])
        let reviews = TemporaryDirectory(prefix: "signet-cluster-reviews")
        let reviewFile = try reviews.write("review.json", """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\(UUID().uuidString.lowercased())",\
            "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
            "namespace":"default","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod",\
            "metadata":{"name":"app","namespace":"default"},"spec":{"containers":[{"name":"app","image":"\(image)"}]}}}}
            """).path
        return Self(server: server, registry: registry, reviewFile: reviewFile, reviews: reviews)
    }
}
