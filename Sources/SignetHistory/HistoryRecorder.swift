import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import Synchronization

/// Writes history entries to a ``HistoryStore`` off the admission path (the signet design:
/// "audit event, metrics, history (off the admission clock)").
///
/// ``record(_:)`` only appends to a bounded queue under a lock and wakes the writer; it never
/// waits for the store. The queue is bounded twice: by entries, and by the bytes its entries'
/// text is estimated to take (an entry holds what the decision holds until the writer builds and
/// cuts it, and a decision of a large object can take megabytes: without the byte bound, a slow
/// store and a stream of large objects would grow the queue to the count bound times that). The writer (``run()``, one task) takes what has gathered, up to a batch,
/// and appends it in one transaction, so a busy server writes many entries per commit.
///
/// When the queue is full (the store is slow, blocked or failing), the namespace holding the
/// most of what is short (entries, or bytes) makes room: its newest queued entries are dropped
/// for the new one, each while it holds more than the new entry's namespace would with it (when
/// bytes are short, several entries, of several namespaces, may go, 64 at most); when no such
/// room can be made, the new entry is dropped and nothing else is. Whoever may create Pods in one namespace (denied creates and dry runs are entries
/// too) then fills only that namespace's share while the store is slow, not the other
/// namespaces' history, as the store's own cuts share by namespace (``HistoryTrimShares``);
/// reviews not known to come from the API server, whatever namespace they name, all fill one
/// share of their own (``HistoryShare/unknownSenders``).
/// Dropped entries are counted and logged at most once per
/// ``HistoryRecorderConfiguration/warningInterval``; a batch the store refuses is dropped the
/// same way. Retention runs every ``HistoryRecorderConfiguration/retentionInterval``
/// with the time of the injected clock.
///
/// Metrics (bounded labels): `signet_history_records_written_total{store}`,
/// `signet_history_records_dropped_total{reason="queue_full"|"queue_share"|"write_failed"}`
/// (`queue_share`: queued entries dropped to make room for another namespace's),
/// `signet_history_write_failures_total{store}`, `signet_history_write_duration_seconds{store}`,
/// `signet_history_queue_entries{store}`, `signet_history_queue_bytes{store}` (estimated),
/// `signet_history_retention_deleted_total{store}`,
/// `signet_history_retention_failures_total{store}`.
public final class HistoryRecorder: Sendable {
    public let store: any HistoryStore
    public let configuration: HistoryRecorderConfiguration
    private let clock: @Sendable () -> Date
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let wakeUp: AsyncStream<Void>.Continuation
    private let wakeUps: AsyncStream<Void>
    private let metrics: Instruments
    private let counts = Counts()

    private struct State {
        /// Entries not yet written, made when the writer takes them (off the admission path),
        /// with the bytes each was estimated to hold and the share it counts in (``HistoryShare``).
        var pending: [Pending] = []
        /// The sum of `pending`'s estimates and of the batch being written (until the store has
        /// it, the batch's entries are held here too).
        var pendingBytes = 0
        /// What each share holds of `pending` (not of the batch being written), and the
        /// sum of their bytes.
        var held: [HistoryShare: Holding] = [:]
        var queuedBytes = 0
        var finished = false
        var lastWarning: ContinuousClock.Instant?
        var droppedSinceWarning = 0

        struct Pending {
            var make: @Sendable () -> HistoryEntry
            var bytes: Int
            var share: HistoryShare
        }

        struct Holding {
            var entries = 0
            var bytes = 0
        }

