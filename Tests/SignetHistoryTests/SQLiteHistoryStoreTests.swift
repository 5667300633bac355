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
