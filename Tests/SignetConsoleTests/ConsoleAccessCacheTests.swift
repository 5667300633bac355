import Foundation
import SignetKube
import Testing
@testable import SignetConsole

/// The console's cache of access answers evicts the answer stored longest ago: one stored again
/// after it expired is fresh, and goes last.
@Suite("Console access cache")
struct ConsoleAccessCacheTests {
    @Test func anAnswerStoredAgainAfterItExpiredIsEvictedLast() {
        let cache = ConsoleAccessCache(ttl: .seconds(10), capacity: 3)
        let start = ContinuousClock.now
        let answer = ConsoleAccessDecision.unauthenticated("no")
        cache.store(answer, for: "a", now: start)
        cache.store(answer, for: "b", now: start)
        #expect(cache.value(for: "a", now: start + .seconds(11)) == nil, "expired")
        cache.store(answer, for: "a", now: start + .seconds(12))
        cache.store(answer, for: "c", now: start + .seconds(12))
        cache.store(answer, for: "d", now: start + .seconds(12))
        #expect(cache.value(for: "a", now: start + .seconds(13)) != nil, "the fresh answer for a was evicted")
        #expect(cache.value(for: "b", now: start + .seconds(13)) == nil)
        #expect(cache.count == 3)
    }
}
