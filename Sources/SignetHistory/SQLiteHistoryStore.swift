import Foundation
import GRDB
import GRDBSQLite

/// The history in an SQLite database file (the default: one replica, a file on a volume), through
/// GRDB over the system's libsqlite3.
///
/// The file is opened in WAL mode, so `signet history` can read while `signet serve` writes, with
/// a busy timeout for the moments the other process holds the write lock. Inside the process a
/// pool of connections (GRDB's `DatabasePool`) lets the console's queries read while the recorder
/// writes: a slow filtered query over a large history never holds decisions back from being
/// recorded. Every call runs on GRDB's dispatch queues, never on Swift's cooperative pool; the
/// async methods suspend until it is done. The schema is created or migrated when the store opens
/// (``HistorySchema``).
public final class SQLiteHistoryStore: HistoryStore {
    private let database: DatabasePool
    private let sql = HistorySQL(dialect: .sqlite)
    public let path: String
    /// How long one read may run before SQLite stops it (a progress handler that interrupts
    /// the read's connection past its deadline).
    let readTimeLimit: Duration

    /// Opens (creating when absent) the database at `path` and brings its schema up to date.
    /// Blocks the calling thread while it does: call it before serving, or from ``open(path:)``.
    public init(path: String, busyTimeout: TimeInterval = 5, readTimeLimit: Duration = HistoryReadTimeLimit.standard) throws {
        self.path = path
        self.readTimeLimit = readTimeLimit
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "signet.history.sqlite"
        configuration.prepareDatabase { db in
            // The write-ahead log is cut back to 64 MiB after each checkpoint (it otherwise keeps
            // the size of the largest batch ever written, beside the file's own size limit).
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
            // PostgreSQL's strpos(string, substring): the 1-based position of the substring, 0 when absent.
            db.add(function: DatabaseFunction("strpos", argumentCount: 2, pure: true) { values in
                guard let text = String.fromDatabaseValue(values[0]), let part = String.fromDatabaseValue(values[1]) else { return nil }
                guard let range = text.range(of: part) else { return 0 }
                return text.utf8.distance(from: text.startIndex, to: range.lowerBound) + 1
            })
        }
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try database.write { db in
                try db.execute(sql: HistorySchema.versionTable)
                let version = try Int.fetchOne(db, sql: "SELECT version FROM signet_history_schema") ?? 0
                for statement in try HistorySchema.pendingStatements(from: version, dialect: .sqlite) {
                    try db.execute(sql: statement)
                }
                for column in HistorySchema.supplementaryColumns where try Int.fetchOne(db, sql: HistorySchema.columnExists(column.name, .sqlite)) == 0 {
                    try db.execute(sql: HistorySchema.addColumn(column))
                }
                for index in HistorySchema.supplementaryIndexes(.sqlite) {
                    try db.execute(sql: index.statement)
                }
            }
        } catch let error as HistoryStoreError {
            throw error
        } catch {
            throw HistoryStoreError.database("cannot open the history database \(path): \(error)")
        }
    }

    /// ``init(path:busyTimeout:)`` on a thread of its own, for async callers.
    public static func open(path: String, readTimeLimit: Duration = HistoryReadTimeLimit.standard) async throws -> SQLiteHistoryStore {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try SQLiteHistoryStore(path: path, readTimeLimit: readTimeLimit) }) }
        }
    }

    /// Runs `read` on a reader connection, stopped once it has run for ``readTimeLimit``: SQLite
    /// calls a progress handler every thousand steps of its virtual machine, which interrupts
    /// the statement past the deadline (``HistoryStoreError/readTimedOut(_:)``).
    private func reading<Result: Sendable>(_ read: @escaping @Sendable (Database) throws -> Result) async throws -> Result {
        let limit = readTimeLimit
        return try await database.read { db in
            let deadline = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
            defer { deadline.deallocate() }
            let (nanoseconds, overflow) = UInt64(HistoryReadTimeLimit.milliseconds(limit)).multipliedReportingOverflow(by: 1_000_000)
            deadline.pointee = overflow ? .max : DispatchTime.now().uptimeNanoseconds &+ nanoseconds
            sqlite3_progress_handler(db.sqliteConnection, 1000, { context in
                guard let context else { return 0 }
                return DispatchTime.now().uptimeNanoseconds > context.assumingMemoryBound(to: UInt64.self).pointee ? 1 : 0
            }, deadline)
            defer { sqlite3_progress_handler(db.sqliteConnection, 0, nil, nil) }
            do {
                return try read(db)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_INTERRUPT && DispatchTime.now().uptimeNanoseconds > deadline.pointee {
                // An interrupt before the deadline is someone else's (a cancelled task's): not a timeout.
                throw HistoryStoreError.readTimedOut(limit)
            }
        }
    }

    public func append(_ entries: [HistoryEntry]) async throws {
        guard !entries.isEmpty else { return }
        let sql = self.sql
        try await database.write { db in
            for entry in entries.map({ $0.bounded() }) {
                let insert = sql.insertEntry(entry)
                guard let id = try Int64.fetchOne(db, sql: insert.sql, arguments: Self.arguments(insert.values)) else {
                    throw HistoryStoreError.database("the history database returned no id for a new entry")
                }
                if let images = sql.insertImages(entry.images, entryID: id) {
                    try db.execute(sql: images.sql, arguments: Self.arguments(images.values))
                }
            }
        }
    }

    public func query(_ query: HistoryQuery) async throws -> HistoryPage {
        try await self.query(query, scanWindow: HistorySQL.scanWindow)
    }

    /// ``query(_:)`` with a scan window of `scanWindow` entries (tests use a small one).
    func query(_ query: HistoryQuery, scanWindow: Int) async throws -> HistoryPage {
        let sql = self.sql
        try HistorySQL.check(query)
        let boundary = HistorySQL.isWindowed(query) ? sql.windowBoundary(query, scanWindow: scanWindow) : nil
        return try await reading { db -> HistoryPage in
            let oldest = try boundary.flatMap { boundary in
                try Row.fetchOne(db, sql: boundary.sql, arguments: Self.arguments(boundary.values)).map {
                    HistoryCursor(timeMicroseconds: $0["time_us"], id: $0["id"])
                }
            }
            let select = try sql.selectEntries(query, oldest: oldest)
            let entries = try Row.fetchAll(db, sql: select.sql, arguments: Self.arguments(select.values)).map(Self.entry)
            var filler = HistoryPageFiller(entries: entries, limit: query.limit)
            while let ids = filler.nextChunk() {
                let images = sql.selectImages(entryIDs: ids)
                var byEntry: [Int64: [HistoryImageRecord]] = [:]
                for row in try Row.fetchAll(db, sql: images.sql, arguments: Self.arguments(images.values)) {
                    let id: Int64 = row["entry_id"]
                    byEntry[id, default: []].append(Self.image(row))
                }
                filler.attach(byEntry)
            }
            return filler.page(scanBoundary: oldest)
        }
    }

    public func overview(_ query: HistoryOverviewQuery) async throws -> HistoryOverview {
        let query = try query.validated()
        let buckets = sql.overviewBuckets(query), refused = sql.overviewRefused(query)
        return try await reading { db in
            let bucketRows = try Row.fetchAll(db, sql: buckets.sql, arguments: Self.arguments(buckets.values)).map { row in
                HistoryOverview.BucketRow(
                    index: row["bucket"], decisions: row["decisions"], denies: row["denies"], cacheHits: row["hits"], cacheMisses: row["misses"],
                    meanLatencyMs: row["mean_latency"], maxLatencyMs: row["max_latency"])
            }
            let refusedRows = try Row.fetchAll(db, sql: refused.sql, arguments: Self.arguments(refused.values)).map { row -> (String, Int64, Int64) in
                (row["refused"], row["denies"], row["last_us"])
            }
            return HistoryOverview.assemble(query, buckets: bucketRows, refused: refusedRows)
        }
    }

    @discardableResult
    public func applyRetention(_ retention: HistoryRetention, now: Date) async throws -> Int {
        let sql = self.sql
        return try await database.write { db in
            var deleted = 0
            if let cutoff = HistorySQL.ageCutoff(retention, now: now) {
                for statement in sql.deleteThrough(timeMicroseconds: cutoff, id: nil) {
                    try db.execute(sql: statement.sql, arguments: Self.arguments(statement.values))
                }
                deleted += db.changesCount
            }
            if let kept = retention.maximumEntries {
                let holdings = try Self.holdings(db, sql: sql, .entries)
                let total = holdings.reduce(Int64(0)) { $0 + $1.amount }
                deleted += try Self.cut(db, sql: sql, holdings, toFree: total - Int64(max(kept, 0)), measure: .entries)
            }
            return deleted
        }
    }

    public func trim(toBytes maximumBytes: Int) async throws -> Int {
        let sql = self.sql
        // Measured on a reader first: no write transaction while under the limit.
        guard try await database.read({ try Self.usedBytes($0) }) > maximumBytes else { return 0 }
        return try await database.write { db in
            var deleted = 0
            // A tenth of what the entries take at a time, until under: a few rounds at most.
            for _ in 0..<32 {
                guard try Self.usedBytes(db) > maximumBytes else { break }
                let holdings = try Self.holdings(db, sql: sql, .bytes)
                let total = holdings.reduce(Int64(0)) { $0 + $1.amount }
                let round = try Self.cut(db, sql: sql, holdings, toFree: max(1, total / 10), measure: .bytes)
                guard round > 0 else { break }
                deleted += round
            }
            return deleted
        }
    }

    private static func holdings(_ db: Database, sql: HistorySQL, _ measure: HistoryTrimMeasure) throws -> [HistoryHolding] {
        let statement = sql.holdings(measure)
        return try Row.fetchAll(db, sql: statement.sql, arguments: arguments(statement.values)).map {
            HistoryHolding(share: HistoryShare(namespace: $0["namespace"], fromAPIServer: ($0["known"] as Int64) != 0), amount: $0["amount"])
        }
    }

    /// Deletes the oldest entries of the shares holding the most, until `toFree` in
    /// `measure` went (``HistoryTrimShares``); how many entries went.
    private static func cut(_ db: Database, sql: HistorySQL, _ holdings: [HistoryHolding], toFree: Int64, measure: HistoryTrimMeasure) throws -> Int {
        var deleted = 0
        let held = Dictionary(holdings.map { ($0.share, $0.amount) }, uniquingKeysWith: +)
        for cut in HistoryTrimShares.cuts(holdings, toFree: toFree) {
            let scope = HistoryShareScope.only(cut.share)
            let boundary = measure == .bytes
                ? sql.oldestBoundary(scope, reachingBytes: cut.amount)
                : sql.boundaryBeyond(scope, keeping: (held[cut.share] ?? 0) - cut.amount)
            guard let row = try Row.fetchOne(db, sql: boundary.sql, arguments: arguments(boundary.values)) else { continue }
            for statement in sql.deleteThrough(timeMicroseconds: row["time_us"], id: row["id"], in: scope) {
                try db.execute(sql: statement.sql, arguments: arguments(statement.values))
            }
            deleted += db.changesCount
        }
        return deleted
    }

    /// Pages in use (freed ones are reused, not given back): what the entries take.
    private static func usedBytes(_ db: Database) throws -> Int {
        let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
        let free = try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
        let size = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
        return (pages - free) * size
    }

    public func close() async {
        try? database.close()
    }

    static func arguments(_ values: [HistorySQLValue]) -> StatementArguments {
        StatementArguments(values.map { value -> (any DatabaseValueConvertible)? in
            switch value {
            case .text(let text): return text
            case .integer(let integer): return integer
            case .real(let real): return real
            case .null: return nil
            }
        })
    }

    private static func entry(_ row: Row) -> HistoryEntry {
        HistoryEntry(
            id: row["id"], source: HistoryEntry.Source(rawValue: row["source"]) ?? .admission,
            time: HistoryEntry.date(microseconds: row["time_us"]), namespace: row["namespace"], objectKind: row["object_kind"],
            name: row["name"], user: row["user_name"], operation: row["operation"], dryRun: (row["dry_run"] as Int64) != 0,
            uid: row["uid"], peer: row["peer"], clientCertificate: row["client_certificate"],
            fromAPIServer: (row["from_api_server"] as Int64) != 0, latencyMs: row["latency_ms"],
            allowed: (row["allowed"] as Int64) != 0, reason: row["reason"], policyRevision: row["policy_revision"],
            cacheHits: Int(row["cache_hits"] as Int64), cacheMisses: Int(row["cache_misses"] as Int64), images: [])
    }

    private static func image(_ row: Row) -> HistoryImageRecord {
        HistoryImageRecord(
            image: row["image"], reference: row["reference"], digest: row["digest"], container: row["container"],
            policies: HistorySQL.unwrappedList(row["policies"]), authorities: HistorySQL.unwrappedList(row["authorities"]),
            verdict: row["verdict"], reason: row["reason"], trustChain: row["trust_chain"],
            exemptions: HistorySQL.unwrappedList(row["exemptions"]))
    }
}
