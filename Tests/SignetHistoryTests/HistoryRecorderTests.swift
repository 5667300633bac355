import Foundation
import NIOConcurrencyHelpers
import SignetHistory
import SignetTestSupport
import Testing

@Suite struct HistoryRecorderTests {
    static func entry(_ minute: Int, namespace: String = "shop") -> HistoryEntry {
        HistoryEntry(
            source: .admission, time: HistoryQueryChecks.base.addingTimeInterval(Double(minute) * 60), namespace: namespace,
            objectKind: "Pod", name: "pod-\(minute)", latencyMs: 1, allowed: true,
            images: [HistoryImageRecord(image: "ghcr.io/acme/web:1.0", verdict: "allow", reason: "signed")])
    }

    /// Waits (bounded: a hang, not a time, fails the test) until `condition` holds.
    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = TestBudget.deadline(60)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestProcessError(message: "the condition never held") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// A recorder over a store that hangs, its writer already stuck writing a first entry of
    /// `bytes` in `namespace`: what is recorded next stays queued until the store is released.
    static func stuckRecorder(
        _ configuration: HistoryRecorderConfiguration, bytes: Int? = nil, namespace: String = "shop"
    ) async throws -> (store: BlockingHistoryStore, recorder: HistoryRecorder, writer: Task<Void, Never>) {
        let store = BlockingHistoryStore()
        let recorder = HistoryRecorder(store: store, storeName: "test", configuration: configuration)
        let writer = Task { await recorder.run() }
        let first = entry(0, namespace: namespace)
        recorder.record(estimatedBytes: bytes ?? first.estimatedByteCount, namespace: namespace, deferred: { first })
        try await waitUntil { store.startedWrites == 1 }
        return (store, recorder, writer)
    }

    @Test func entriesReachTheStoreInBatches() async throws {
        let directory = TemporaryDirectory(prefix: "signet-history-recorder")
        let store = try await SQLiteHistoryStore.open(path: directory.file("history.sqlite").path)
        var configuration = HistoryRecorderConfiguration()
        configuration.batchSize = 100
        configuration.retention = HistoryRetention(maximumAge: nil, maximumEntries: nil)
        let recorder = HistoryRecorder(store: store, storeName: "sqlite", configuration: configuration)
        let writer = Task { await recorder.run() }
        for minute in 0..<1200 { recorder.record(Self.entry(minute)) }
        recorder.finish()
        await writer.value
        #expect(recorder.statistics == HistoryRecorder.Statistics(written: 1200, dropped: 0, failedWrites: 0))
        let newest = try await store.query(HistoryQuery(limit: 1)).entries
        #expect(newest.first?.name == "pod-1199")
        // Recording after finish drops (and counts) instead of queueing forever.
        recorder.record(Self.entry(0))
        #expect(recorder.statistics.dropped == 1)
        await store.close()
    }

    /// A store that hangs: `record` returns at once, the queue holds its capacity, the rest is
    /// dropped and counted; once the store answers, what was queued is written.
    @Test func aBlockedStoreNeverHoldsUpRecording() async throws {
        var configuration = HistoryRecorderConfiguration()
        configuration.capacity = 5
        configuration.batchSize = 5
        let (store, recorder, writer) = try await Self.stuckRecorder(configuration)
        // The writer is stuck in the store; these return without waiting for it.
        for minute in 1...12 { recorder.record(Self.entry(minute)) }
        #expect(recorder.queued == 5)
        #expect(recorder.statistics.dropped == 7)
        store.release()
        recorder.finish()
        await writer.value
        #expect(store.takenEntries == 6)
        #expect(recorder.statistics == HistoryRecorder.Statistics(written: 6, dropped: 7, failedWrites: 0))
    }

    /// Reviews not known to come from the API server fill one share of the queue together,
    /// whatever namespaces they name: made-up reviews naming `shop` do not take `shop`'s share,
    /// and naming a new namespace each do not take a share each.
    @Test func reviewsFromUnknownSendersShareOneShareOfTheQueue() async throws {
        var configuration = HistoryRecorderConfiguration()
        configuration.capacity = 10
        configuration.batchSize = 20
        let (store, recorder, writer) = try await Self.stuckRecorder(configuration, namespace: "shop")
        for minute in 1...20 {
            var forged = Self.entry(minute, namespace: minute.isMultiple(of: 2) ? "shop" : "made-up-\(minute)")
            forged.fromAPIServer = false
            recorder.record(forged)
        }
        #expect(recorder.queued == 10 && recorder.statistics.dropped == 10)
        // The API server's reviews of `shop` take room from the unknown senders' share.
        for minute in 21...24 { recorder.record(Self.entry(minute, namespace: "shop")) }
        #expect(recorder.queued == 10 && recorder.statistics.dropped == 14)
        store.release()
        recorder.finish()
        await writer.value
        let names = store.taken.map(\.name)
        #expect(names == ["pod-0"] + (1...6).map { "pod-\($0)" } + (21...24).map { "pod-\($0)" }, "\(names)")
        #expect(store.taken.filter { !$0.fromAPIServer }.count == 6)
    }

