import Foundation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetSigstore
import SignetTestSupport
import SignetVerify
import Testing

/// The Sigstore trusted root kept current through TUF and used by verification: `signet serve
/// --sigstore-tuf` against the real Sigstore repository (sigstore/root-signing, in the vectors)
/// laid out as its public mirror on 127.0.0.1, and a new root retiring the verdicts cached under
/// the old one.
@Suite("Sigstore trusted root from TUF", .serialized)
struct SigstoreTUFServeTests {
    static let rootSigning = TestPaths.vectors.appendingPathComponent("root-signing")
    /// A time at which the repository's timestamp (it expires 2026-08-28) is current.
    static let repositoryTime = "2026-08-21T00:00:00Z"

    /// The repository as the public mirror serves it: `<version>.<role>.json` at the top, targets
    /// under `targets/` named `<sha256>.<name>` (TUF specification section 5, consistent snapshots).
    static func makeMirror() throws -> TemporaryDirectory {
        let mirror = TemporaryDirectory(prefix: "signet-tuf-mirror")
        let metadata = rootSigning.appendingPathComponent("metadata")
        try FileManager.default.createDirectory(at: mirror.file("targets"), withIntermediateDirectories: true)
        for version in 1...15 {
            try FileManager.default.copyItem(
                at: metadata.appendingPathComponent("root_history/\(version).root.json"), to: mirror.file("\(version).root.json"))
        }
        try FileManager.default.copyItem(at: metadata.appendingPathComponent("timestamp.json"), to: mirror.file("timestamp.json"))
        try FileManager.default.copyItem(at: metadata.appendingPathComponent("snapshot.json"), to: mirror.file("165.snapshot.json"))
        try FileManager.default.copyItem(at: metadata.appendingPathComponent("targets.json"), to: mirror.file("14.targets.json"))
        let trustedRoot = try Data(contentsOf: rootSigning.appendingPathComponent("targets/trusted_root.json"))
        try trustedRoot.write(to: mirror.file("targets/\(DigestAlgorithm.sha256.hexHash([UInt8](trustedRoot))).trusted_root.json"))
        return mirror
    }

    static func keylessPolicy(glob: String) -> String {
        """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: keyless-philipp
        spec:
          images:
            - glob: "\(glob)"
          authorities:
            - name: philipp
              keyless:
                identities:
                  - {issuerRegExp: '.*github.*', subjectRegExp: '.*philipp.*'}
        """
    }

