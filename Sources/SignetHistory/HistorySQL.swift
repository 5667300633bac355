import Foundation

/// A value bound to a statement.
enum HistorySQLValue: Sendable, Hashable {
    case text(String)
    case integer(Int64)
    case real(Double)
    case null

    static func optional(_ text: String?) -> Self { text.map(Self.text) ?? .null }
    static func bool(_ value: Bool) -> Self { .integer(value ? 1 : 0) }
}

/// The values of a statement being written, each bound where its placeholder is placed
/// (`bind(value)` gives the placeholder), in the order they appear.
struct HistoryBindings {
    let dialect: HistorySchema.Dialect
    private(set) var values: [HistorySQLValue] = []

    init(dialect: HistorySchema.Dialect) {
        self.dialect = dialect
    }

    /// A text is bound with each NUL as U+FFFD (``HistoryEntryBounds/withoutNUL(_:)``): a
    /// search's value finds what was stored, and PostgreSQL, which refuses NUL in `text`, does
    /// not fail the query.
    mutating func callAsFunction(_ value: HistorySQLValue) -> String {
        if case .text(let text) = value { values.append(.text(HistoryEntryBounds.withoutNUL(text))) } else { values.append(value) }
        return dialect.placeholder(values.count)
    }
}

/// A statement and its bound values, in the backend's dialect.
struct HistoryStatement: Sendable {
    var sql: String
    var values: [HistorySQLValue]
}

/// The statements both backends run: the same SQL, with only placeholders and the id column
/// differing (``HistorySchema/Dialect``), so a query selects the same entries on each.
struct HistorySQL: Sendable {
    let dialect: HistorySchema.Dialect

    static let entryColumns = [
        "source", "time_us", "namespace", "object_kind", "name", "user_name", "operation", "dry_run", "uid", "peer",
        "client_certificate", "latency_ms", "allowed", "reason", "policy_revision", "cache_hits", "cache_misses", "from_api_server",
    ]
    static let imageColumns = [
        "entry_id", "position", "image", "reference", "repository", "digest", "container", "policies", "authorities", "verdict",
        "reason", "trust_chain", "exemptions",
    ]

    private func placeholders(_ count: Int, from first: Int = 1) -> String {
        (first..<(first + count)).map(dialect.placeholder).joined(separator: ", ")
    }

    /// Inserts one entry (within its bounds) and returns its id.
    func insertEntry(_ entry: HistoryEntry) -> HistoryStatement {
        let values: [HistorySQLValue] = [
            .text(entry.source.rawValue), .integer(entry.timeMicroseconds), .optional(entry.namespace), .optional(entry.objectKind),
            .optional(entry.name), .optional(entry.user), .optional(entry.operation), .bool(entry.dryRun), .optional(entry.uid),
            .optional(entry.peer), .optional(entry.clientCertificate), .real(entry.latencyMs), .bool(entry.allowed),
            .optional(entry.reason), .optional(entry.policyRevision), .integer(Int64(entry.cacheHits)), .integer(Int64(entry.cacheMisses)),
            .bool(entry.fromAPIServer),
        ]
        // What the entry takes, for a cut shared by namespace (``HistoryTrimShares``).
        let stored = values + [.integer(Int64(entry.estimatedByteCount))]
        return HistoryStatement(
            sql: "INSERT INTO signet_history_entries (\((Self.entryColumns + ["stored_bytes"]).joined(separator: ", "))) VALUES (\(placeholders(stored.count))) RETURNING id",
            values: stored)
    }

