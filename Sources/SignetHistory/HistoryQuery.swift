import Foundation

/// What to read from the history: filters that all must hold, and a page.
///
/// Image filters (`image`, `digest`, `policy`, `verdict`) hold for one and the same image of an
/// entry. `image` matches an image as written, its normalised reference, or its repository
/// (`registry/path` without tag or digest). Pages run newest first (by time, then by id) and a
/// ``HistoryCursor`` continues exactly after the last entry of the previous page, so entries
/// written meanwhile never shift a page.
public struct HistoryQuery: Sendable, Hashable {
    /// The most entries one page may hold.
    public static let maximumLimit = 1000

    /// The most entries a page reads to test image filters that no index serves (`image`,
    /// `policy`, `verdict` without `digest`): newest first from where the page starts, after
    /// the entry filters (namespace, decision, source, sender, time). A filter that matches rarely would
    /// otherwise read every entry of the history (about a second at a million entries in SQLite)
    /// for each page. With the window a page costs at most this many probes; when it finds too
    /// few matches it ends where the window did (``HistoryPage/searchedThrough``), and the next
    /// page searches on from there. A `digest` is found through its index, with the other image
    /// filters, and reads only the entries of that digest.
    public static let scanWindow = 50_000

    /// The times `since` and `until` may name: years 0001 to 9999, as RFC 3339 writes them.
    /// The stores keep times as whole microseconds since 1970 in 64 bits, which end in the
    /// year 294,247; a time outside this range is refused as a bad query, never converted.
    public static let supportedTimes: ClosedRange<Date> =
        Date(timeIntervalSince1970: -62_135_596_800)...Date(timeIntervalSince1970: 253_402_300_799)

    /// Why `time`, given as `name`, cannot be used in a query; nil when it can.
    public static func problem(with time: Date, name: String) -> String? {
        guard !supportedTimes.contains(time) else { return nil }
        return "\(name) must lie between the years 0001 and 9999"
    }

    /// The one entry with this id (``HistoryStore/entry(id:)``).
    public var id: Int64?
    public var image: String?
    public var digest: String?
    public var namespace: String?
    public var policy: String?
    /// `allow`, `deny`, `warn` or `audit` of one image.
    public var verdict: String?
    /// The decision as a whole: allowed or denied.
    public var allowed: Bool?
    public var source: HistoryEntry.Source?
    /// Whether the review came from the API server (``HistoryEntry/fromAPIServer``).
    public var fromAPIServer: Bool?

    /// The values of the `sender` filter (`signet history --sender`, the console's `sender`):
    /// `api-server` or `unknown`.
    public static let senders = ["api-server", "unknown"]

    /// ``fromAPIServer`` as the `sender` filter names it; nil for a value that is not one of ``senders``.
    public static func fromAPIServer(sender: String) -> Bool? {
        switch sender {
        case "api-server": return true
        case "unknown": return false
        default: return nil
        }
    }
    /// Entries at or after this time.
    public var since: Date?
    /// Entries before this time.
    public var until: Date?
    /// Entries per page, 1 to ``maximumLimit``.
    public var limit: Int
    /// Where the page starts: the previous page's ``HistoryPage/nextCursor``.
    public var cursor: HistoryCursor?

    public init(
        id: Int64? = nil, image: String? = nil, digest: String? = nil, namespace: String? = nil, policy: String? = nil, verdict: String? = nil,
        allowed: Bool? = nil, source: HistoryEntry.Source? = nil, fromAPIServer: Bool? = nil, since: Date? = nil, until: Date? = nil,
        limit: Int = 50, cursor: HistoryCursor? = nil
    ) {
        self.id = id
        self.image = image
        self.digest = digest
        self.namespace = namespace
        self.policy = policy
        self.verdict = verdict
        self.allowed = allowed
        self.source = source
        self.fromAPIServer = fromAPIServer
        self.since = since
        self.until = until
        self.limit = limit
        self.cursor = cursor
    }
}

/// The position after the last entry of a page: its time (microseconds) and id. Written as
/// `<microseconds>.<id>`, opaque to users.
public struct HistoryCursor: Sendable, Hashable, CustomStringConvertible {
    var timeMicroseconds: Int64
    var id: Int64

    init(timeMicroseconds: Int64, id: Int64) {
        self.timeMicroseconds = timeMicroseconds
        self.id = id
    }

    /// Reads a cursor as ``description`` writes it; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let time = Int64(parts[0]), let id = Int64(parts[1]), id >= 0 else { return nil }
        self.init(timeMicroseconds: time, id: id)
    }

    public var description: String { "\(timeMicroseconds).\(id)" }
}

/// One page of a query's answer, newest first.
public struct HistoryPage: Sendable, Hashable {
    public var entries: [HistoryEntry]
    /// Where the next page starts; nil when this page is the last.
    public var nextCursor: HistoryCursor?
    /// Set when image filters (`image`, `policy`, `verdict` without `digest`) were tested on a
    /// bounded window of entries (``HistorySQL/scanWindow``) that ended before the page was full:
    /// the time of the last entry searched. Older matches, if any, are on the next page, which
    /// searches on from there.
    public var searchedThrough: Date?

    public init(entries: [HistoryEntry], nextCursor: HistoryCursor?, searchedThrough: Date? = nil) {
        self.entries = entries
        self.nextCursor = nextCursor
        self.searchedThrough = searchedThrough
    }
}
