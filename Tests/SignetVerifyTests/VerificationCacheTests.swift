import Foundation
import NIOConcurrencyHelpers
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// A verifier double: counts calls, answers as scripted, and can hold every call until released.
final class CountingVerifier: SignatureVerifier, Sendable {
    let calls = NIOLockedValueBox(0)
    let passes: Bool
    private let gate: AsyncStream<Void>?
    private let release: AsyncStream<Void>.Continuation?
    private let called: AsyncStream<Void>
    private let calledContinuation: AsyncStream<Void>.Continuation

    init(passes: Bool = true, held: Bool = false) {
        self.passes = passes
        (called, calledContinuation) = AsyncStream<Void>.makeStream()
        if held {
            let (stream, continuation) = AsyncStream<Void>.makeStream()
            gate = stream
            release = continuation
        } else {
            gate = nil
            release = nil
        }
    }

    var format: SignatureFormat { SignatureFormat("test") }
    var callCount: Int { calls.withLockedValue { $0 } }

    func handles(_ authority: CompiledAuthority) -> Bool { true }

    func open() { release?.finish() }

    /// Returns once the first call has begun, without spinning on the cooperative pool (a busy
    /// machine would starve the very task being waited for).
    func firstCallBegan() async {
        var calls = called.makeAsyncIterator()
        _ = await calls.next()
    }

    func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
        calls.withLockedValue { $0 += 1 }
        calledContinuation.yield()
        if let gate { for await _ in gate {} }
        // Steps naming the image's repository and digest, as the verifiers' do: the cache keeps
        // them as templates and puts them together again for each image.
        let artifact = "\(request.image.name):sha256-\(request.digest.encoded).sig"
        return VerificationResult(
            image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
            format: format, passed: passes, reason: passes ? "signed" : "not signed", failure: passes ? nil : .noValidSignature,
            steps: [
                VerificationStep(name: "signature artifact", passed: true, detail: "\(artifact) fetched"),
                VerificationStep(name: "signature", passed: passes, detail: passes ? "verified" : "no signature of \(artifact) verified"),
            ])
    }
}

private let digestA = try! ImageDigest(parsing: "sha256:" + String(repeating: "a", count: 64))
private let digestB = try! ImageDigest(parsing: "sha256:" + String(repeating: "b", count: 64))

@Suite("Verification cache")
struct VerificationCacheTests {
    let client: RegistryClient
    let authority: CompiledAuthority

    init() throws {
        client = try RegistryClient()
        authority = keyAuthority([try trustedKey(file: ConnaisseurVectors.keyFile("alice"))])
    }

    func image(_ digest: ImageDigest) throws -> ImageReference {
        try ImageReference(parsing: "registry.invalid/app@\(digest)")
    }

    func engine(_ verifier: CountingVerifier, clock: ManualClock = ManualClock(), _ configuration: VerificationEngineConfiguration = .init()) -> VerificationEngine {
        VerificationEngine(registry: client, configuration: configuration, verifiers: [verifier], clock: clock.clock)
    }

    @Test func aSecondLookupIsAHitAndDigestPinnedImagesNeedNoRegistry() async throws {
        let verifier = CountingVerifier()
        let engine = engine(verifier)
        let (first, requests) = try await RegistryRequestCounter.counting {
            try await engine.verify(image: try image(digestA), authority: authority, policy: "p", revision: "1", deadline: deadline())
        }
        #expect(requests == 0)
        #expect(first.cache == .miss)
        let second = try await engine.verify(image: try image(digestA), authority: authority, policy: "p", revision: "1", deadline: deadline())
        #expect(second.cache == .hit)
        #expect(second.steps.contains { $0.name == "cache" })
        #expect(verifier.callCount == 1)
    }

    @Test func positiveAndNegativeResultsExpireAfterTheirTTLs() async throws {
        let clock = ManualClock()
        let configuration = VerificationEngineConfiguration(positiveTTL: .seconds(600), negativeTTL: .seconds(60))
        let passing = CountingVerifier(passes: true)
        let failing = CountingVerifier(passes: false)
        let positive = engine(passing, clock: clock, configuration)
        let negative = engine(failing, clock: clock, configuration)
        func run(_ engine: VerificationEngine) async throws -> CacheOutcome? {
            try await engine.verify(image: try image(digestA), authority: authority, policy: "p", revision: "1", deadline: deadline()).cache
        }
        #expect(try await run(positive) == .miss)
        #expect(try await run(negative) == .miss)
        clock.advance(by: .seconds(59))
        #expect(try await run(positive) == .hit)
        #expect(try await run(negative) == .hit)
        clock.advance(by: .seconds(2))
        #expect(try await run(positive) == .hit)
        #expect(try await run(negative) == .miss)
        clock.advance(by: .seconds(540))
        #expect(try await run(positive) == .miss)
        #expect(passing.callCount == 2)
        #expect(failing.callCount == 2)
    }