    /// Inserts the images of the entry `id`.
    func insertImages(_ images: [HistoryImageRecord], entryID id: Int64) -> HistoryStatement? {
        guard !images.isEmpty else { return nil }
        var values: [HistorySQLValue] = []
        var rows: [String] = []
        for (position, image) in images.enumerated() {
            rows.append("(\(placeholders(Self.imageColumns.count, from: values.count + 1)))")
            values += [
                .integer(id), .integer(Int64(position)), .text(image.image), .optional(image.reference), .text(image.repository),
                .optional(image.digest), .optional(image.container), .text(Self.wrappedList(image.policies)),
                .text(image.authorities.joined(separator: "\n")), .text(image.verdict), .text(image.reason), .text(image.trustChain),
                .text(image.exemptions.joined(separator: "\n")),
            ]
        }
        return HistoryStatement(
            sql: "INSERT INTO signet_history_images (\(Self.imageColumns.joined(separator: ", "))) VALUES \(rows.joined(separator: ", "))",
            values: values)
    }

    /// `\na\nb\n`: every name between newlines, so finding one name exactly is a substring
    /// test on `\nname\n` (`strpos`, PostgreSQL's function, which the SQLite store defines too).
    static func wrappedList(_ names: [String]) -> String {
        names.isEmpty ? "" : "\n" + names.joined(separator: "\n") + "\n"
    }

