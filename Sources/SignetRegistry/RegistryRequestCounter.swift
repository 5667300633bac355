import NIOConcurrencyHelpers
import SignetHTTPClient

/// Counts the HTTP requests a piece of work sends to registries (token requests and retries
/// included), for tests, benchmarks and reports.
///
/// Installed as a task-local value, so it counts the requests of the task that installed it and
/// of its child tasks, whichever client sends them:
///
/// ```swift
/// let (digest, requests) = try await RegistryRequestCounter.counting {
///     try await client.resolve(reference, deadline: deadline).digest
/// }
/// ```
public final class RegistryRequestCounter: Sendable {
    private let count = NIOLockedValueBox(0)

    public init() {}

    /// Requests counted so far.
    public var value: Int { count.withLockedValue { $0 } }

    func increment() {
        count.withLockedValue { $0 += 1 }
    }

    @TaskLocal static var current: RegistryRequestCounter?

    /// Runs `body` and returns its result with the number of registry requests it sent.
    public static func counting<Result: Sendable>(
        _ body: () async throws -> Result
    ) async rethrows -> (result: Result, requests: Int) {
        let counter = RegistryRequestCounter()
        let result = try await $current.withValue(counter) { try await body() }
        return (result, counter.value)
    }
}