    @Test func leastRecentlyUsedIsEvictedWhenFull() async throws {
        let verifier = CountingVerifier()
        let engine = engine(verifier, VerificationEngineConfiguration(capacity: 2))
        let digestC = try ImageDigest(parsing: "sha256:" + String(repeating: "c", count: 64))
        func run(_ digest: ImageDigest) async throws -> CacheOutcome? {
            try await engine.verify(image: try image(digest), authority: authority, policy: "p", revision: "1", deadline: deadline()).cache
        }
        #expect(try await run(digestA) == .miss)
        #expect(try await run(digestB) == .miss)
        #expect(try await run(digestA) == .hit)   // B is now the least recently used
        #expect(try await run(digestC) == .miss)  // evicts B
        #expect(try await run(digestA) == .hit)
        #expect(try await run(digestB) == .miss)
    }

    @Test func concurrentLookupsShareOneVerification() async throws {
        let verifier = CountingVerifier(held: true)
        let engine = engine(verifier)
        let outcomes = await withTaskGroup(of: CacheOutcome?.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try? await engine.verify(image: try image(digestA), authority: authority, policy: "p", revision: "1", deadline: deadline()).cache
                }
            }
            // Let every lookup reach the cache before the verification finishes.
            await verifier.firstCallBegan()
            for _ in 0..<100 { await Task.yield() }
            verifier.open()
            var outcomes: [CacheOutcome?] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        #expect(verifier.callCount == 1)
        #expect(outcomes.filter { $0 == .miss }.count == 1)
        #expect(outcomes.allSatisfy { $0 == .miss || $0 == .joined || $0 == .hit })
    }

    /// A policy set holding `p`: every image, one key authority whose annotation `note` makes
    /// each `note` another revision; compiled as the loader does.
    func policySet(_ note: String = "one") throws -> PolicySet {
        let yaml = """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: p
            spec:
              images: [{glob: "**"}]
              authorities:
                - name: keys
                  key:
                    publicKeys: [{file: \(ConnaisseurVectors.keyFile("alice"))}]
                    annotations: {note: "\(note)"}
            """
        return try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(yaml.utf8))])
    }

    /// The policy `p` of ``policySet(_:)``.
    func compiledPolicy(_ note: String = "one") throws -> CompiledPolicy {
        try #require(try policySet(note)["p"])
    }

    @Test func cachedVerdictsAreAnsweredWithoutWaitingAsAHitWouldBe() async throws {
        let verifier = CountingVerifier(passes: false)
        let engine = engine(verifier)
        let policy = try compiledPolicy()
        let authority = policy.authorities[0]
        let pinned = try image(digestA)
        #expect(engine.cachedVerdict(image: pinned, authority: authority, policy: policy) == nil)
        _ = try await engine.verify(image: pinned, authority: authority, policy: policy, deadline: deadline())
        let cached = try #require(engine.cachedVerdict(image: pinned, authority: authority, policy: policy))
        let hit = try await engine.verify(image: pinned, authority: authority, policy: policy, deadline: deadline())
        #expect(cached == hit)
        #expect(!cached.passed)
        // The steps of a cached verdict are put together only when read: the same as a hit's.
        guard case .deferred = cached.stepSource else { Issue.record("a cached verdict's steps were listed at once"); return }
        #expect(cached.steps == hit.steps)
        #expect(cached.steps.map(\.name) == ["digest", "cache", "signature artifact", "signature"])
        #expect(cached.stepSource.count == cached.steps.count, "a deferred list counts what it lists")
        #expect(cached.steps[2].detail == "registry.invalid/app:sha256-\(digestA.encoded).sig fetched")
        #expect(cached.steps[0].detail == digestA.description)
        // Kept and compared, encoded and decoded like listed ones.
        let decoded = try JSONDecoder().decode(AuthorityVerdict.self, from: try JSONEncoder().encode(cached))
        #expect(decoded == cached)
        guard case .listed(let listed) = decoded.stepSource else { Issue.record("decoded steps are not listed"); return }
        #expect(listed == hit.steps)
        #expect(verifier.callCount == 1)
        // Another revision of the policy, another digest, or a tag not yet resolved: not cached.
        let edited = try compiledPolicy("two")
        #expect(engine.cachedVerdict(image: pinned, authority: edited.authorities[0], policy: edited) == nil)
        #expect(engine.cachedVerdict(image: try image(digestB), authority: authority, policy: policy) == nil)
        #expect(engine.cachedVerdict(image: try ImageReference(parsing: "registry.invalid/app:v1"), authority: authority, policy: policy) == nil)
    }

    @Test(.timeLimit(.minutes(5)))
    func aCancelledWaiterStopsWaitingAndTheVerificationGoesOn() async throws {
        let verifier = CountingVerifier(held: true)
        let engine = engine(verifier)
        let first = Task { try await engine.verify(image: try image(digestA), authority: authority, policy: "p", revision: "1", deadline: deadline()) }
        await verifier.firstCallBegan()
        let second = Task { try await engine.verify(image: try image(digestA), authority: authority, policy: "p", revision: "1", deadline: deadline()) }
        second.cancel()
        // The verification is still held: the cancelled caller must not be waiting for it.
        await #expect(throws: VerificationError.self) { try await second.value }
        verifier.open()
        #expect(try await first.value.cache == .miss)
        let third = try await engine.verify(image: try image(digestA), authority: authority, policy: "p", revision: "1", deadline: deadline())
        #expect(third.cache == .hit)
        #expect(verifier.callCount == 1)
    }

    @Test func aChangedPolicyDoesNotReuseResults() async throws {
        let verifier = CountingVerifier()
        let engine = engine(verifier)
        let before = try policySet("one")
        let policy = try #require(before["p"])
        _ = try await engine.verify(image: try image(digestA), authority: policy.authorities[0], policy: policy, deadline: deadline())
        _ = try await engine.verify(image: try image(digestA), authority: policy.authorities[0], policy: policy, deadline: deadline())
        #expect(verifier.callCount == 1)

        let after = try policySet("two")
        await engine.retain(after)
        let changed = try #require(after["p"])
        #expect(VerificationEngine.revision(of: changed) != VerificationEngine.revision(of: policy))
        _ = try await engine.verify(image: try image(digestA), authority: changed.authorities[0], policy: changed, deadline: deadline())
        #expect(verifier.callCount == 2)
        // The old revision's entry was dropped by retain, so going back verifies again.
        await engine.retain(before)
        _ = try await engine.verify(image: try image(digestA), authority: policy.authorities[0], policy: policy, deadline: deadline())
        #expect(verifier.callCount == 3)
    }

    @Test
    func tagsResolveOnceWithinTheirTTL() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let tagged = try ImageReference(parsing: "\(registry.host)/tags/app:v1")
        let first = try await TestRegistryImages(client: client).pushImage(tagged)
        let clock = ManualClock()
        let verifier = CountingVerifier()
        let engine = VerificationEngine(
            registry: client, configuration: VerificationEngineConfiguration(tagTTL: .seconds(30)), verifiers: [verifier], clock: clock.clock)
        func run() async throws -> (VerificationResult, Int) {
            try await RegistryRequestCounter.counting {
                try await engine.verify(image: tagged, authority: authority, policy: "p", revision: "1", deadline: deadline())
            }
        }
        let (resolved, requests) = try await run()
        #expect(resolved.digest == first)
        #expect(requests == 1)
        let (_, cachedRequests) = try await run()
        #expect(cachedRequests == 0)

        // The tag moves; within the TTL the old digest stands, after it the new one is seen.
        let second = try await TestRegistryImages(client: client).pushImage(tagged)
        clock.advance(by: .seconds(29))
        #expect(try await run().0.digest == first)
        clock.advance(by: .seconds(2))
        let (moved, movedRequests) = try await run()
        #expect(moved.digest == second)
        #expect(movedRequests == 1)
        #expect(verifier.callCount == 2)
        _ = try? await offThePool { registry.stop() }
    }
}