        /// Queues `entry` within `capacity` entries and `maximumBytes` (an entry that finds
        /// nothing queued or being written is always taken), making room by dropping the newest
        /// entries of the namespace that holds the most of what is short, each time while it
        /// holds more than `entry`'s namespace would with `entry`; false when the entry itself
        /// is dropped, and then nothing else is. `evicted` counts the entries dropped for it.
        mutating func admit(_ entry: Pending, capacity: Int, maximumBytes: Int, evicted: inout Int) -> Bool {
            func fits(entries: Int, bytes: Int) -> Bool {
                entries < capacity && (bytes == 0 || bytes + entry.bytes <= maximumBytes)
            }
            if !fits(entries: pending.count, bytes: pendingBytes) {
                // The batch being written makes no room.
                let writingBytes = pendingBytes - queuedBytes
                if writingBytes > 0, writingBytes + entry.bytes > maximumBytes { return false }
                // Planned on copies first: room is made only if the entry is then taken.
                var entries = pending.count, bytes = pendingBytes, plan = held
                let own = held[entry.share] ?? Holding()
                var chosen: [Int] = []
                // Where each share's next newest entry is looked for (below its last one chosen).
                var searchEnd: [HistoryShare: Int] = [:]
                while !fits(entries: entries, bytes: bytes) {
                    // Planned under the lock the admissions take: a large entry that would need
                    // more room than a few entries make is dropped instead.
                    guard chosen.count < Self.maximumEvictionsPerEntry else { return false }
                    let byEntries = entries >= capacity
                    func measure(_ holding: Holding) -> Int { byEntries ? holding.entries : holding.bytes }
                    guard let (largest, holding) = plan.max(by: { measure($0.value) < measure($1.value) }), largest != entry.share,
                          measure(holding) > measure(own) + (byEntries ? 1 : entry.bytes),
                          let index = pending[..<(searchEnd[largest] ?? pending.endIndex)].lastIndex(where: { $0.share == largest })
                    else { return false }
                    searchEnd[largest] = index
                    chosen.append(index)
                    let bytesOff = pending[index].bytes
                    entries -= 1
                    bytes -= bytesOff
                    plan[largest]?.entries -= 1
                    plan[largest]?.bytes -= bytesOff
                    if plan[largest]?.entries == 0 { plan[largest] = nil }
                }
                let dropped = Set(chosen)
                for index in chosen { forget(pending[index]) }
                pending = pending.indices.compactMap { dropped.contains($0) ? nil : pending[$0] }
                pendingBytes = bytes
                evicted = chosen.count
            }
            pending.append(entry)
            pendingBytes += entry.bytes
            queuedBytes += entry.bytes
            held[entry.share, default: Holding()].entries += 1
            held[entry.share, default: Holding()].bytes += entry.bytes
            return true
        }

        /// The most queued entries dropped to make room for one.
        static let maximumEvictionsPerEntry = 64

        /// Counts `entry` off its namespace's holding (it left the queue; its bytes stay in
        /// `pendingBytes` while it is written).
        mutating func forget(_ entry: Pending) {
            queuedBytes -= entry.bytes
            held[entry.share]?.entries -= 1
            held[entry.share]?.bytes -= entry.bytes
            if held[entry.share]?.entries == 0 { held[entry.share] = nil }
        }
    }

    /// What the recorder has done so far (also in its metrics).
    public struct Statistics: Sendable, Hashable {
        public var written: Int
        public var dropped: Int
        public var failedWrites: Int

        public init(written: Int, dropped: Int, failedWrites: Int) {
            self.written = written
            self.dropped = dropped
            self.failedWrites = failedWrites
        }
    }

    private final class Counts: Sendable {
        let written = Atomic<Int>(0)
        let dropped = Atomic<Int>(0)
        let failedWrites = Atomic<Int>(0)
    }

    private struct Instruments: Sendable {
        let written: Counter
        let droppedQueueFull: Counter
        let droppedQueueShare: Counter
        let droppedWriteFailed: Counter
        let failures: Counter
        let duration: Metrics.Timer
        let depth: Gauge
        let depthBytes: Gauge
        let retentionDeleted: Counter
        let retentionFailures: Counter

        init(store: String) {
            written = Counter(label: "signet_history_records_written_total", dimensions: [("store", store)])
            droppedQueueFull = Counter(label: "signet_history_records_dropped_total", dimensions: [("reason", "queue_full")])
            droppedQueueShare = Counter(label: "signet_history_records_dropped_total", dimensions: [("reason", "queue_share")])
            droppedWriteFailed = Counter(label: "signet_history_records_dropped_total", dimensions: [("reason", "write_failed")])
            failures = Counter(label: "signet_history_write_failures_total", dimensions: [("store", store)])
            duration = Metrics.Timer(label: "signet_history_write_duration_seconds", dimensions: [("store", store)], preferredDisplayUnit: .seconds)
            depth = Gauge(label: "signet_history_queue_entries", dimensions: [("store", store)])
            depthBytes = Gauge(label: "signet_history_queue_bytes", dimensions: [("store", store)])
            retentionDeleted = Counter(label: "signet_history_retention_deleted_total", dimensions: [("store", store)])
            retentionFailures = Counter(label: "signet_history_retention_failures_total", dimensions: [("store", store)])
        }
    }

