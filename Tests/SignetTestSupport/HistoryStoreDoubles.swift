import Foundation
import NIOConcurrencyHelpers
import SignetHistory
import Synchronization

/// History store doubles for the recorder and admission tests.
///
/// A store whose writes wait until ``release()`` (a disk or database that hangs), counting the
/// writes that started and the entries it took.
public final class BlockingHistoryStore: HistoryStore {
    private let state = NIOLockedValueBox<(released: Bool, waiters: [CheckedContinuation<Void, Never>], started: Int, taken: [HistoryEntry])>(
        (false, [], 0, []))

    public init() {}

    public var startedWrites: Int { state.withLockedValue { $0.started } }
    public var takenEntries: Int { state.withLockedValue { $0.taken.count } }
    /// The entries taken, in order.
    public var taken: [HistoryEntry] { state.withLockedValue { $0.taken } }

    public func release() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.released = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    public func append(_ entries: [HistoryEntry]) async throws {
        await withCheckedContinuation { continuation in
            let released = state.withLockedValue { state -> Bool in
                state.started += 1
                state.taken += entries
                if !state.released { state.waiters.append(continuation) }
                return state.released
            }
            if released { continuation.resume() }
        }
    }

    public func query(_ query: HistoryQuery) async throws -> HistoryPage { HistoryPage(entries: [], nextCursor: nil) }
    public func overview(_ query: HistoryOverviewQuery) async throws -> HistoryOverview {
        HistoryOverview(since: query.since, until: query.until, bucketSeconds: 0, buckets: [], topRefused: [])
    }
    public func applyRetention(_ retention: HistoryRetention, now: Date) async throws -> Int { 0 }
    public func close() async {}
}

/// A store every write of which fails (a full or read-only disk).
public final class FailingHistoryStore: HistoryStore {
    public struct DiskFull: Error {}

    public init() {}
    private let attempts = Atomic<Int>(0)
    public var attemptedWrites: Int { attempts.load(ordering: .relaxed) }

    public func append(_ entries: [HistoryEntry]) async throws {
        attempts.add(1, ordering: .relaxed)
        throw DiskFull()
    }

    public func query(_ query: HistoryQuery) async throws -> HistoryPage { throw DiskFull() }
    public func overview(_ query: HistoryOverviewQuery) async throws -> HistoryOverview { throw DiskFull() }
    public func applyRetention(_ retention: HistoryRetention, now: Date) async throws -> Int { throw DiskFull() }
    public func close() async {}
}
