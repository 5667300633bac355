import Foundation
import SignetHTTP
import SignetHistory

/// The filters of the History page and `GET /api/history`, read from the query string of a GET
/// form (HTML Living Standard §4.10.21, `application/x-www-form-urlencoded`), so the page filters
/// and pages without script: `image`, `digest`, `namespace`, `policy`, `verdict` (`allow`,
/// `deny`, `warn`, `audit` of one image), `decision` (`allowed`, `denied`), `source`
/// (`admission`, `verification`, `console`), `sender` (`api-server`, or `unknown`: reviews not
/// known to come from the API server, ``HistoryEntry/fromAPIServer``), `since` and `until` (RFC 3339, or a form's
/// `YYYY-MM-DDTHH:MM` read as UTC), `limit` (1 to ``maximumLimit``) and `cursor` (the previous
/// page's). They become a ``HistoryQuery`` of SignetHistory, the same on SQLite and PostgreSQL.
struct HistoryFilters: Sendable {
    static let names = ["image", "digest", "namespace", "policy", "verdict", "decision", "source", "sender", "since", "until", "limit"]
    static let defaultLimit = 50
    static let maximumLimit = 500

    /// The filters as given (non-empty ones, trimmed), for the form and the paging links.
    var values: [String: String]
    var query: HistoryQuery

    /// Why a filter was refused: the field and what it must be.
    struct Problem: Error, Sendable {
        var message: String
    }

    /// The filters of `request`'s query string.
    static func parse(_ request: HTTPRequest) -> Result<HistoryFilters, Problem> {
        var values: [String: String] = [:]
        for name in names + ["cursor"] {
            if let value = request.queryValue(name)?.trimmingCharacters(in: .whitespaces), !value.isEmpty { values[name] = value }
        }
        var query = HistoryQuery(limit: defaultLimit)
        query.image = values["image"]
        query.digest = values["digest"]
        query.namespace = values["namespace"]
        query.policy = values["policy"]
        if let verdict = values["verdict"] {
            guard ["allow", "deny", "warn", "audit"].contains(verdict) else {
                return .failure(Problem(message: "verdict must be allow, deny, warn or audit, not \"\(verdict)\""))
            }
            query.verdict = verdict
        }
        if let decision = values["decision"] {
            switch decision {
            case "allowed": query.allowed = true
            case "denied": query.allowed = false
            default: return .failure(Problem(message: "decision must be allowed or denied, not \"\(decision)\""))
            }
        }
        if let source = values["source"] {
            guard let parsed = HistoryEntry.Source(rawValue: source) else {
                let known = HistoryEntry.Source.allCases.map(\.rawValue).joined(separator: ", ")
                return .failure(Problem(message: "source must be one of \(known), not \"\(source)\""))
            }
            query.source = parsed
        }
        if let sender = values["sender"] {
            guard let value = HistoryQuery.fromAPIServer(sender: sender) else {
                return .failure(Problem(message: "sender must be api-server or unknown, not \"\(sender)\""))
            }
            query.fromAPIServer = value
        }
        for (name, keyPath) in [("since", \HistoryQuery.since), ("until", \HistoryQuery.until)] {
            guard let text = values[name] else { continue }
            guard let date = time(text) else {
                return .failure(Problem(message: "\(name) must be a time such as 2026-06-01T12:00:00Z, not \"\(text)\""))
            }
            if let problem = HistoryQuery.problem(with: date, name: name) {
                return .failure(Problem(message: "\(problem), not \"\(text)\""))
            }
            query[keyPath: keyPath] = date
        }
        if let since = query.since, let until = query.until, until <= since {
            return .failure(Problem(message: "until must be after since"))
        }
        if let limit = values["limit"] {
            guard let count = Int(limit), (1...maximumLimit).contains(count) else {
                return .failure(Problem(message: "limit must be a number from 1 to \(maximumLimit), not \"\(limit)\""))
            }
            query.limit = count
        }
        if let cursor = values["cursor"] {
            guard let parsed = HistoryCursor(cursor) else { return .failure(Problem(message: "the page cursor \"\(cursor)\" is not one this console gave")) }
            query.cursor = parsed
        }
        return .success(HistoryFilters(values: values, query: query))
    }

    /// RFC 3339, or `YYYY-MM-DDTHH:MM[:SS]` (an HTML `datetime-local` value) in UTC.
    static func time(_ text: String) -> Date? {
        if let date = ISO8601DateFormatter().date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = fractional.date(from: text) { return date }
        for suffix in [":00Z", "Z"] {
            if let date = ISO8601DateFormatter().date(from: text + suffix) { return date }
        }
        return nil
    }

    /// Whether any filter (not the page size or cursor) is set.
    var isFiltered: Bool { values.keys.contains { $0 != "limit" && $0 != "cursor" } }

    /// `path` with these filters, and `cursor` when given (nil: the first page).
    func link(_ path: String = "/history", cursor: HistoryCursor?) -> String {
        var pairs = Self.names.compactMap { name in values[name].map { "\(name)=\(HTML.queryValue($0))" } }
        if let cursor { pairs.append("cursor=\(HTML.queryValue(cursor.description))") }
        return pairs.isEmpty ? path : path + "?" + pairs.joined(separator: "&")
    }
}
