import Foundation
import SignetTestSupport
import Testing

@testable import SignetHistory

@Suite(.enabled(if: PostgresServerFixture.isAvailable, "Debian's postgresql is not installed: the PostgreSQL history tests are skipped"))
struct PostgresHistoryStoreTests {
    @Test func theQuerySuitePassesOnPostgreSQL() async throws {
        let server = try await PostgresServerFixture.start()
        defer { server.stop() }
        var created: Set<String> = []
        try await HistoryQueryChecks.run { name in
            if created.insert(name).inserted { try await offThePool { try server.createDatabase(name) } }
            return try await PostgresHistoryStore.open(try PostgresConnectionString(parsing: server.connectionString(database: name)))
        }
        // signet created and versioned its schema.
        let version = try await offThePool { try server.psql("SELECT version FROM signet_history_schema", database: "queries") }
        #expect(version.trimmingCharacters(in: .whitespacesAndNewlines) == "\(HistorySchema.currentVersion)")
        // ... and built the indexes of a page by decision or by source, valid, in the background.
        let names = HistorySchema.supplementaryIndexes(.postgres).map { "'\($0.name)'" }
        #expect(names.count == 4)
        let indexes = "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indisvalid AND c.relname IN (\(names.joined(separator: ", ")))"
        var built = ""
        for _ in 0..<200 {
            built = try await offThePool { try server.psql(indexes, database: "queries") }.trimmingCharacters(in: .whitespacesAndNewlines)
            if built == "\(names.count)" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(built == "\(names.count)", "the history's indexes were not built")

        // Image filters search a bounded window per page.
        try await offThePool { try server.createDatabase("window") }
        let windowed = try await PostgresHistoryStore.open(try PostgresConnectionString(parsing: server.connectionString(database: "window")))
        try await HistoryQueryChecks.checkScanWindow(windowed) { try await windowed.query($0, scanWindow: 4) }
        await windowed.close()

        // A read past the time limit is stopped; the limit holds for reads only.
        try await offThePool { try server.createDatabase("slow") }
        let slow = try PostgresConnectionString(parsing: server.connectionString(database: "slow"))
        let standard = try await PostgresHistoryStore.open(slow)
        _ = try await offThePool { try server.psql(HistoryQueryChecks.fillWithOneDigest(100_000).joined(separator: "; "), database: "slow") }
        let limited = try await PostgresHistoryStore.open(slow, readTimeLimit: .milliseconds(1))
        try await HistoryQueryChecks.checkReadTimeLimit(limited: limited, standard: standard)
        try await limited.append([HistoryEntry(source: .admission, time: Date(timeIntervalSince1970: 2), namespace: "after", latencyMs: 1, allowed: true, images: [])])
        #expect(try await standard.query(HistoryQuery(namespace: "after")).entries.count == 1)
        await limited.close()
        await standard.close()

        // A version 1 database is migrated.
        try await HistoryQueryChecks.checkMigrationFromVersion1({ name in
            if created.insert(name).inserted { try await offThePool { try server.createDatabase(name) } }
            return try await PostgresHistoryStore.open(try PostgresConnectionString(parsing: server.connectionString(database: name)))
        }, downgrade: { name in
            _ = try await offThePool { try server.psql(HistoryQueryChecks.downgradeToVersion1.joined(separator: "; "), database: name) }
        })
        let migrated = try await offThePool { try server.psql("SELECT version FROM signet_history_schema", database: "migration") }
        #expect(migrated.trimmingCharacters(in: .whitespacesAndNewlines) == "\(HistorySchema.currentVersion)")
        // ... and has `stored_bytes` again, its old entries at 0, the new one's estimate kept.
        let stored = try await offThePool { try server.psql("SELECT stored_bytes FROM signet_history_entries ORDER BY id", database: "migration") }
        let values = stored.split(whereSeparator: \.isNewline).compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        #expect(values.count == 3 && values.prefix(2) == [0, 0] && values[2] > 512, "stored_bytes: \(stored)")

        // A newer schema is refused, naming both versions.
        _ = try await offThePool { try server.psql("UPDATE signet_history_schema SET version = 99", database: "queries") }
        let error = await #expect(throws: HistoryStoreError.self) {
            try await PostgresHistoryStore.open(try PostgresConnectionString(parsing: server.connectionString(database: "queries")))
        }
        #expect(error?.description.contains("version 99, newer than this signet knows") == true)

        // A wrong password is a clear error, which does not repeat the password.
        let wrong = "postgres://\(server.user):not-the-password@127.0.0.1:\(server.port)/queries?sslmode=disable"
        let refused = await #expect(throws: HistoryStoreError.self) {
            try await PostgresHistoryStore.open(try PostgresConnectionString(parsing: wrong))
        }
        #expect(refused?.description.contains("127.0.0.1:\(server.port)") == true)
        #expect(refused?.description.contains("not-the-password") == false)
    }
}

@Suite struct PostgresConnectionStringTests {
    @Test func aURIIsRead() throws {
        let dsn = try PostgresConnectionString(parsing: "postgresql://signet:p%40ss@db.example:6432/history?sslmode=verify-full&sslrootcert=/etc/ca.pem\n")
        #expect(dsn.host == "db.example")
        #expect(dsn.port == 6432)
        #expect(dsn.user == "signet")
        #expect(dsn.password == "p@ss")
        #expect(dsn.database == "history")
        #expect(dsn.sslMode == "verify-full")
        #expect(dsn.rootCertificateFile == "/etc/ca.pem")
        let defaults = try PostgresConnectionString(parsing: "postgres://signet@db")
        #expect(defaults.port == 5432)
        #expect(defaults.sslMode == "prefer")
        #expect(defaults.database == nil)
    }

    @Test(arguments: [
        ("host=db user=signet", "must be a URI"),
        ("mysql://signet@db/history", "must be a URI"),
        ("postgres://db/history", "names no user"),
        ("postgres://signet:secret@db/history?sslmode=allow-anything", "sslmode must be one of"),
        ("postgres://signet:secret@db/history?connect_timeout=3", "connect_timeout is not supported"),
    ])
    func aBadDSNIsRefusedWithoutItsPassword(text: String, message: String) {
        let error = #expect(throws: HistoryStoreError.self) { try PostgresConnectionString(parsing: text) }
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("secret") == false)
    }
}