    /// A namespace that floods while the store hangs fills its own share of the queue, not the
    /// others' history: the namespace holding the most makes room for another's entry (its
    /// newest queued entry goes), and its own new entries are dropped. The same holds for the
    /// queue's bytes.
    @Test func aFloodingNamespaceMakesRoomForTheOthers() async throws {
        var configuration = HistoryRecorderConfiguration()
        configuration.capacity = 10
        configuration.batchSize = 20
        let (store, recorder, writer) = try await Self.stuckRecorder(configuration, namespace: "flood")
        for minute in 1...30 { recorder.record(Self.entry(minute, namespace: "flood")) }
        #expect(recorder.queued == 10 && recorder.statistics.dropped == 20)
        for minute in 31...33 { recorder.record(Self.entry(minute, namespace: "quiet")) }
        #expect(recorder.queued == 10 && recorder.statistics.dropped == 23)
        // flood still holds the most (7 to 3): its new entries are the ones dropped.
        for minute in 34...36 { recorder.record(Self.entry(minute, namespace: "flood")) }
        #expect(recorder.queued == 10 && recorder.statistics.dropped == 26)
        // Cluster-scoped objects count as a namespace of their own.
        recorder.record(estimatedBytes: 100, namespace: nil, deferred: { Self.entry(37, namespace: "") })
        #expect(recorder.queued == 10 && recorder.statistics.dropped == 27)
        store.release()
        recorder.finish()
        await writer.value
        let names = store.taken.map(\.name)
        #expect(names == ["pod-0"] + (1...6).map { "pod-\($0)" } + ["pod-31", "pod-32", "pod-33", "pod-37"], "\(names)")

        // By bytes: flood's large entries make room for quiet's.
        configuration.capacity = 100
        configuration.maximumQueuedBytes = 40_000
        let (bytesStore, byBytes, bytesWriter) = try await Self.stuckRecorder(configuration, bytes: 1_000, namespace: "flood")
        for minute in 1...10 { byBytes.record(estimatedBytes: 10_000, namespace: "flood", deferred: { Self.entry(minute, namespace: "flood") }) }
        #expect(byBytes.queued == 3 && byBytes.statistics.dropped == 7)
        byBytes.record(estimatedBytes: 10_000, namespace: "quiet", deferred: { Self.entry(11, namespace: "quiet") })
        #expect(byBytes.queued == 3 && byBytes.statistics.dropped == 8)
        // An entry that would pass the bound beside the batch being written alone makes no room.
        byBytes.record(estimatedBytes: 39_500, namespace: "quiet", deferred: { Self.entry(12, namespace: "quiet") })
        #expect(byBytes.queued == 3 && byBytes.statistics.dropped == 9)
        bytesStore.release()
        byBytes.finish()
        await bytesWriter.value
        #expect(bytesStore.taken.map(\.name) == ["pod-0", "pod-1", "pod-2", "pod-11"])

        // Room is made only when the entry is then taken: `mid` (30 bytes) asking for 25 would
        // need two of `big`'s entries, and after the first `big` (50) no longer holds more than
        // `mid` would (55), so nothing is dropped but the new entry.
        configuration.maximumQueuedBytes = 100
        let (planStore, planned, plannedWriter) = try await Self.stuckRecorder(configuration, bytes: 1, namespace: "big")
        for minute in 1...6 { planned.record(estimatedBytes: 10, namespace: "big", deferred: { Self.entry(minute, namespace: "big") }) }
        for minute in 7...9 { planned.record(estimatedBytes: 10, namespace: "mid", deferred: { Self.entry(minute, namespace: "mid") }) }
        #expect(planned.queued == 9 && planned.queuedBytes == 91 && planned.statistics.dropped == 0)
        planned.record(estimatedBytes: 25, namespace: "mid", deferred: { Self.entry(10, namespace: "mid") })
        #expect(planned.queued == 9 && planned.queuedBytes == 91 && planned.statistics.dropped == 1)
        // `small` asking for 20 takes two of `big`'s newest.
        planned.record(estimatedBytes: 20, namespace: "small", deferred: { Self.entry(11, namespace: "small") })
        #expect(planned.queued == 8 && planned.queuedBytes == 91 && planned.statistics.dropped == 3)
        planStore.release()
        planned.finish()
        await plannedWriter.value
        #expect(planStore.taken.map(\.name) == ["pod-0", "pod-1", "pod-2", "pod-3", "pod-4", "pod-7", "pod-8", "pod-9", "pod-11"])

        // Room is made by 64 entries at most (the plan runs under the admissions' lock): an
        // entry that would need 79 of `big`'s small ones is dropped, and nothing else is.
        configuration.capacity = 1_000
        configuration.maximumQueuedBytes = 1_000
        let (capStore, capped, cappedWriter) = try await Self.stuckRecorder(configuration, bytes: 1, namespace: "big")
        for minute in 1...198 { capped.record(estimatedBytes: 5, namespace: "big", deferred: { Self.entry(minute, namespace: "big") }) }
        #expect(capped.queued == 198 && capped.statistics.dropped == 0)
        capped.record(estimatedBytes: 400, namespace: "small", deferred: { Self.entry(199, namespace: "small") })
        #expect(capped.queued == 198 && capped.statistics.dropped == 1)
        capStore.release()
        capped.finish()
        await cappedWriter.value
    }