    /// A recorder writing to `store`, which `storeName` (`sqlite`, `postgres`) labels in metrics.
    public init(
        store: any HistoryStore, storeName: String, configuration: HistoryRecorderConfiguration = HistoryRecorderConfiguration(),
        clock: @escaping @Sendable () -> Date = { Date() }, logger: Logger = Logger(label: "signet.history")
    ) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.metrics = Instruments(store: storeName)
        (wakeUps, wakeUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `entry` for the writer; never waits. Dropped (and counted) when the queue is full
    /// or the recorder has finished.
    public func record(_ entry: HistoryEntry) {
        record(estimatedBytes: entry.estimatedByteCount, namespace: entry.namespace, fromAPIServer: entry.fromAPIServer, deferred: { entry })
    }

    /// Queues the entry `make` builds; the writer calls `make`, so what it costs is not spent
    /// on the caller's thread. `estimatedBytes` is what the closure holds until then (the text
    /// of the decision it captured). Never waits; dropped (and counted) like ``record(_:)``, and
    /// when the estimates of what is queued and being written would pass
    /// ``HistoryRecorderConfiguration/maximumQueuedBytes`` (an entry that finds nothing queued
    /// or being written is always taken). When the queue is full, the namespace holding the most
    /// of it makes room (see the type's documentation); `namespace` is the entry's (nil for a
    /// cluster-scoped object, which counts as a namespace of its own), and `fromAPIServer`
    /// false puts it in the one share of every review not known to come from the API server
    /// (``HistoryShare/unknownSenders``), whatever namespace it names.
    public func record(
        estimatedBytes: Int, namespace: String? = nil, fromAPIServer: Bool = true, deferred make: @escaping @Sendable () -> HistoryEntry
    ) {
        let entry = State.Pending(make: make, bytes: max(0, estimatedBytes), share: HistoryShare(namespace: namespace, fromAPIServer: fromAPIServer))
        var evicted = 0
        let accepted = state.withLockedValue { state -> Bool in
            guard !state.finished else { return false }
            return state.admit(entry, capacity: configuration.capacity, maximumBytes: configuration.maximumQueuedBytes, evicted: &evicted)
        }
        if evicted > 0 {
            drop(
                evicted, reason: "the history queue is full (the store is slow or failing): entries of the namespace holding the most of it made room",
                counter: metrics.droppedQueueShare)
        }
        guard accepted else {
            drop(1, reason: "the history queue is full (the store is slow or failing)", counter: metrics.droppedQueueFull)
            return
        }
        wakeUp.yield()
    }

    public var statistics: Statistics {
        Statistics(
            written: counts.written.load(ordering: .relaxed), dropped: counts.dropped.load(ordering: .relaxed),
            failedWrites: counts.failedWrites.load(ordering: .relaxed))
    }

    /// Entries queued and not yet handed to the store.
    public var queued: Int { state.withLockedValue { $0.pending.count } }

    /// The estimated bytes of the entries queued and of the batch being written.
    public var queuedBytes: Int { state.withLockedValue { $0.pendingBytes } }

    /// Writes queued entries until ``finish()``; runs retention on its interval meanwhile.
    /// Returns once everything queued before ``finish()`` was handed to the store.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            if configuration.retention.maximumAge != nil || configuration.retention.maximumEntries != nil {
                group.addTask {
                    while !Task.isCancelled {
                        await self.applyRetention()
                        try? await Task.sleep(for: self.configuration.retentionInterval)
                    }
                }
            }
            for await _ in wakeUps { await writePending() }
            await writePending()
            group.cancelAll()
        }
    }

    /// Stops accepting entries; ``run()`` returns after writing what is queued.
    public func finish() {
        state.withLockedValue { $0.finished = true }
        wakeUp.finish()
    }

    /// Keeps a local store within ``HistoryRetention/maximumBytes``, after every write: between
    /// two retention runs, a burst of large entries could otherwise outgrow the volume.
    private func trimToSize() async {
        guard let maximumBytes = configuration.retention.maximumBytes else { return }
        do {
            let deleted = try await store.trim(toBytes: maximumBytes)
            if deleted > 0 {
                metrics.retentionDeleted.increment(by: Int64(deleted))
                logger.info("history trimmed to its size limit", metadata: ["deleted": "\(deleted)", "max_bytes": "\(maximumBytes)"])
            }
        } catch {
            metrics.retentionFailures.increment()
            logger.warning("history size limit could not be applied", metadata: ["error": "\(error)"])
        }
    }

    /// Deletes what the retention no longer keeps, at the clock's time now.
    public func applyRetention() async {
        do {
            let deleted = try await store.applyRetention(configuration.retention, now: clock())
            if deleted > 0 {
                metrics.retentionDeleted.increment(by: Int64(deleted))
                logger.debug("history retention deleted entries", metadata: ["deleted": "\(deleted)"])
            }
        } catch {
            metrics.retentionFailures.increment()
            logger.warning("history retention failed", metadata: ["error": "\(error)"])
        }
    }

    private func writePending() async {
        while true {
            let (makers, batchBytes, left) = state.withLockedValue { state -> ([@Sendable () -> HistoryEntry], Int, (entries: Int, bytes: Int)) in
                // Up to the batch size, and up to the batch's bytes (the first entry always).
                var count = 0
                var bytes = 0
                for entry in state.pending.prefix(configuration.batchSize) {
                    guard count == 0 || bytes + entry.bytes <= configuration.maximumBatchBytes else { break }
                    count += 1
                    bytes += entry.bytes
                }
                let batch = state.pending.prefix(count)
                let makers = batch.map(\.make)
                for entry in batch { state.forget(entry) }
                state.pending.removeFirst(count)
                return (makers, bytes, (state.pending.count, state.pendingBytes))
            }
            let batch = makers.map { $0() }
            metrics.depth.record(left.entries)
            metrics.depthBytes.record(left.bytes)
            guard !batch.isEmpty else { return }
            let start = ContinuousClock.now
            do {
                try await store.append(batch)
                metrics.duration.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - start))
                metrics.written.increment(by: Int64(batch.count))
                counts.written.add(batch.count, ordering: .relaxed)
            } catch {
                metrics.failures.increment()
                counts.failedWrites.add(1, ordering: .relaxed)
                drop(batch.count, reason: "the history store refused a write: \(error)", counter: metrics.droppedWriteFailed)
            }
            // The batch's bytes leave the count once the store has the entries (or refused them),
            // before any trim, which can take a while and must not hold the queue's room.
            let bytes = state.withLockedValue { state -> Int in
                state.pendingBytes -= batchBytes
                return state.pendingBytes
            }
            metrics.depthBytes.record(bytes)
            await trimToSize()
        }
    }

    /// Counts `count` dropped entries and warns, at most once per warning interval.
    private func drop(_ count: Int, reason: String, counter: Counter) {
        counter.increment(by: Int64(count))
        counts.dropped.add(count, ordering: .relaxed)
        let now = ContinuousClock.now
        let dropped = state.withLockedValue { state -> Int? in
            state.droppedSinceWarning += count
            if let last = state.lastWarning, now - last < configuration.warningInterval { return nil }
            state.lastWarning = now
            defer { state.droppedSinceWarning = 0 }
            return state.droppedSinceWarning
        }
        if let dropped {
            logger.warning("history entries dropped; admissions go on", metadata: [
                "dropped": "\(dropped)", "reason": "\(reason)", "queue_capacity": "\(configuration.capacity)",
                "queue_capacity_bytes": "\(configuration.maximumQueuedBytes)",
            ])
        }
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// How a ``HistoryRecorder`` queues, batches and keeps history. Defaults: 10 000 entries or
/// 64 MiB of their estimated text queued, 500 (and 4 MiB) per transaction, retention checked every minute,
/// one drop warning per 10 seconds.
public struct HistoryRecorderConfiguration: Sendable {
    /// Entries queued at most; more are dropped.
    public var capacity = 10_000
    /// Estimated bytes of the queued entries (and of the batch being written) at most; more are
    /// dropped. A decision is estimated at a few kilobytes to tens of kilobytes (its images,
    /// reasons and verification steps), so with a hung store this bound is usually reached
    /// before the entry count.
    public var maximumQueuedBytes = 64 << 20
    /// Entries written per transaction at most.
    public var batchSize = 500
    /// Estimated bytes written per transaction at most (one entry always goes): a batch is what
    /// a local store may grow past ``HistoryRetention/maximumBytes`` before it is trimmed, and on
    /// disk an entry takes several times its text (the images' indexes).
    public var maximumBatchBytes = 4 << 20
    public var retention = HistoryRetention()
    public var retentionInterval: Duration = .seconds(60)
    /// At most one warning about dropped entries per this interval.
    public var warningInterval: Duration = .seconds(10)

    public init() {}
}
