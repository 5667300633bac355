import Foundation
import GRDB
import SignetTestSupport
import Testing

@testable import SignetHistory

@Suite struct SQLiteHistoryStoreTests {
    @Test func theQuerySuitePassesOnSQLite() async throws {
        let directory = TemporaryDirectory(prefix: "signet-history-sqlite")
        try await HistoryQueryChecks.run { name in
            try await SQLiteHistoryStore.open(path: directory.file("\(name).sqlite").path)
        }
    }

    @Test func imageFiltersSearchABoundedWindowPerPage() async throws {
        let directory = TemporaryDirectory(prefix: "signet-history-sqlite")
        let store = try await SQLiteHistoryStore.open(path: directory.file("window.sqlite").path)
        try await HistoryQueryChecks.checkScanWindow(store) { try await store.query($0, scanWindow: 4) }
        await store.close()
    }

    @Test func aReadPastTheTimeLimitIsStopped() async throws {
        let directory = TemporaryDirectory(prefix: "signet-history-sqlite")
        let path = directory.file("slow.sqlite").path
        let standard = try await SQLiteHistoryStore.open(path: path)
        let database = try DatabaseQueue(path: path)
        try await database.write { db in
            for statement in HistoryQueryChecks.fillWithOneDigest(100_000) { try db.execute(sql: statement) }
        }
        try database.close()
        let limited = try await SQLiteHistoryStore.open(path: path, readTimeLimit: .milliseconds(1))
        try await HistoryQueryChecks.checkReadTimeLimit(limited: limited, standard: standard)
        // Writes are not limited.
        try await limited.append([HistoryEntry(source: .admission, time: Date(timeIntervalSince1970: 2), namespace: "after", latencyMs: 1, allowed: true, images: [])])
        #expect(try await standard.query(HistoryQuery(namespace: "after")).entries.count == 1)
        await limited.close()
        await standard.close()
    }

    @Test func theSchemaVersionIsRecordedAndANewerOneIsRefused() async throws {
        let directory = TemporaryDirectory(prefix: "signet-history-sqlite")
        let path = directory.file("history.sqlite").path
        await (try await SQLiteHistoryStore.open(path: path)).close()
        let database = try DatabaseQueue(path: path)
        #expect(try await database.read { try Int.fetchAll($0, sql: "SELECT version FROM signet_history_schema") } == [HistorySchema.currentVersion])
        try await database.write { try $0.execute(sql: "UPDATE signet_history_schema SET version = 99") }
        try database.close()
        let error = await #expect(throws: HistoryStoreError.self) { try await SQLiteHistoryStore.open(path: path) }
        #expect(error?.description.contains("version 99, newer than this signet knows") == true)
    }

    /// What each entry takes is kept beside it (what a trim shares out by namespace); a
    /// database from before gets the column when opened, without rewriting its entries (they
    /// count as 1 KiB each).
    @Test func theBytesOfEachEntryAreKeptAndOlderEntriesAreLeftAsTheyAre() async throws {
        let directory = TemporaryDirectory(prefix: "signet-history-sqlite")
        let path = directory.file("stored.sqlite").path
        let store = try await SQLiteHistoryStore.open(path: path)
        let samples = HistoryQueryChecks.samples()
        try await store.append(Array(samples.prefix(2)))
        await store.close()
        let read = "SELECT stored_bytes FROM signet_history_entries ORDER BY id"
        let database = try DatabaseQueue(path: path)
        let written = try await database.read { try Int64.fetchAll($0, sql: read) }
        #expect(written == samples.prefix(2).map { Int64($0.bounded().estimatedByteCount) })
        try await database.write { try $0.execute(sql: "ALTER TABLE signet_history_entries DROP COLUMN stored_bytes") }
        try database.close()

        let reopened = try await SQLiteHistoryStore.open(path: path)
        try await reopened.append([samples[2]])
        await reopened.close()
        let again = try DatabaseQueue(path: path)
        #expect(try await again.read { try Int64.fetchAll($0, sql: read) } == [0, 0, Int64(samples[2].bounded().estimatedByteCount)])
        try again.close()
    }

