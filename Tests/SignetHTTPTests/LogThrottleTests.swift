import SignetHTTP
import Testing

/// A warning a flood could repeat is logged the first time, then once per interval.
@Suite struct LogThrottleTests {
    @Test func theFirstEventAndThenOnePerIntervalAreLetThrough() {
        let throttle = LogThrottle(interval: .seconds(60))
        let start = ContinuousClock.now
        #expect(throttle.admits(at: start))
        #expect(!throttle.admits(at: start + .seconds(1)))
        #expect(!throttle.admits(at: start + .seconds(59)))
        #expect(throttle.admits(at: start + .seconds(60)))
        #expect(!throttle.admits(at: start + .seconds(119)), "the interval runs from the last one let through")
        #expect(throttle.admits(at: start + .seconds(120)))
    }
}
