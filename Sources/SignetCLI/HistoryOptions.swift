import ArgumentParser
import Foundation
import Logging
import SignetHistory

/// The flags that choose the verification history store, shared by `serve`, `verify` and
/// `history`, with their environment twins: an SQLite file (`--history-sqlite`) or a PostgreSQL
/// database whose connection URI is read from a file (`--history-postgres-dsn-file`, so it can
/// come from a mounted Secret).
struct HistoryOptions: ParsableArguments {
    @Option(name: .long, help: "Keep the verification history in this SQLite file (created when absent). (env: SIGNET_HISTORY_SQLITE)")
    var historySqlite: String?

    @Option(name: .long, help: "Keep the verification history in PostgreSQL: a file holding its URI, postgres://user:password@host:port/database?sslmode=verify-full. (env: SIGNET_HISTORY_POSTGRES_DSN_FILE)")
    var historyPostgresDsnFile: String?

    /// Where the history is, as the flags and environment say; nil when none is configured.
    enum Location: Sendable {
        case sqlite(path: String)
        case postgres(dsnFile: String)

        /// The `store` label of the history metrics.
        var storeName: String {
            switch self {
            case .sqlite: return "sqlite"
            case .postgres: return "postgres"
            }
        }
    }

    func location() throws -> Location? {
        let sqlite = EnvironmentOption.string(historySqlite, "SIGNET_HISTORY_SQLITE")
        let postgres = EnvironmentOption.string(historyPostgresDsnFile, "SIGNET_HISTORY_POSTGRES_DSN_FILE")
        switch (sqlite, postgres) {
        case (nil, nil): return nil
        case (let path?, nil): return .sqlite(path: path)
        case (nil, let file?): return .postgres(dsnFile: file)
        case (_?, _?): throw ValidationError("--history-sqlite and --history-postgres-dsn-file exclude each other: choose one history store")
        }
    }

    /// Opens the store at `location`, creating or migrating its schema.
    static func open(_ location: Location, logger: Logger) async throws -> any HistoryStore {
        switch location {
        case .sqlite(let path):
            return try await SQLiteHistoryStore.open(path: path)
        case .postgres(let file):
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw HistoryStoreError.invalidConfigurationFile("cannot read the PostgreSQL DSN file \(file): \(error.localizedDescription)")
            }
            return try await PostgresHistoryStore.open(try PostgresConnectionString(parsing: text), logger: logger)
        }
    }
}

/// How much history `signet serve` keeps: `--history-max-age` and `--history-max-rows`, with
/// their environment twins.
struct HistoryRetentionOptions: ParsableArguments {
    @Option(name: .long, help: "Delete history entries older than this. (env: SIGNET_HISTORY_MAX_AGE, default 720h)")
    var historyMaxAge: String?

    @Option(name: .long, help: "Keep at most this many history entries, the newest. (env: SIGNET_HISTORY_MAX_ROWS, default 1000000)")
    var historyMaxRows: Int?

    @Option(name: .long, help: "With --history-sqlite: keep the file's entries within this many bytes, deleting the oldest after each write (keep it well below the volume's size). At least 1 MiB. (env: SIGNET_HISTORY_MAX_BYTES, default no limit)")
    var historyMaxBytes: Int?

    /// `--history-max-age`, `--history-max-rows` and `--history-max-bytes`, checked.
    func retention() throws -> HistoryRetention {
        var retention = HistoryRetention()
        // Retention runs to months (the default and the chart's is 720h): up to ten years.
        retention.maximumAge = try EnvironmentOption.duration(
            historyMaxAge, "SIGNET_HISTORY_MAX_AGE", default: retention.maximumAge!, maximumSeconds: 10 * 365 * 86_400)
        retention.maximumEntries = try EnvironmentOption.int(historyMaxRows, "SIGNET_HISTORY_MAX_ROWS", default: retention.maximumEntries!)
        guard retention.maximumAge! > .zero else { throw ValidationError("--history-max-age must be positive") }
        guard retention.maximumEntries! > 0 else { throw ValidationError("--history-max-rows must be positive") }
        if historyMaxBytes != nil || EnvironmentOption.string(nil, "SIGNET_HISTORY_MAX_BYTES") != nil {
            let bytes = try EnvironmentOption.int(historyMaxBytes, "SIGNET_HISTORY_MAX_BYTES", default: 0)
            guard bytes >= 1 << 20 else { throw ValidationError("--history-max-bytes must be at least 1048576 (1 MiB)") }
            retention.maximumBytes = bytes
        }
        return retention
    }
}