    static func unwrappedList(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init)
    }

    /// The most entries a windowed page reads (``HistoryQuery/scanWindow``).
    static let scanWindow = HistoryQuery.scanWindow

    /// Whether a page of `query` reads at most ``scanWindow`` entries: it has image filters and
    /// none of them is a `digest` (found through its index, with the other image filters, so
    /// only the entries of that digest are read).
    static func isWindowed(_ query: HistoryQuery) -> Bool {
        query.digest == nil && hasImageFilter(query)
    }

    /// The query of one page's entries (one more than the limit, to know whether another page
    /// follows), without their images. `oldest`, for a windowed query, is the last entry the
    /// window takes in (``windowBoundary(_:scanWindow:)``).
    func selectEntries(_ query: HistoryQuery, oldest: HistoryCursor? = nil) throws -> HistoryStatement {
        try Self.check(query)
        var bind = HistoryBindings(dialect: dialect)
        var conditions = Self.entryConditions(query, bind: &bind)
        if let oldest {
            let time = bind(.integer(oldest.timeMicroseconds))
            let timeAgain = bind(.integer(oldest.timeMicroseconds))
            conditions.append("(e.time_us > \(time) OR (e.time_us = \(timeAgain) AND e.id >= \(bind(.integer(oldest.id)))))")
        }
        let images = Self.imageConditions(query, bind: &bind)
        if !images.isEmpty {
            let test = images.joined(separator: " AND ")
            conditions.append(query.digest != nil
                ? "e.id IN (SELECT i.entry_id FROM signet_history_images i WHERE \(test))"
                : "EXISTS (SELECT 1 FROM signet_history_images i WHERE i.entry_id = e.id AND \(test))")
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        let columns = (["id"] + Self.entryColumns).map { "e.\($0)" }.joined(separator: ", ")
        return HistoryStatement(
            sql: "SELECT \(columns) FROM signet_history_entries e\(filter) ORDER BY e.time_us DESC, e.id DESC LIMIT \(bind(.integer(Int64(query.limit + 1))))",
            values: bind.values)
    }

    /// Refuses a page size outside 1 to ``HistoryQuery/maximumLimit``.
    static func check(_ query: HistoryQuery) throws {
        guard (1...HistoryQuery.maximumLimit).contains(query.limit) else {
            throw HistoryStoreError.invalidQuery("the page size must be between 1 and \(HistoryQuery.maximumLimit), not \(query.limit)")
        }
        for (name, time) in [("since", query.since), ("until", query.until)] {
            if let time, let problem = HistoryQuery.problem(with: time, name: name) { throw HistoryStoreError.invalidQuery(problem) }
        }
    }

    /// The time and id of the last entry a windowed page reads (the `scanWindow`-th after the
    /// entry filters, newest first), if there are that many.
    func windowBoundary(_ query: HistoryQuery, scanWindow: Int = Self.scanWindow) -> HistoryStatement {
        var bind = HistoryBindings(dialect: dialect)
        let conditions = Self.entryConditions(query, bind: &bind)
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return HistoryStatement(
            sql: "SELECT e.time_us, e.id FROM signet_history_entries e\(filter) ORDER BY e.time_us DESC, e.id DESC LIMIT 1 OFFSET \(bind(.integer(Int64(scanWindow - 1))))",
            values: bind.values)
    }

    static func hasImageFilter(_ query: HistoryQuery) -> Bool {
        query.image != nil || query.digest != nil || query.verdict != nil || query.policy != nil
    }

    /// The filters on the entry itself, the page's start among them.
    private static func entryConditions(_ query: HistoryQuery, bind: inout HistoryBindings) -> [String] {
        var conditions: [String] = []
        if let id = query.id { conditions.append("e.id = \(bind(.integer(id)))") }
        if let namespace = query.namespace { conditions.append("e.namespace = \(bind(.text(namespace)))") }
        if let allowed = query.allowed { conditions.append("e.allowed = \(bind(.bool(allowed)))") }
        if let source = query.source { conditions.append("e.source = \(bind(.text(source.rawValue)))") }
        if let fromAPIServer = query.fromAPIServer { conditions.append("e.from_api_server = \(bind(.bool(fromAPIServer)))") }
        if let since = query.since { conditions.append("e.time_us >= \(bind(.integer(HistoryEntry.microseconds(since))))") }
        if let until = query.until { conditions.append("e.time_us < \(bind(.integer(HistoryEntry.microseconds(until))))") }
        if let cursor = query.cursor {
            let time = bind(.integer(cursor.timeMicroseconds))
            let timeAgain = bind(.integer(cursor.timeMicroseconds))
            conditions.append("(e.time_us < \(time) OR (e.time_us = \(timeAgain) AND e.id < \(bind(.integer(cursor.id)))))")
        }
        return conditions
    }

    /// The filters that one and the same image of an entry (`i`) must pass.
    private static func imageConditions(_ query: HistoryQuery, bind: inout HistoryBindings) -> [String] {
        var conditions: [String] = []
        if let digest = query.digest { conditions.append("i.digest = \(bind(.text(digest)))") }
        if let image = query.image {
            let written = bind(.text(image)), reference = bind(.text(image)), repository = bind(.text(image))
            conditions.append("(i.image = \(written) OR i.reference = \(reference) OR i.repository = \(repository))")
        }
        if let verdict = query.verdict { conditions.append("i.verdict = \(bind(.text(verdict)))") }
        if let policy = query.policy {
            // A substring test on "\npolicy\n" finds the name exactly; LIKE would read `_` and `%`
            // and ignores case in SQLite only.
            conditions.append("strpos(i.policies, \(bind(.text("\n" + policy + "\n")))) > 0")
        }
        return conditions
    }

    /// Decisions, denies, cache hits and misses and latency per bucket of `query` (bucket index,
    /// counts, mean and highest latency); buckets without decisions are absent. Sums are cast
    /// to BIGINT, which PostgreSQL would otherwise answer as NUMERIC.
    func overviewBuckets(_ query: HistoryOverviewQuery) -> HistoryStatement {
        var bind = HistoryBindings(dialect: dialect)
        let start = HistoryEntry.microseconds(query.since)
        let bucket = "(time_us - \(bind(.integer(start)))) / \(bind(.integer(query.bucketMicroseconds)))"
        var conditions = ["time_us >= \(bind(.integer(start)))", "time_us < \(bind(.integer(HistoryEntry.microseconds(query.until))))"]
        if let source = query.source { conditions.append("source = \(bind(.text(source.rawValue)))") }
        if let fromAPIServer = query.fromAPIServer { conditions.append("from_api_server = \(bind(.bool(fromAPIServer)))") }
        return HistoryStatement(
            sql: """
                SELECT \(bucket) AS bucket, count(*) AS decisions, CAST(sum(CASE WHEN allowed = 0 THEN 1 ELSE 0 END) AS BIGINT) AS denies, \
                CAST(sum(cache_hits) AS BIGINT) AS hits, CAST(sum(cache_misses) AS BIGINT) AS misses, avg(latency_ms) AS mean_latency, \
                max(latency_ms) AS max_latency FROM signet_history_entries WHERE \(conditions.joined(separator: " AND ")) GROUP BY 1 ORDER BY 1
                """,
            values: bind.values)
    }

    /// The images denied most often in `query`'s range: the reference (or the image as
    /// written), how many denials, the time of the last (microseconds).
    func overviewRefused(_ query: HistoryOverviewQuery) -> HistoryStatement {
        var bind = HistoryBindings(dialect: dialect)
        var conditions = [
            "i.verdict = \(bind(.text("deny")))", "e.time_us >= \(bind(.integer(HistoryEntry.microseconds(query.since))))",
            "e.time_us < \(bind(.integer(HistoryEntry.microseconds(query.until))))",
        ]
        if let source = query.source { conditions.append("e.source = \(bind(.text(source.rawValue)))") }
        if let fromAPIServer = query.fromAPIServer { conditions.append("e.from_api_server = \(bind(.bool(fromAPIServer)))") }
        return HistoryStatement(
            sql: """
                SELECT COALESCE(i.reference, i.image) AS refused, count(*) AS denies, max(e.time_us) AS last_us \
                FROM signet_history_images i JOIN signet_history_entries e ON e.id = i.entry_id \
                WHERE \(conditions.joined(separator: " AND ")) GROUP BY COALESCE(i.reference, i.image) \
                ORDER BY denies DESC, last_us DESC, refused LIMIT \(bind(.integer(Int64(query.topRefused))))
                """,
            values: bind.values)
    }

    /// The images of the entries `ids`, in entry and position order.
    func selectImages(entryIDs ids: [Int64]) -> HistoryStatement {
        HistoryStatement(
            sql: "SELECT \(Self.imageColumns.joined(separator: ", ")) FROM signet_history_images WHERE entry_id IN (\(placeholders(ids.count))) ORDER BY entry_id, position",
            values: ids.map(HistorySQLValue.integer))
    }

    /// Deletes the entries of `scope` (and their images) older than `time`, or at `time` with an id up to `id`.
    func deleteThrough(timeMicroseconds time: Int64, id: Int64?, in scope: HistoryShareScope = .all) -> [HistoryStatement] {
        var bind = HistoryBindings(dialect: dialect)
        var condition: String
        if let id {
            condition = "(time_us < \(bind(.integer(time))) OR (time_us = \(bind(.integer(time))) AND id <= \(bind(.integer(id)))))"
        } else {
            condition = "time_us < \(bind(.integer(time)))"
        }
        if let namespace = scope.condition(&bind) { condition += " AND \(namespace)" }
        return [
            HistoryStatement(sql: "DELETE FROM signet_history_images WHERE entry_id IN (SELECT id FROM signet_history_entries WHERE \(condition))", values: bind.values),
            HistoryStatement(sql: "DELETE FROM signet_history_entries WHERE \(condition)", values: bind.values),
        ]
    }

    /// The time (microseconds) before which `retention` keeps nothing at `now`, if it limits age.
    static func ageCutoff(_ retention: HistoryRetention, now: Date) -> Int64? {
        guard let age = retention.maximumAge else { return nil }
        let (seconds, attoseconds) = age.components
        // Saturating: an age longer than the clock's range keeps everything, it does not trap.
        let (ageMicroseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        guard !overflow else { return Int64.min }
        let (cutoff, under) = HistoryEntry.microseconds(now).subtractingReportingOverflow(ageMicroseconds + attoseconds / 1_000_000_000_000)
        return under ? Int64.min : cutoff
    }
}