    @Test("signet serve --sigstore-tuf refreshes the root from a mirror and verifies a keyless signature with it")
    func serveVerifiesWithTheRefreshedRoot() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        try await ConnaisseurVectors.push(to: registry, client: client)
        let mirror = try Self.makeMirror()
        let port = FreePort.make()
        let mirrorServer = try TestProcess("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", mirror.path])
        defer { mirrorServer.terminate() }
        #expect(try await offThePool { FreePort.waitUntilListening(port) })
        let policies = TemporaryDirectory(prefix: "signet-tuf-policies")
        try policies.write("keyless.yaml", Self.keylessPolicy(glob: KeylessVector.image(in: registry)))
        let cache = TemporaryDirectory(prefix: "signet-tuf-cache")
        let server = try await SignetServerFixture.start(policyDirectory: policies.path, arguments: [
            "--allow-insecure-registry", registry.host, "--policy-reload-interval", "1s",
            "--sigstore-tuf", "--sigstore-tuf-mirror", "http://127.0.0.1:\(port)", "--sigstore-tuf-cache-dir", cache.path,
            "--sigstore-tuf-refresh-interval", "1s", "--sigstore-tuf-now-unsafe", Self.repositoryTime,
        ])
        let origin = "TUF http://127.0.0.1:\(port) (targets version 14)"
        // The first refresh adopts the repository's root (the embedded one is in force until then).
        let start = ContinuousClock.now
        while ContinuousClock.now - start < TestBudget.seconds(30), !server.process.stderr.contains("Sigstore trusted root from TUF in force") {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(server.process.stderr.contains(origin), "\(server.process.stderr.suffix(2000))")
        #expect(FileManager.default.fileExists(atPath: cache.file("timestamp.json").path), "the last good metadata is kept on disk")

        let reviews = TemporaryDirectory(prefix: "signet-tuf-reviews")
        let review = try reviews.write("review.json", """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"6d0c4d7e-0000-4000-8000-000000000003",\
            "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
            "namespace":"default","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod",\
            "metadata":{"name":"app","namespace":"default"},"spec":{"containers":[{"name":"app","image":"\(KeylessVector.image(in: registry))"}]}}}}
            """).path
        // Within one reload interval the policy is compiled again with the refreshed root: the
        // revision of the decisions is the one the watcher reloaded after the root was adopted.
        func revisions(_ message: String) -> [String] {
            server.process.stderr.split(separator: "\n").compactMap { line in
                guard line.contains("\"\(message)\""),
                      let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
                return (object["revision"] as? String) ?? ((object["metadata"] as? [String: Any])?["revision"] as? String)
            }
        }
        var reloaded: String?
        while ContinuousClock.now - start < TestBudget.seconds(30), reloaded == nil {
            reloaded = revisions("reloaded policies").last
            if reloaded == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let initial = try #require(revisions("loaded policies").first, "\(server.process.stderr.suffix(2000))")
        let recompiled = try #require(reloaded, "the policies must be compiled again with the TUF root: \(server.process.stderr.suffix(2000))")
        #expect(recompiled != initial)
        // The responder swaps in the new set within its refresh period.
        var audit = ""
        while ContinuousClock.now - start < TestBudget.seconds(30), !audit.contains("\"policyRevision\":\"\(recompiled)\"") {
            let answer = try AdmissionAnswer(decoding: try await server.review(review).body)
            #expect(answer.allowed, "\(answer.message)")
            audit = server.process.stdout.split(separator: "\n").last { $0.contains("\"event\":\"admission\"") }.map(String.init) ?? ""
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(audit.contains("\"policyRevision\":\"\(recompiled)\""), "the keyless signature verified under the policy compiled with the TUF root: \(audit)")
        #expect(audit.contains("\"allowed\":true"))
        // The audit record names the trust root that verified the signature: the TUF one, by digest.
        let rootDigest = DigestAlgorithm.sha256.hexHash([UInt8](try Data(contentsOf: cache.file("targets/trusted_root.json"))))
        #expect(audit.contains("\"trustRoot\":\"\(origin) sha256:\(rootDigest.prefix(12))\""), "\(audit)")
        #expect(FileManager.default.fileExists(atPath: cache.file("targets/trusted_root.json").path), "the trusted root is kept on disk")
        _ = try? await offThePool {
            server.stop()
            registry.stop()
        }
    }

    @Test("a new root published by the updater recompiles the policy and retires the verdicts cached under the old one")
    func aNewRootRetiresCachedVerdicts() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        try await ConnaisseurVectors.push(to: registry, client: client)
        let production = [UInt8](try Data(contentsOf: Self.rootSigning.appendingPathComponent("targets/trusted_root.json")))
        // The next root drops the CT logs: the vector's certificate SCT no longer verifies.
        var json = try #require(try JSONSerialization.jsonObject(with: Data(production)) as? [String: Any])
        json["ctlogs"] = [[String: Any]]()
        let next = [UInt8](try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]))
        let live = LiveTrustedRoot(.init(
            root: try TrustedRoot(json: production), digest: DigestAlgorithm.sha256.hexHash(production), origin: "TUF test (targets version 14)"))

        let policies = TemporaryDirectory(prefix: "signet-tuf-policies")
        try policies.write("keyless.yaml", Self.keylessPolicy(glob: KeylessVector.image(in: registry)))
        var loader = PolicyLoader()
        loader.liveTrustedRoot = live
        let watcher = PolicyDirectoryWatcher(directory: policies.path, interval: .seconds(1), loader: loader)
        let first = try await watcher.loadInitial()
        #expect(await watcher.poll() == nil)
        let engine = VerificationEngine(registry: client)
        await engine.retain(first)
        let image = [ImageUse(image: KeylessVector.image(in: registry), container: "app")]
        let subject = AdmissionSubject(namespace: "default", kind: "Pod")
        func decide(_ set: PolicySet) async -> AdmissionDecision {
            await PolicyEvaluator(policies: set, noMatchAction: .deny, verifier: engine).evaluate(image, subject: subject, deadline: .now + .seconds(60))
        }
        let allowed = await decide(first)
        #expect(allowed.allowed, "\(allowed.denials)")
        let reference = try ImageReference(parsing: KeylessVector.image(in: registry))
        let policy = try #require(first["keyless-philipp"])
        #expect(engine.cachedVerdict(image: reference, authority: policy.authorities[0], policy: policy)?.passed == true)

        live.publish(.init(root: try TrustedRoot(json: next), digest: DigestAlgorithm.sha256.hexHash(next), origin: "TUF test (targets version 15)"))
        guard case .reloaded(let second)? = await watcher.poll() else {
            Issue.record("a new root must recompile the policies at the next poll")
            return
        }
        #expect(second.revision != first.revision)
        let recompiled = try #require(second["keyless-philipp"])
        #expect(recompiled.authorities[0].trustFingerprint != policy.authorities[0].trustFingerprint)
        guard case .keyless(let trust) = recompiled.authorities[0].kind else {
            Issue.record("the policy keeps its keyless authority")
            return
        }
        #expect(trust.trustRootSource == "TUF test (targets version 15)")
        await engine.retain(second)
        #expect(engine.cachedVerdict(image: reference, authority: recompiled.authorities[0], policy: recompiled) == nil,
                "the verdict cached under the old root is not reused")
        let denied = await decide(second)
        #expect(!denied.allowed, "verified again against the new root, which cannot verify the signature")
        _ = try? await offThePool { registry.stop() }
    }

    /// With `--sigstore-tuf`, the root built into signet is not trusted for ever while the mirror
    /// cannot be reached: it is as old as the build, and a blocked mirror would otherwise bring
    /// back, at each restart, whatever Sigstore has retired since. Once the first refresh has
    /// failed, keyless verifications are denied naming the mirror; metadata an earlier run kept
    /// on disk that has expired makes them so at once, before any refresh is tried. A first
    /// start (an empty cache) trusts it until then, even past the embedded TUF root's expiry.
    @Test("the embedded root is not trusted once the mirror could not be reached, nor in place of expired metadata on disk")
    func theEmbeddedRootIsNotAFallbackForAnUnreachableMirror() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        try await ConnaisseurVectors.push(to: registry, client: client)
        let policies = TemporaryDirectory(prefix: "signet-tuf-policies")
        try policies.write("keyless.yaml", Self.keylessPolicy(glob: KeylessVector.image(in: registry)))
        let reviews = TemporaryDirectory(prefix: "signet-tuf-reviews")
        let review = try PrivateTUFServeTests.review(for: ImageReference(parsing: KeylessVector.image(in: registry)), in: reviews)
        func serve(mirror: String, cache: TemporaryDirectory?, now: String) async throws -> SignetServerFixture {
            try await SignetServerFixture.start(policyDirectory: policies.path, arguments: [
                "--allow-insecure-registry", registry.host, "--sigstore-tuf", "--sigstore-tuf-mirror", mirror,
                "--sigstore-tuf-now-unsafe", now,
            ] + (cache.map { ["--sigstore-tuf-cache-dir", $0.path] } ?? []))
        }

        // No cache, and nothing listens at the mirror's address: the first refresh fails.
        let refused = try await serve(mirror: "http://127.0.0.1:\(FreePort.make())", cache: nil, now: Self.repositoryTime)
        let start = ContinuousClock.now
        while ContinuousClock.now - start < TestBudget.seconds(30), !refused.process.stderr.contains("TUF refresh of the Sigstore trusted root failed") {
            try await Task.sleep(for: .milliseconds(100))
        }
        let denied = try AdmissionAnswer(decoding: try await refused.review(review).body)
        #expect(!denied.allowed)
        #expect(denied.message.contains("Sigstore trust root is not current: no TUF refresh from http://127.0.0.1:"), "\(denied.message)")
        _ = try? await offThePool { refused.stop() }

        // A first start with an empty cache, the clock past the embedded TUF root's own expiry
        // (a refresh rotates from it all the same), a mirror that has not answered yet: nothing
        // an earlier run verified stands against the embedded root, which is in force.
        let quietPort = FreePort.make()
        let quiet = try TestProcess("python3", ["-c", """
            import socket, time
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", \(quietPort))); s.listen(64); time.sleep(120)
            """])
        defer { quiet.terminate() }
        #expect(try await offThePool { FreePort.waitUntilListening(quietPort) })
        let emptyCache = TemporaryDirectory(prefix: "signet-tuf-empty")
        let firstStart = try await serve(mirror: "http://127.0.0.1:\(quietPort)", cache: emptyCache, now: "2026-12-01T00:00:00Z")
        let embedded = try AdmissionAnswer(decoding: try await firstStart.review(review).body)
        #expect(embedded.allowed, "\(embedded.message)")
        _ = try? await offThePool { firstStart.stop() }

        // A run that kept the repository's metadata on disk ...
        let mirror = try Self.makeMirror()
        let port = FreePort.make()
        let mirrorServer = try TestProcess("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", mirror.path])
        #expect(try await offThePool { FreePort.waitUntilListening(port) })
        let cache = TemporaryDirectory(prefix: "signet-tuf-cache")
        let first = try await serve(mirror: "http://127.0.0.1:\(port)", cache: cache, now: Self.repositoryTime)
        while ContinuousClock.now - start < TestBudget.seconds(60), !first.process.stderr.contains("Sigstore trusted root from TUF in force") {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(first.process.stderr.contains("Sigstore trusted root from TUF in force"), "\(first.process.stderr.suffix(2000))")
        _ = try? await offThePool { first.stop() }
        mirrorServer.terminate()
        // ... restarts after the timestamp expired, with a mirror that accepts connections and
        // never answers (the first refresh is still waiting): denied at once, naming the expiry.
        let silent = try TestProcess("python3", ["-c", """
            import socket, time
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", \(port))); s.listen(64); time.sleep(120)
            """])
        defer { silent.terminate() }
        #expect(try await offThePool { FreePort.waitUntilListening(port) })
        let restarted = try await serve(mirror: "http://127.0.0.1:\(port)", cache: cache, now: "2026-08-29T00:00:00Z")
        let late = try AdmissionAnswer(decoding: try await restarted.review(review).body)
        #expect(!late.allowed)
        #expect(late.message.contains("Sigstore trust root is not current"), "\(late.message)")
        #expect(late.message.contains("expired"), "\(late.message)")
        _ = try? await offThePool {
            restarted.stop()
            registry.stop()
        }
    }
}
