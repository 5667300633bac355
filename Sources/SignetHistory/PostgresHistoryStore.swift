import Foundation
import Logging
import PostgresNIO

/// The history in a PostgreSQL database, shared by every replica (postgres-nio's pooled client).
///
/// Opening the store creates or migrates the schema under a transaction-scoped advisory lock,
/// so replicas starting together migrate once. Queries and writes run on postgres-nio's event
/// loop; the async methods suspend until the server answers.
public final class PostgresHistoryStore: HistoryStore {
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger
    private let sql = HistorySQL(dialect: .postgres)
    /// The pool's connections, and how many of them reads may hold at once: the others stay
    /// for the recorder's writes and retention (``HistoryReadGate``).
    static let maximumConnections = 4
    static let readConnections = 2
    private let readers = HistoryReadGate(limit: readConnections)
    /// The advisory lock key held while migrating (`signet` in ASCII).
    static let migrationLock: Int64 = 0x7369_676E_6574

    /// How long one statement of a read may run (`statement_timeout`, set for the read's
    /// transaction only: the recorder's writes are not limited).
    let readTimeLimit: Duration

    private init(client: PostgresClient, runner: Task<Void, Never>, logger: Logger, readTimeLimit: Duration) {
        self.client = client
        self.runner = runner
        self.logger = logger
        self.readTimeLimit = readTimeLimit
    }

    /// Connects with `connection` and brings the schema up to date. The schema is migrated on a
    /// connection of its own first, so a wrong password or an unreachable server is an error at
    /// once, not after the pool's retries.
    public static func open(
        _ connection: PostgresConnectionString, logger: Logger = Logger(label: "signet.history.postgres"),
        readTimeLimit: Duration = HistoryReadTimeLimit.standard
    ) async throws -> PostgresHistoryStore {
        do {
            let direct = try await PostgresConnection.connect(configuration: try connection.connectionConfiguration(), id: 1, logger: logger)
            do {
                try await migrate(direct, logger: logger)
            } catch {
                try? await direct.close()
                throw error
            }
            try? await direct.close()
        } catch let error as HistoryStoreError {
            throw error
        } catch let error as PostgresTransactionError where error.closureError is HistoryStoreError {
            throw error.closureError!
        } catch {
            throw HistoryStoreError.database("cannot open the PostgreSQL history at \(connection.host):\(connection.port): \(String(reflecting: error))")
        }
        var configuration = connection.clientConfiguration()
        configuration.options.maximumConnections = Self.maximumConnections
        configuration.options.connectionIdleTimeout = .seconds(60)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        buildSupplementaryIndexes(connection, logger: logger)
        return PostgresHistoryStore(client: client, runner: Task { await client.run() }, logger: logger, readTimeLimit: readTimeLimit)
    }

