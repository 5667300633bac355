import Foundation
import NIOConcurrencyHelpers
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetSigstore
import SignetTestSupport
import SignetVerify
import Testing

/// A trust root delivered through TUF is asked, at each decision, whether the metadata it was
/// verified under is still unexpired (freeze-attack protection, TUF specification sections
/// 5.4.4 to 5.6.5), and the policies' own TUF repositories follow the policy set in force.
@Suite("Trust roots from TUF at decision time", .serialized)
struct TrustRootFreshnessTests {
    @Test("a stale root fails the authority before any cached allow, and a refresh makes it pass again")
    func aStaleRootDeniesEvenACachedAllow() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        try await ConnaisseurVectors.push(to: registry, client: client)
        let production = [UInt8](try Data(contentsOf: SigstoreTUFServeTests.rootSigning.appendingPathComponent("targets/trusted_root.json")))
        // What the updater's freshness would say; the test moves it.
        let stale = NIOLockedValueBox<String?>(nil)
        let live = LiveTrustedRoot(.init(
            root: try TrustedRoot(json: production), digest: DigestAlgorithm.sha256.hexHash(production),
            origin: "TUF http://127.0.0.1:1 (targets version 14)", freshness: TrustRootFreshnessCheck { stale.withLockedValue { $0 } }))
        var loader = PolicyLoader()
        loader.liveTrustedRoot = live
        let policies = try loader.load(files: [PolicySourceFile(
            name: "keyless.yaml", bytes: Array(SigstoreTUFServeTests.keylessPolicy(glob: KeylessVector.image(in: registry)).utf8))])
        // The tag's digest is kept for the whole test: the cached allow looked up below must not
        // lapse with the tag on a machine slow enough to spend the default 30 s in one step.
        let engine = VerificationEngine(registry: client, configuration: VerificationEngineConfiguration(tagTTL: .seconds(3600)))
        await engine.retain(policies)
        let image = [ImageUse(image: KeylessVector.image(in: registry), container: "app")]
        let subject = AdmissionSubject(namespace: "default", kind: "Pod")
        let evaluator = PolicyEvaluator(policies: policies, noMatchAction: .deny, verifier: engine)
        func decide() async -> AdmissionDecision {
            await evaluator.evaluate(image, subject: subject, deadline: .now + .seconds(60))
        }
        let allowed = await decide()
        #expect(allowed.allowed, "\(allowed.denials)")
        let reference = try ImageReference(parsing: KeylessVector.image(in: registry))
        let policy = try #require(policies["keyless-philipp"])
        #expect(engine.cachedVerdict(image: reference, authority: policy.authorities[0], policy: policy)?.passed == true)

        // The metadata expired and the mirror cannot be reached: the same compiled policy, with
        // its allow still cached, now denies, naming why.
        let reason = "Sigstore trust root is stale: TUF timestamp metadata (version 762) of http://127.0.0.1:1 expired at 2026-08-28T19:25:56Z; refresh failing: fetch failed: connection refused"
        stale.withLockedValue { $0 = reason }
        let denied = await decide()
        #expect(!denied.allowed)
        #expect(denied.denials.joined().contains(reason), "\(denied.denials)")
        #expect(denied.denials.joined().contains("keyless-philipp"), "the deny names the policy: \(denied.denials)")

        // A refresh succeeded: the root is usable again, and the cached allow with it.
        stale.withLockedValue { $0 = nil }
        let again = await decide()
        #expect(again.allowed, "\(again.denials)")
        _ = try? await offThePool { registry.stop() }
    }

    @Test func rootsFromFilesAndTheEmbeddedRootCarryNoFreshnessCheck() throws {
        let set = try PolicyLoader().load(files: [PolicySourceFile(
            name: "keyless.yaml", bytes: Array(SigstoreTUFServeTests.keylessPolicy(glob: "**").utf8))])
        guard case .keyless(let trust) = set.policies[0].authorities[0].kind else { Issue.record("not keyless"); return }
        #expect(trust.freshness == nil)
        #expect(set.policies[0].authorities[0].staleTrustRootReason == nil)
    }

    /// Edited or removed policies unregister the repositories only they named: the runtime
    /// hears `unregistered` and stops that client, and a late root from it is not kept.
    @Test func theRepositoriesFollowThePolicySetInForce() async throws {
        let directory = TemporaryDirectory(prefix: "signet-policy-tuf-retain")
        let rootFile = try directory.write("root.json", #"{"signed":{"_type":"root"},"signatures":[]}"#).path
        let key = try await TestSigningKey.generate(.ecP256)
        let roots = PolicyTUFTrustRoots()
        var loader = PolicyLoader()
        loader.tufTrustRoots = roots
        var changes = roots.changes.makeAsyncIterator()
        func load(_ mirror: String) throws -> PolicySet {
            let text = PolicyTUFTrustRootTests.policy(glob: "**", keyFile: key.publicKeyFile, mirror: mirror, rootFile: rootFile)
            return try loader.load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(text.utf8))])
        }
        let first = try load("https://one.signet.test")
        let one = try #require(first.tufRepositories.first)
        #expect(first.tufRepositories.map(\.mirrorURL) == ["https://one.signet.test"])
        let change1 = await changes.next()
        #expect(change1 == .registered(one))
        #expect(roots.retain(only: first.tufRepositories).isEmpty, "the set in force names what is registered")

        // The policy is edited to name another mirror: once that set is in force, the first
        // repository is unregistered.
        let edited = try load("https://two.signet.test")
        let two = try #require(edited.tufRepositories.first)
        let change2 = await changes.next()
        #expect(change2 == .registered(two))
        #expect(roots.retain(only: edited.tufRepositories) == [.unregistered(one)])
        let change3 = await changes.next()
        #expect(change3 == .unregistered(one))
        #expect(roots.repositories == [two])
        let json = try await TestRekorLog.make().trustedRootJSON()
        let snapshot = LiveTrustedRoot.Snapshot(
            root: try TrustedRoot(json: Array(json.utf8)), digest: DigestAlgorithm.sha256.hexHash(Array(json.utf8)), origin: "TUF one")
        roots.publish(snapshot, for: one)
        #expect(roots.root(for: two) == nil && !roots.fingerprint.contains(one.identity), "a stopped client's root is not kept")

        // The policy is removed: nothing is left to keep current.
        #expect(roots.retain(only: PolicySet.empty.tufRepositories) == [.unregistered(two)])
        let change4 = await changes.next()
        #expect(change4 == .unregistered(two))
        #expect(roots.repositories.isEmpty)
    }
}
