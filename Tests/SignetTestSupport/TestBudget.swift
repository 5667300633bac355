import Foundation

/// How long tests wait for real peers (a registry, the signet server, a child process) before
/// they call it a hang.
///
/// These budgets catch hangs; they never time anything. They are generous, so the suite passes
/// on a machine fully busy with other work, and `SIGNET_TEST_TIME_SCALE` (a whole number, default
/// 1) multiplies every one of them for slower machines still. Tests of timeout behaviour use
/// their own short, fixed limits against peers that never answer, so they stay deterministic.
public enum TestBudget {
    /// `SIGNET_TEST_TIME_SCALE`, at least 1.
    public static let scale: Int = {
        guard let text = ProcessInfo.processInfo.environment["SIGNET_TEST_TIME_SCALE"], let value = Int(text), value > 1 else { return 1 }
        return value
    }()

    /// `base` seconds, scaled.
    public static func seconds(_ base: Int) -> Duration { .seconds(base * scale) }

    /// The end of a budget of `base` seconds (scaled) from now, for one registry or server operation.
    public static func deadline(_ base: Int = 120) -> ContinuousClock.Instant { .now + seconds(base) }
}

/// Runs blocking work (child processes, fixtures that poll) on a thread of its own, so that it
/// does not hold one of the few threads of Swift's cooperative pool (one per core) that every
/// other test running in parallel needs to resume: a test that blocks a pool thread starves the
/// others, and on a two-core machine their registry operations then miss their deadlines.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