    /// A page of denials only, or of one source's decisions, is read through an index of its
    /// own, newest first: without one, a console reader's `?decision=denied` read every entry
    /// of a history with few denials (about a second at a million entries).
    @Test func filtersByDecisionAndSourceUseAnIndex() async throws {
        let directory = TemporaryDirectory(prefix: "signet-history-sqlite")
        let path = directory.file("plans.sqlite").path
        let store = try await SQLiteHistoryStore.open(path: path)
        try await store.append(HistoryQueryChecks.samples())
        await store.close()
        let database = try DatabaseQueue(path: path)
        defer { try? database.close() }
        try await database.write { try $0.execute(sql: "ANALYZE") }
        let sql = HistorySQL(dialect: .sqlite)
        for (query, index) in [
            (HistoryQuery(allowed: false), "signet_history_entries_allowed"),
            (HistoryQuery(source: .console), "signet_history_entries_source"),
            (HistoryQuery(allowed: true, cursor: HistoryCursor(timeMicroseconds: 1, id: 1)), "signet_history_entries_allowed"),
        ] {
            let statement = try sql.selectEntries(query)
            let plan = try await database.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + statement.sql, arguments: SQLiteHistoryStore.arguments(statement.values))
                    .map { $0["detail"] as String }.joined(separator: "; ")
            }
            #expect(plan.contains("USING INDEX \(index)") || plan.contains("USING COVERING INDEX \(index)"), "\(query): \(plan)")
            #expect(!plan.contains("TEMP B-TREE"), "\(query) sorts: \(plan)")
        }
        // A cut by rows finds where a namespace's share ends in an index's order, without sorting.
        for (share, index) in [
            (HistoryShare.namespace("shop"), "signet_history_entries_namespace_sender"), (.unknownSenders, "signet_history_entries_sender"),
        ] {
            let cut = sql.boundaryBeyond(.only(share), keeping: 1)
            let plan = try await database.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + cut.sql, arguments: SQLiteHistoryStore.arguments(cut.values)).map { $0["detail"] as String }.joined(separator: "; ")
            }
            // Covering: the entries themselves are not read, however many of another share lie between.
            #expect(plan.contains("USING COVERING INDEX \(index)") && !plan.contains("TEMP B-TREE"), "\(share): \(plan)")
        }
    }

    @Test func aVersion1DatabaseIsMigrated() async throws {
        let directory = TemporaryDirectory(prefix: "signet-history-sqlite")
        try await HistoryQueryChecks.checkMigrationFromVersion1({ name in
            try await SQLiteHistoryStore.open(path: directory.file("\(name).sqlite").path)
        }, downgrade: { name in
            let database = try DatabaseQueue(path: directory.file("\(name).sqlite").path)
            try await database.write { db in
                for statement in HistoryQueryChecks.downgradeToVersion1 { try db.execute(sql: statement) }
            }
            try database.close()
        })
        let database = try DatabaseQueue(path: directory.file("migration.sqlite").path)
        #expect(try await database.read { try Int.fetchAll($0, sql: "SELECT version FROM signet_history_schema") } == [HistorySchema.currentVersion])
        try database.close()
    }

    @Test func anUnopenableFileIsAClearError() async throws {
        let error = await #expect(throws: HistoryStoreError.self) {
            try await SQLiteHistoryStore.open(path: "/nonexistent-signet-directory/history.sqlite")
        }
        #expect(error?.description.contains("/nonexistent-signet-directory/history.sqlite") == true)
    }
}

