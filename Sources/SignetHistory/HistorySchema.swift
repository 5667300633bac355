/// The history's tables, one schema for SQLite and PostgreSQL, created and migrated by signet.
///
/// `signet_history_schema` holds one row: the version in force. Opening a store applies every
/// migration above it in one transaction; a version above ``currentVersion`` (written by a newer
/// signet) is refused rather than guessed at.
///
/// Versions: 1, the tables; 2, `cache_hits` and `cache_misses` per decision (what the console's
/// Overview charts as the cache hit rate; 0 in rows written before). Indexes added since
/// (``supplementaryIndexes(_:)``) take no version: an index changes no row, so an older signet
/// still opens a database that has them (a rollback does not stop the webhook).
///
/// Tables: `signet_history_entries` (one row per decision; `time_us` is microseconds since 1970)
/// and `signet_history_images` (one row per image of a decision; `policies`, `authorities` and
/// `exemptions` are newline-separated lists, `policies` wrapped in newlines so one policy is
/// matched exactly).
public enum HistorySchema {
    public static let currentVersion = 2

    /// The SQL dialect a backend speaks; only the id column and placeholders differ.
    enum Dialect: Sendable {
        case sqlite
        case postgres

        /// The `index`-th bound value (1-based).
        func placeholder(_ index: Int) -> String {
            switch self {
            case .sqlite: return "?"
            case .postgres: return "$\(index)"
            }
        }

        var identityColumn: String {
            switch self {
            case .sqlite: return "id INTEGER PRIMARY KEY AUTOINCREMENT"
            case .postgres: return "id BIGSERIAL PRIMARY KEY"
            }
        }
    }

    static let versionTable = "CREATE TABLE IF NOT EXISTS signet_history_schema (version INTEGER NOT NULL)"

    /// The statements that take the schema from version `index` to `index + 1`.
    static func migrations(_ dialect: Dialect) -> [[String]] {
        [
            [
                """
                CREATE TABLE signet_history_entries (
                    \(dialect.identityColumn),
                    source TEXT NOT NULL,
                    time_us BIGINT NOT NULL,
                    namespace TEXT,
                    object_kind TEXT,
                    name TEXT,
                    user_name TEXT,
                    operation TEXT,
                    dry_run BIGINT NOT NULL,
                    uid TEXT,
                    peer TEXT,
                    client_certificate TEXT,
                    latency_ms DOUBLE PRECISION NOT NULL,
                    allowed BIGINT NOT NULL,
                    reason TEXT,
                    policy_revision TEXT
                )
                """,
                "CREATE INDEX signet_history_entries_time ON signet_history_entries (time_us, id)",
                "CREATE INDEX signet_history_entries_namespace ON signet_history_entries (namespace, time_us)",
                """
                CREATE TABLE signet_history_images (
                    entry_id BIGINT NOT NULL REFERENCES signet_history_entries (id) ON DELETE CASCADE,
                    position BIGINT NOT NULL,
                    image TEXT NOT NULL,
                    reference TEXT,
                    repository TEXT NOT NULL,
                    digest TEXT,
                    container TEXT,
                    policies TEXT NOT NULL,
                    authorities TEXT NOT NULL,
                    verdict TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    trust_chain TEXT NOT NULL,
                    exemptions TEXT NOT NULL,
                    PRIMARY KEY (entry_id, position)
                )
                """,
                "CREATE INDEX signet_history_images_digest ON signet_history_images (digest)",
                "CREATE INDEX signet_history_images_repository ON signet_history_images (repository)",
            ],
            [
                "ALTER TABLE signet_history_entries ADD COLUMN cache_hits BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE signet_history_entries ADD COLUMN cache_misses BIGINT NOT NULL DEFAULT 0",
            ],
        ]
    }

    /// Indexes each store creates when missing, after the schema is up to date (and its
    /// ``supplementaryColumns`` added): on `allowed` and on `source`, each with the time, so a
    /// page of denials only, or of one source's decisions, reads those entries newest first
    /// instead of every entry until it has a page; and on `namespace` and `from_api_server`,
    /// and on `from_api_server`, with the time and id, the order in which a cut shared by
    /// namespace (``HistoryTrimShares``) finds where one share ends, without sorting it or
    /// reading the entries themselves. (`signet_history_entries_namespace_order`, on `namespace`
    /// alone, which signets before `from_api_server` made, is left as it is: such a signet,
    /// rolled back to, cuts with it.) PostgreSQL
    /// builds them `CONCURRENTLY` (outside a transaction), which does not hold up the other
    /// replicas' writes while a large table is indexed.
    static func supplementaryIndexes(_ dialect: Dialect) -> [(name: String, statement: String)] {
        let build = dialect == .postgres ? "CREATE INDEX CONCURRENTLY IF NOT EXISTS" : "CREATE INDEX IF NOT EXISTS"
        return [
            ("signet_history_entries_allowed", "allowed"), ("signet_history_entries_source", "source"),
            ("signet_history_entries_namespace_sender", "namespace, from_api_server"), ("signet_history_entries_sender", "from_api_server"),
        ].map { name, columns in
            (name, "\(build) \(name) ON signet_history_entries (\(columns), time_us, id)")
        }
    }

    /// Columns each store adds when missing, after the schema is up to date. Like an index a
    /// column with a default takes no version: it changes nothing an older signet reads or
    /// writes, so a rollback still opens the database. Adding one rewrites no row on either
    /// backend (a default is kept in the schema), so a start over a million entries is not
    /// held up.
    /// - `stored_bytes`: the bytes each entry was estimated to take when written
    ///   (``HistoryEntry/estimatedByteCount``: what a cut by bytes shares out by namespace,
    ///   ``HistoryTrimShares``). Entries already there (and those an older signet writes) keep
    ///   0 and count as 1 KiB each (``HistoryTrimMeasure``).
    /// - `from_api_server`: ``HistoryEntry/fromAPIServer``, 1 or 0. Entries already there (and
    ///   those an older signet writes) keep 1: an older signet took every review as the API server's.
    static let supplementaryColumns: [(name: String, definition: String)] = [
        ("stored_bytes", "BIGINT NOT NULL DEFAULT 0"),
        ("from_api_server", "BIGINT NOT NULL DEFAULT 1"),
    ]

    /// Whether `signet_history_entries` has the column `name` (one row, 1 or 0).
    static func columnExists(_ name: String, _ dialect: Dialect) -> String {
        switch dialect {
        case .sqlite:
            return "SELECT count(*) FROM pragma_table_info('signet_history_entries') WHERE name = '\(name)'"
        case .postgres:
            return "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'signet_history_entries' AND column_name = '\(name)'"
        }
    }

    /// Adds the supplementary column `column` (``supplementaryColumns``).
    static func addColumn(_ column: (name: String, definition: String)) -> String {
        "ALTER TABLE signet_history_entries ADD COLUMN \(column.name) \(column.definition)"
    }

    /// The statements to run on a database at schema `version` (0: none yet).
    static func pendingStatements(from version: Int, dialect: Dialect) throws -> [String] {
        guard version <= currentVersion else { throw HistoryStoreError.schemaTooNew(version) }
        var statements = migrations(dialect)[version...].flatMap { $0 }
        statements.append(version == 0
            ? "INSERT INTO signet_history_schema (version) VALUES (\(currentVersion))"
            : "UPDATE signet_history_schema SET version = \(currentVersion)")
        return version == currentVersion ? [] : statements
    }
}
