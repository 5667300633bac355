/// What a cut of the history counts: entries (``HistoryRetention/maximumEntries``), or the
/// bytes each entry was estimated to take when written (``HistoryRetention/maximumBytes``).
enum HistoryTrimMeasure: Sendable {
    case entries
    case bytes

    /// An entry's share in SQL. Entries written by a signet from before `stored_bytes` was kept
    /// (a rollback writes them with 0) count as 1 KiB, so a cut by bytes still frees them.
    var expression: String {
        switch self {
        case .entries: return "1"
        case .bytes: return "CASE WHEN stored_bytes > 0 THEN stored_bytes ELSE 1024 END"
        }
    }
}

/// Which entries a statement reaches: all of them, or one share's (``HistoryShare``).
enum HistoryShareScope: Sendable, Hashable {
    case all
    case only(HistoryShare)

    /// The condition, empty for ``all``.
    func condition(_ bind: inout HistoryBindings) -> String? {
        switch self {
        case .all: return nil
        case .only(.namespace(let namespace?)): return "namespace = \(bind(.text(namespace))) AND from_api_server = 1"
        case .only(.namespace(nil)): return "namespace IS NULL AND from_api_server = 1"
        case .only(.unknownSenders): return "from_api_server = 0"
        }
    }
}

/// The statements of a cut shared by namespace (``HistoryTrimShares``).
extension HistorySQL {
    /// What each share holds, in `measure`: rows of `namespace`, `known` (1 for a namespace's
    /// share, 0 for the unknown senders', whose namespace is null) and `amount`.
    func holdings(_ measure: HistoryTrimMeasure) -> HistoryStatement {
        HistoryStatement(
            sql: """
                SELECT CASE WHEN from_api_server = 1 THEN namespace ELSE NULL END AS namespace, \
                CASE WHEN from_api_server = 1 THEN 1 ELSE 0 END AS known, CAST(sum(\(measure.expression)) AS BIGINT) AS amount \
                FROM signet_history_entries GROUP BY 1, 2
                """,
            values: [])
    }

    /// The time and id of the newest entry of `scope` beyond its newest `kept` (the first to
    /// delete), if there is one. Counted from the newest, two replicas that cut the same
    /// holdings at once (PostgreSQL, read committed) delete the same entries, not twice as many.
    func boundaryBeyond(_ scope: HistoryShareScope, keeping kept: Int64) -> HistoryStatement {
        var bind = HistoryBindings(dialect: dialect)
        let filter = scope.condition(&bind).map { " WHERE \($0)" } ?? ""
        return HistoryStatement(
            sql: "SELECT time_us, id FROM signet_history_entries\(filter) ORDER BY time_us DESC, id DESC LIMIT 1 OFFSET \(bind(.integer(max(0, kept))))",
            values: bind.values)
    }

    /// The time and id of the entry at which the oldest entries of `scope` reach `bytes`
    /// (the last entry to delete), if they do. (A local store's cut: one writer.)
    func oldestBoundary(_ scope: HistoryShareScope, reachingBytes bytes: Int64) -> HistoryStatement {
        var bind = HistoryBindings(dialect: dialect)
        let filter = scope.condition(&bind).map { " WHERE \($0)" } ?? ""
        return HistoryStatement(
            sql: """
                SELECT time_us, id FROM (SELECT time_us, id, sum(\(HistoryTrimMeasure.bytes.expression)) OVER (ORDER BY time_us, id \
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM signet_history_entries\(filter)) oldest \
                WHERE running >= \(bind(.integer(bytes))) ORDER BY time_us, id LIMIT 1
                """,
            values: bind.values)
    }
}