    /// The queue's second bound: the estimated bytes of what it holds. An entry that finds the
    /// queue empty is taken whatever its size; after that, one that would pass the bound is
    /// dropped even though the entry bound is far away, and what the writer takes is counted off.
    @Test func theQueueIsBoundedByBytesToo() async throws {
        var configuration = HistoryRecorderConfiguration()
        configuration.capacity = 100
        configuration.batchSize = 1
        configuration.maximumQueuedBytes = 10_000
        let (store, recorder, writer) = try await Self.stuckRecorder(configuration)
        // The entry being written still counts until the store has it.
        let first = Self.entry(0).estimatedByteCount
        #expect(recorder.queued == 0 && recorder.queuedBytes == first)
        recorder.record(estimatedBytes: 10_000 - first, deferred: { Self.entry(1) })  // exactly at the bound: taken
        #expect(recorder.queued == 1 && recorder.queuedBytes == 10_000)
        recorder.record(estimatedBytes: 1, deferred: { Self.entry(2) })  // past the bound: dropped
        #expect(recorder.queued == 1 && recorder.statistics.dropped == 1)
        store.release()
        try await Self.waitUntil { recorder.queuedBytes == 0 }
        #expect(recorder.queued == 0)
        recorder.record(estimatedBytes: 50_000, deferred: { Self.entry(2) })  // nothing queued or being written: taken alone
        #expect(recorder.statistics.dropped == 1)
        try await Self.waitUntil { recorder.queuedBytes == 0 }
        for minute in 3..<8 { recorder.record(estimatedBytes: 4_000, deferred: { Self.entry(minute) }) }
        recorder.finish()
        await writer.value
        #expect(recorder.statistics.written + recorder.statistics.dropped == 9)
        // An entry's own estimate counts its text: a 100 KB image counts at least 100 KB.
        var large = Self.entry(9)
        large.images[0].image = "ghcr.io/acme/" + String(repeating: "a", count: 100_000)
        #expect(large.estimatedByteCount >= 100_000)
        #expect(Self.entry(9).estimatedByteCount < 2_000)
    }

    @Test func aFailingStoreDropsAndCountsTheBatch() async throws {
        let store = FailingHistoryStore()
        let recorder = HistoryRecorder(store: store, storeName: "test")
        let writer = Task { await recorder.run() }
        for minute in 0..<3 { recorder.record(Self.entry(minute)) }
        recorder.finish()
        await writer.value
        #expect(store.attemptedWrites >= 1)
        #expect(recorder.statistics.written == 0)
        #expect(recorder.statistics.dropped == 3)
        #expect(recorder.statistics.failedWrites == store.attemptedWrites)
        // Retention failing is logged and counted, never thrown.
        await recorder.applyRetention()
    }

    /// Retention at the recorder's clock: an injected time, not today's.
    @Test func retentionRunsAtTheInjectedClock() async throws {
        let directory = TemporaryDirectory(prefix: "signet-history-recorder")
        let store = try await SQLiteHistoryStore.open(path: directory.file("history.sqlite").path)
        try await store.append((0..<10).map { Self.entry($0) })
        let now = NIOLockedValueBox(HistoryQueryChecks.base.addingTimeInterval(12 * 60))
        var configuration = HistoryRecorderConfiguration()
        configuration.retention = HistoryRetention(maximumAge: .seconds(5 * 60), maximumEntries: 3)
        let recorder = HistoryRecorder(store: store, storeName: "sqlite", configuration: configuration, clock: { now.withLockedValue { $0 } })
        await recorder.applyRetention()
        // Minutes 7, 8 and 9 are within five minutes of minute 12 and within the newest three.
        #expect(HistoryQueryChecks.minutes(try await store.query(HistoryQuery()).entries) == [9, 8, 7])
        now.withLockedValue { $0 = HistoryQueryChecks.base.addingTimeInterval(13 * 60) }
        await recorder.applyRetention()
        #expect(HistoryQueryChecks.minutes(try await store.query(HistoryQuery()).entries) == [9, 8])
        await store.close()
    }
}