    /// Builds ``HistorySchema/supplementaryIndexes(_:)`` in the background, on a connection of its
    /// own: `CONCURRENTLY` cannot run in a transaction and holds up no other replica's writes, and
    /// on a large table it takes longer than a start may (the history works without them, its
    /// pages filtered by decision or source reading more rows). An index a stopped build left
    /// invalid is dropped and built again; a failure is logged and tried again at the next start.
    @discardableResult
    static func buildSupplementaryIndexes(_ connection: PostgresConnectionString, logger: Logger) -> Task<Void, Never> {
        Task.detached {
            do {
                let direct = try await PostgresConnection.connect(configuration: try connection.connectionConfiguration(), id: 2, logger: logger)
                do {
                    for (name, statement) in HistorySchema.supplementaryIndexes(.postgres) {
                        var invalid = false
                        let check = "SELECT NOT i.indisvalid AS invalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = '\(name)'"
                        for try await row in try await direct.query(PostgresQuery(unsafeSQL: check), logger: logger) {
                            invalid = try row.makeRandomAccess()["invalid"].decode(Bool.self)
                        }
                        if invalid { try await direct.query(PostgresQuery(unsafeSQL: "DROP INDEX CONCURRENTLY IF EXISTS \(name)"), logger: logger) }
                        try await direct.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                } catch {
                    try? await direct.close()
                    throw error
                }
                try? await direct.close()
            } catch {
                logger.warning("could not build the history's indexes; pages filtered by decision or source read more rows until the next start builds them", metadata: [
                    "error": "\(String(reflecting: error))",
                ])
            }
        }
    }

    private static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "SELECT pg_advisory_xact_lock(\(Self.migrationLock))"), logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: HistorySchema.versionTable), logger: logger)
            var version = 0
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: "SELECT version FROM signet_history_schema"), logger: logger) {
                version = try row.makeRandomAccess()["version"].decode(Int.self)
            }
            for statement in try HistorySchema.pendingStatements(from: version, dialect: .postgres) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            for column in HistorySchema.supplementaryColumns {
                var exists = false
                for try await row in try await connection.query(PostgresQuery(unsafeSQL: HistorySchema.columnExists(column.name, .postgres)), logger: logger) {
                    exists = try row.makeRandomAccess()[0].decode(Int64.self) > 0
                }
                if !exists {
                    try await connection.query(PostgresQuery(unsafeSQL: HistorySchema.addColumn(column)), logger: logger)
                }
            }
        }
    }

    public func append(_ entries: [HistoryEntry]) async throws {
        guard !entries.isEmpty else { return }
        let sql = self.sql
        let logger = self.logger
        try await client.withTransaction(logger: logger) { connection in
            for entry in entries.map({ $0.bounded() }) {
                var id: Int64?
                for try await row in try await connection.query(Self.query(sql.insertEntry(entry)), logger: logger) {
                    id = try row.makeRandomAccess()["id"].decode(Int64.self)
                }
                guard let id else { throw HistoryStoreError.database("the history database returned no id for a new entry") }
                if let images = sql.insertImages(entry.images, entryID: id) {
                    try await connection.query(Self.query(images), logger: logger)
                }
            }
        }
    }

    public func query(_ query: HistoryQuery) async throws -> HistoryPage {
        try await self.query(query, scanWindow: HistorySQL.scanWindow)
    }

    /// ``query(_:)`` with a scan window of `scanWindow` entries (tests use a small one).
    func query(_ query: HistoryQuery, scanWindow: Int) async throws -> HistoryPage {
        try HistorySQL.check(query)
        return try await reading { connection in try await self.read(query, scanWindow: scanWindow, on: connection) }
    }

    /// Runs `read` in a transaction of its own whose statements stop at ``readTimeLimit``, once
    /// the ``HistoryReadGate`` lets it: a statement stopped there is a
    /// ``HistoryStoreError/readTimedOut(_:)``, any other failure the database's own error.
    private func reading<Result: Sendable>(_ read: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        let client = self.client, logger = self.logger, limit = readTimeLimit
        return try await readers.run {
            do {
                return try await client.withTransaction(logger: logger) { connection in
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(HistoryReadTimeLimit.milliseconds(limit))"), logger: logger)
                    return try await read(connection)
                }
            } catch let error as PostgresTransactionError {
                let cause = error.closureError ?? error.beginError ?? error.commitError
                // SQLSTATE 57014, query_canceled: what `statement_timeout` answers.
                if let server = cause as? PSQLError, server.serverInfo?[.sqlState] == "57014" {
                    throw HistoryStoreError.readTimedOut(limit)
                }
                throw cause ?? error
            }
        }
    }

    private func read(_ query: HistoryQuery, scanWindow: Int, on connection: PostgresConnection) async throws -> HistoryPage {
        var oldest: HistoryCursor?
        if HistorySQL.isWindowed(query) {
            for try await row in try await connection.query(Self.query(sql.windowBoundary(query, scanWindow: scanWindow)), logger: logger) {
                let cells = row.makeRandomAccess()
                oldest = HistoryCursor(timeMicroseconds: try cells["time_us"].decode(Int64.self), id: try cells["id"].decode(Int64.self))
            }
        }
        var entries: [HistoryEntry] = []
        for try await row in try await connection.query(Self.query(try sql.selectEntries(query, oldest: oldest)), logger: logger) {
            entries.append(try Self.entry(row.makeRandomAccess()))
        }
        var filler = HistoryPageFiller(entries: entries, limit: query.limit)
        while let ids = filler.nextChunk() {
            var byEntry: [Int64: [HistoryImageRecord]] = [:]
            for try await row in try await connection.query(Self.query(sql.selectImages(entryIDs: ids)), logger: logger) {
                let cells = row.makeRandomAccess()
                byEntry[try cells["entry_id"].decode(Int64.self), default: []].append(try Self.image(cells))
            }
            filler.attach(byEntry)
        }
        return filler.page(scanBoundary: oldest)
    }

    public func overview(_ query: HistoryOverviewQuery) async throws -> HistoryOverview {
        let query = try query.validated()
        return try await reading { connection in try await self.read(query, on: connection) }
    }

    private func read(_ query: HistoryOverviewQuery, on connection: PostgresConnection) async throws -> HistoryOverview {
        var buckets: [HistoryOverview.BucketRow] = []
        for try await row in try await connection.query(Self.query(sql.overviewBuckets(query)), logger: logger) {
            let cells = row.makeRandomAccess()
            buckets.append(HistoryOverview.BucketRow(
                index: try cells["bucket"].decode(Int64.self), decisions: try cells["decisions"].decode(Int64.self),
                denies: try cells["denies"].decode(Int64.self), cacheHits: try cells["hits"].decode(Int64.self),
                cacheMisses: try cells["misses"].decode(Int64.self), meanLatencyMs: try cells["mean_latency"].decode(Double?.self),
                maxLatencyMs: try cells["max_latency"].decode(Double?.self)))
        }
        var refused: [(String, Int64, Int64)] = []
        for try await row in try await connection.query(Self.query(sql.overviewRefused(query)), logger: logger) {
            let cells = row.makeRandomAccess()
            refused.append((try cells["refused"].decode(String.self), try cells["denies"].decode(Int64.self), try cells["last_us"].decode(Int64.self)))
        }
        return HistoryOverview.assemble(query, buckets: buckets, refused: refused)
    }

    @discardableResult
    public func applyRetention(_ retention: HistoryRetention, now: Date) async throws -> Int {
        let sql = self.sql
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            var deleted = 0
            if let cutoff = HistorySQL.ageCutoff(retention, now: now) {
                deleted += try await Self.run(sql.deleteThrough(timeMicroseconds: cutoff, id: nil), on: connection, logger: logger)
            }
            if let kept = retention.maximumEntries {
                var holdings: [HistoryHolding] = []
                for try await row in try await connection.query(Self.query(sql.holdings(.entries)), logger: logger) {
                    let cells = row.makeRandomAccess()
                    holdings.append(HistoryHolding(
                        share: HistoryShare(namespace: try cells["namespace"].decode(String?.self), fromAPIServer: try cells["known"].decode(Int64.self) != 0),
                        amount: try cells["amount"].decode(Int64.self)))
                }
                let total = holdings.reduce(Int64(0)) { $0 + $1.amount }
                // The oldest entries of the namespaces holding the most go first (``HistoryTrimShares``).
                let held = Dictionary(holdings.map { ($0.share, $0.amount) }, uniquingKeysWith: +)
                for cut in HistoryTrimShares.cuts(holdings, toFree: total - Int64(max(kept, 0))) {
                    let scope = HistoryShareScope.only(cut.share)
                    let beyond = sql.boundaryBeyond(scope, keeping: (held[cut.share] ?? 0) - cut.amount)
                    var boundary: (Int64, Int64)?
                    for try await row in try await connection.query(Self.query(beyond), logger: logger) {
                        let cells = row.makeRandomAccess()
                        boundary = (try cells["time_us"].decode(Int64.self), try cells["id"].decode(Int64.self))
                    }
                    if let (time, id) = boundary {
                        deleted += try await Self.run(sql.deleteThrough(timeMicroseconds: time, id: id, in: scope), on: connection, logger: logger)
                    }
                }
            }
            return deleted
        }
    }

    public func close() async {
        runner.cancel()
        _ = await runner.value
    }

    /// Runs `statements`; how many rows the last one (a DELETE) deleted.
    private static func run(_ statements: [HistoryStatement], on connection: PostgresConnection, logger: Logger) async throws -> Int {
        var affected = 0
        for (index, statement) in statements.enumerated() {
            guard index == statements.count - 1 else {
                try await connection.query(query(statement), logger: logger)
                continue
            }
            var counted = statement
            counted.sql = "WITH deleted AS (\(statement.sql) RETURNING 1) SELECT count(*) AS count FROM deleted"
            for try await row in try await connection.query(query(counted), logger: logger) {
                affected = Int(try row.makeRandomAccess()["count"].decode(Int64.self))
            }
        }
        return affected
    }

    private static func query(_ statement: HistoryStatement) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: statement.values.count)
        for value in statement.values {
            switch value {
            case .text(let text): bindings.append(text)
            case .integer(let integer): bindings.append(integer)
            case .real(let real): bindings.append(real)
            case .null: bindings.appendNull()
            }
        }
        return PostgresQuery(unsafeSQL: statement.sql, binds: bindings)
    }

    private static func entry(_ cells: PostgresRandomAccessRow) throws -> HistoryEntry {
        HistoryEntry(
            id: try cells["id"].decode(Int64.self),
            source: HistoryEntry.Source(rawValue: try cells["source"].decode(String.self)) ?? .admission,
            time: HistoryEntry.date(microseconds: try cells["time_us"].decode(Int64.self)),
            namespace: try cells["namespace"].decode(String?.self), objectKind: try cells["object_kind"].decode(String?.self),
            name: try cells["name"].decode(String?.self), user: try cells["user_name"].decode(String?.self),
            operation: try cells["operation"].decode(String?.self), dryRun: try cells["dry_run"].decode(Int64.self) != 0,
            uid: try cells["uid"].decode(String?.self), peer: try cells["peer"].decode(String?.self),
            clientCertificate: try cells["client_certificate"].decode(String?.self),
            fromAPIServer: try cells["from_api_server"].decode(Int64.self) != 0, latencyMs: try cells["latency_ms"].decode(Double.self),
            allowed: try cells["allowed"].decode(Int64.self) != 0, reason: try cells["reason"].decode(String?.self),
            policyRevision: try cells["policy_revision"].decode(String?.self),
            cacheHits: Int(try cells["cache_hits"].decode(Int64.self)), cacheMisses: Int(try cells["cache_misses"].decode(Int64.self)), images: [])
    }

    private static func image(_ cells: PostgresRandomAccessRow) throws -> HistoryImageRecord {
        HistoryImageRecord(
            image: try cells["image"].decode(String.self), reference: try cells["reference"].decode(String?.self),
            digest: try cells["digest"].decode(String?.self), container: try cells["container"].decode(String?.self),
            policies: HistorySQL.unwrappedList(try cells["policies"].decode(String.self)),
            authorities: HistorySQL.unwrappedList(try cells["authorities"].decode(String.self)),
            verdict: try cells["verdict"].decode(String.self), reason: try cells["reason"].decode(String.self),
            trustChain: try cells["trust_chain"].decode(String.self),
            exemptions: HistorySQL.unwrappedList(try cells["exemptions"].decode(String.self)))
    }
}
