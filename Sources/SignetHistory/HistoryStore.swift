import Foundation

/// Where the verification history is kept (the signet design's "history store"): the same
/// writes, queries and retention over every backend. ``SQLiteHistoryStore`` keeps it in a file
/// (one replica); ``PostgresHistoryStore`` in a PostgreSQL database that replicas share.
///
/// Each store creates and migrates its schema when opened (``HistorySchema``). Its calls may
/// block on disk or the network; they run on threads the store owns (SQLite) or on its event
/// loop (PostgreSQL), never on Swift's cooperative pool. Admissions never wait for a store:
/// ``HistoryRecorder`` writes to it from a queue of its own.
public protocol HistoryStore: Sendable {
    /// Writes `entries` in one transaction, each within ``HistoryEntryBounds``; the store assigns their ids.
    func append(_ entries: [HistoryEntry]) async throws
    /// One page of the entries `query` selects, newest first.
    func query(_ query: HistoryQuery) async throws -> HistoryPage
    /// Decisions, denies, cache hit rate and latency per bucket of a time range, and the images
    /// refused most often in it.
    func overview(_ query: HistoryOverviewQuery) async throws -> HistoryOverview
    /// Deletes what `retention` no longer keeps at `now`; how many entries went.
    @discardableResult
    func applyRetention(_ retention: HistoryRetention, now: Date) async throws -> Int
    /// Deletes the oldest entries until the store takes at most `maximumBytes` of its disk,
    /// when it measures that (a local file); how many entries went. Cheap when under.
    @discardableResult
    func trim(toBytes maximumBytes: Int) async throws -> Int
    /// Releases the store's connections; no call may follow.
    func close() async
}

extension HistoryStore {
    /// A store on a server of its own (PostgreSQL) leaves its disk to that server's operators.
    public func trim(toBytes maximumBytes: Int) async throws -> Int { 0 }

    /// The entry `id` with its images, or nil when there is none (any more).
    public func entry(id: Int64) async throws -> HistoryEntry? {
        try await query(HistoryQuery(id: id, limit: 1)).entries.first
    }
}

/// How long one statement of a history read (a page, a decision, an overview) may run before the
/// store stops it and the read fails with a ``HistoryStoreError`` that says so. A page filtered
/// by a digest every Pod runs (a sidecar, the pause image) with a filter that matches none of
/// its entries, or an overview of a long range, reads rows for seconds on a large history; the
/// console's readers share at most two of PostgreSQL's connections (``HistoryReadGate``) and a
/// few of SQLite's, so a read without an end held them from every other reader.
public enum HistoryReadTimeLimit {
    /// The limit the stores use unless told otherwise: ten times what a page of a million-entry
    /// history takes through its indexes.
    public static let standard: Duration = .seconds(10)

    /// `limit` in whole milliseconds, at least 1 (PostgreSQL's `statement_timeout` unit; 0 there
    /// would mean no limit).
    static func milliseconds(_ limit: Duration) -> Int64 {
        let (seconds, attoseconds) = limit.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return Int64(Int32.max) }
        // PostgreSQL's setting is a 32-bit count of milliseconds.
        return min(max(1, whole + attoseconds / 1_000_000_000_000_000), Int64(Int32.max))
    }

    /// `limit` for a message: whole seconds as seconds, anything else in milliseconds.
    static func words(_ limit: Duration) -> String {
        let milliseconds = milliseconds(limit)
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }
}

/// How much history is kept: entries older than ``maximumAge`` and all but the newest
/// ``maximumEntries`` are deleted. Either may be absent (no limit of that kind). A local store
/// (SQLite) is also kept within ``maximumBytes`` after every write: the row count alone does not
/// bound the file, since anyone who may create a Pod writes an entry of up to
/// ``HistoryEntryBounds/maximumImageBytes`` of images (dry runs too), and a file that outgrows
/// its volume (an emptyDir's `sizeLimit`) gets the pod evicted.
public struct HistoryRetention: Sendable, Hashable {
    public var maximumAge: Duration?
    public var maximumEntries: Int?
    public var maximumBytes: Int?

    /// Secure defaults: 30 days, at most one million decisions.
    public init(maximumAge: Duration? = .seconds(30 * 24 * 3600), maximumEntries: Int? = 1_000_000, maximumBytes: Int? = nil) {
        self.maximumAge = maximumAge
        self.maximumEntries = maximumEntries
        self.maximumBytes = maximumBytes
    }
}

/// Why a history store could not do what it was asked.
public struct HistoryStoreError: Error, CustomStringConvertible, Sendable {
    enum Code: Sendable {
        case invalidQuery
        case schemaTooNew
        case invalidConfiguration
        case database
        case readTimedOut
    }

    let code: Code
    public let message: String

    public var description: String { message }

    static func invalidQuery(_ message: String) -> Self { .init(code: .invalidQuery, message: message) }
    static func schemaTooNew(_ found: Int) -> Self {
        .init(code: .schemaTooNew, message: "the history schema is version \(found), newer than this signet knows (\(HistorySchema.currentVersion)): upgrade signet")
    }
    static func invalidConfiguration(_ message: String) -> Self { .init(code: .invalidConfiguration, message: message) }
    /// A configuration file (the PostgreSQL DSN file, say) that cannot be read.
    public static func invalidConfigurationFile(_ message: String) -> Self { .init(code: .invalidConfiguration, message: message) }
    static func database(_ message: String) -> Self { .init(code: .database, message: message) }
    /// A read stopped at the store's ``HistoryReadTimeLimit``.
    static func readTimedOut(_ limit: Duration) -> Self {
        .init(code: .readTimedOut, message: "reading the history took longer than \(HistoryReadTimeLimit.words(limit)) and was stopped (the store's read time limit): narrow the query with a time range (since, until), a namespace, a decision or an image")
    }

    /// Whether this is a read stopped at the store's time limit.
    public var isReadTimeout: Bool { code == .readTimedOut }
}
