import Foundation
import SignetPolicy
import Synchronization
import Testing

/// Steps deferred until read (a verdict from the verification cache) behave as listed ones:
/// the same steps, equal, hashed and encoded alike, and listed again once set.
struct VerificationStepsTests {
    /// Counts how often its steps are put together.
    final class Source: DeferredVerificationSteps {
        private let lists = Atomic<Int>(0)
        let steps: [VerificationStep]

        init(_ steps: [VerificationStep]) { self.steps = steps }

        var listCount: Int { lists.load(ordering: .relaxed) }

        var count: Int { steps.count }

        func list() -> [VerificationStep] {
            lists.add(1, ordering: .relaxed)
            return steps
        }
    }

    static let steps = [
        VerificationStep(name: "digest", passed: true, detail: "sha256:" + String(repeating: "a", count: 64)),
        VerificationStep(name: "signature", passed: true, detail: "verified with key SHA256:abc"),
    ]

    @Test func deferredStepsAreReadOnlyWhenAskedAndBehaveAsListed() throws {
        let source = Source(Self.steps)
        let deferred = AuthorityResult(authority: "release", status: .passed, reason: "signed", stepSource: .deferred(source), cache: .hit)
        let listed = AuthorityResult(authority: "release", status: .passed, reason: "signed", steps: Self.steps, cache: .hit)
        #expect(source.listCount == 0, "made without putting the steps together")
        #expect(deferred.steps == Self.steps)
        #expect(deferred == listed)
        #expect(deferred.hashValue == listed.hashValue)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(try encoder.encode(deferred) == encoder.encode(listed))
        // Different steps, however kept, are different results.
        var other = listed
        other.steps = [Self.steps[0]]
        #expect(deferred != other)
        // Set steps are listed.
        var changed = deferred
        changed.steps = [Self.steps[1]]
        guard case .listed(let now) = changed.stepSource else { Issue.record("set steps are not listed"); return }
        #expect(now == [Self.steps[1]])

        let verdict = AuthorityVerdict(passed: true, authority: "release", reason: "signed", stepSource: .deferred(source))
        #expect(verdict == AuthorityVerdict(passed: true, authority: "release", reason: "signed", steps: Self.steps))
        #expect(try encoder.encode(verdict) == encoder.encode(AuthorityVerdict(passed: true, authority: "release", reason: "signed", steps: Self.steps)))
    }

    /// A verdict reads back as it was written: a reason cut to the limit is not cut again.
    @Test func aVerdictWithALongReasonRoundTrips() throws {
        let verdict = AuthorityVerdict(passed: false, authority: "release", reason: String(repeating: "x", count: 10_000), steps: Self.steps)
        let decoded = try JSONDecoder().decode(AuthorityVerdict.self, from: try JSONEncoder().encode(verdict))
        #expect(decoded == verdict)
        #expect(decoded.reason == verdict.reason)
    }
}
