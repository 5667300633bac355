import Dispatch
import NIOConcurrencyHelpers

/// Waits until a deadline, and leaves nothing behind when the wait is cancelled first.
///
/// `Task.sleep(until:)` enqueues a wake-up job with the deadline and keeps it until the deadline
/// passes, even when the sleeping task was cancelled long before: racing every verification
/// against the admission deadline that way kept one such job per verification alive for the
/// whole deadline (10 s and more), which was most of the memory a busy server used. Here the
/// wait is a dispatch timer that cancellation cancels and releases at once.
enum DeadlineTimer {
    private static let queue = DispatchQueue(label: "signet.deadline-timer")

    /// Returns at `deadline`; throws `CancellationError` as soon as the task is cancelled.
    static func sleep(until deadline: ContinuousClock.Instant) async throws {
        let wait = Wait()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                wait.start(continuation, deadline: deadline, queue: queue)
            }
        } onCancel: {
            wait.cancel()
        }
    }

    /// One wait: the continuation and its timer, whichever of expiry and cancellation comes
    /// first resumes it.
    private final class Wait: Sendable {
        private struct State {
            var continuation: CheckedContinuation<Void, any Error>?
            var timer: Timer?
            var finished = false
        }

        /// `@unchecked Sendable`: dispatch sources may be cancelled from any thread.
        private struct Timer: @unchecked Sendable {
            let source: any DispatchSourceTimer
        }

        private let state = NIOLockedValueBox(State())

        func start(_ continuation: CheckedContinuation<Void, any Error>, deadline: ContinuousClock.Instant, queue: DispatchQueue) {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                continuation.resume()
                return
            }
            let (seconds, attoseconds) = remaining.components
            let timer: Timer? = state.withLockedValue { state in
                // Cancelled before the wait began: no timer at all.
                if state.finished { return nil }
                let source = DispatchSource.makeTimerSource(queue: queue)
                source.schedule(deadline: .now() + .nanoseconds(Int(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)))
                source.setEventHandler { [self] in finish(nil) }
                state.continuation = continuation
                state.timer = Timer(source: source)
                return state.timer
            }
            guard let timer else {
                continuation.resume(throwing: CancellationError())
                return
            }
            timer.source.resume()
        }

        func cancel() { finish(CancellationError()) }

        private func finish(_ error: (any Error)?) {
            let (continuation, timer) = state.withLockedValue { state in
                state.finished = true
                defer {
                    state.continuation = nil
                    state.timer = nil
                }
                return (state.continuation, state.timer)
            }
            timer?.source.cancel()
            guard let continuation else { return }
            if let error { continuation.resume(throwing: error) } else { continuation.resume() }
        }
    }
}