/// The row count alone does not bound the SQLite file: anyone who may create a Pod writes entries
/// of up to 128 KiB of images (dry runs too), and a file that outgrows its emptyDir's `sizeLimit`
/// gets the pod evicted, the history with it. With `maximumBytes`, the recorder trims the oldest
/// entries after every write: the file stays near the limit and the newest entries are kept.
@Suite("SQLite history size limit")
struct SQLiteHistorySizeTests {
    @Test func theFileStaysNearItsByteLimitKeepingTheNewest() async throws {
        let directory = TemporaryDirectory(prefix: "signet-history-size")
        let store = try SQLiteHistoryStore(path: directory.path + "/history.sqlite")
        var configuration = HistoryRecorderConfiguration()
        configuration.retention = HistoryRetention(maximumAge: nil, maximumEntries: nil, maximumBytes: 4 << 20)
        // About 800 KB each on disk (an image's text is indexed): a batch of at most 1 MiB of
        // their text, about six entries.
        configuration.maximumBatchBytes = 1 << 20
        let recorder = HistoryRecorder(store: store, storeName: "sqlite", configuration: configuration)
        let running = Task { await recorder.run() }
        let large = (0..<100).map { index in
            HistoryImageRecord(
                image: "ghcr.io/acme/app-\(index)-" + String(repeating: "a", count: 1000), reference: nil, digest: nil, container: "c\(index)",
                policies: [], authorities: [], verdict: "deny", reason: String(repeating: "r", count: 300), trustChain: "", exemptions: [])
        }
        for index in 0..<120 {
            recorder.record(HistoryEntry(
                source: .admission, time: Date(timeIntervalSince1970: 1_800_000_000 + Double(index)), namespace: "mallory", objectKind: "Pod",
                name: "dry-\(index)", user: "mallory", operation: "CREATE", dryRun: true, latencyMs: 1, allowed: false, reason: "denied",
                images: large))
        }
        recorder.finish()
        await running.value

        let attributes = try FileManager.default.attributesOfItem(atPath: directory.path + "/history.sqlite")
        let fileBytes = (attributes[.size] as? Int) ?? 0
        // The limit and at most one batch beyond it (about six entries of 800 KB on disk).
        #expect(fileBytes <= (4 << 20) + 8 * (1 << 20), "the file is \(fileBytes) bytes")
        #expect(fileBytes >= 1 << 20, "the file is \(fileBytes) bytes")
        let kept = try await store.query(HistoryQuery(limit: 1000)).entries
        #expect(kept.count < 120 && kept.count > 0, "\(kept.count) entries kept")
        #expect(kept.first?.name == "dry-119", "the newest is kept")
        #expect(recorder.statistics.dropped == 0)
        await store.close()
    }

    /// One namespace floods the history with large entries (dry runs of maximum size): the trim
    /// takes its own oldest entries, and the other namespaces, older as they are, keep theirs.
    @Test func aFloodingNamespaceLosesItsOwnEntriesFirst() async throws {
        let directory = TemporaryDirectory(prefix: "signet-history-size")
        let store = try SQLiteHistoryStore(path: directory.path + "/history.sqlite")
        let quiet = (0..<30).map { index in
            HistoryEntry(
                source: .admission, time: Date(timeIntervalSince1970: 1_800_000_000 + Double(index)), namespace: index % 2 == 0 ? "shop" : "billing",
                objectKind: "Pod", name: "pod-\(index)", user: "system:serviceaccount:kube-system:replicaset-controller", operation: "CREATE",
                latencyMs: 1, allowed: true, images: [HistoryQueryChecks.image("ghcr.io/acme/web:\(index)", verdict: "allow")])
        }
        try await store.append(quiet)
        let large = (0..<100).map { index in
            HistoryImageRecord(
                image: "ghcr.io/mallory/app-\(index)-" + String(repeating: "a", count: 1000), reference: nil, digest: nil, container: "c\(index)",
                policies: [], authorities: [], verdict: "deny", reason: String(repeating: "r", count: 300), trustChain: "", exemptions: [])
        }
        for batch in 0..<6 {
            try await store.append((0..<5).map { index in
                HistoryEntry(
                    source: .admission, time: Date(timeIntervalSince1970: 1_800_001_000 + Double(batch * 5 + index)), namespace: "mallory",
                    objectKind: "Pod", name: "dry-\(batch * 5 + index)", user: "mallory", operation: "CREATE", dryRun: true, latencyMs: 1,
                    allowed: false, reason: "denied", images: large)
            })
        }
        #expect(try await store.trim(toBytes: 4 << 20) > 0)
        let kept = try await store.query(HistoryQuery(limit: 1000)).entries
        #expect(kept.filter { $0.namespace != "mallory" }.count == 30, "the quiet namespaces keep every entry")
        let flooded = kept.filter { $0.namespace == "mallory" }.map(\.name)
        #expect(flooded.count < 30 && flooded.first == "dry-29", "mallory keeps its newest: \(flooded)")
        await store.close()
    }
}
