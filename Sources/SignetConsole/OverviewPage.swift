import Foundation
import SignetHistory
import SignetPolicy

/// The Overview page: what is in force, and from the history store over a chosen range
/// (`?range=1h|6h|24h|7d|30d`, default 24h) the admission decisions and denies, the cache hit
/// rate and the latency over time as server-drawn SVG charts (``SVGChart``), and the images
/// refused most often.
enum OverviewPage {
    /// A range the page offers: its name, length and how many buckets cut it.
    struct Range: Sendable {
        var name: String
        var seconds: Int
        var buckets: Int
    }

    static let ranges = [
        Range(name: "1h", seconds: 3600, buckets: 12), Range(name: "6h", seconds: 6 * 3600, buckets: 24),
        Range(name: "24h", seconds: 24 * 3600, buckets: 24), Range(name: "7d", seconds: 7 * 24 * 3600, buckets: 28),
        Range(name: "30d", seconds: 30 * 24 * 3600, buckets: 30),
    ]

    /// The range named `name` (nil: 24h), or nil for a name the page does not offer.
    static func range(_ name: String?) -> Range? {
        ranges.first { $0.name == (name ?? "24h") }
    }

    /// The overview query of `range` ending at the bucket boundary after `now` (buckets start on
    /// whole multiples of their width since 1970, so pages drawn a moment apart agree).
    static func query(_ range: Range, now: Date) -> HistoryOverviewQuery {
        let width = Double(range.seconds / range.buckets)
        let until = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / width).rounded(.up) * width)
        return HistoryOverviewQuery(since: until.addingTimeInterval(-Double(range.seconds)), until: until, buckets: range.buckets)
    }

    static func html(
        policies: PolicySet, runs: [VerificationRun], now: Date, range: Range, overview: HistoryOverview?, storeOn: Bool, problem: String?
    ) -> String {
        let activeExceptions = policies.exceptions.filter { $0.validUntil > now }.count
        let activeBypasses = policies.bypasses.filter { $0.expiresAt > now }.count
        var out = "<p><a href=\"/policies\">\(policies.policies.count) ClusterImagePolicies</a>, "
        out += "<a href=\"/policies#exceptions\">\(activeExceptions) PolicyExceptions</a> and "
        out += "<a href=\"/policies#bypasses\">\(activeBypasses) EmergencyBypasses</a> in force.</p>"
        out += "<h2>Admission decisions</h2>"
        out += "<p class=\"ranges\">" + ranges.map { option in
            option.name == range.name
                ? "<strong aria-current=\"true\">\(option.name)</strong>" : "<a href=\"/?range=\(option.name)\">\(option.name)</a>"
        }.joined(separator: " · ") + "</p>"
        if let problem { out += "<p class=\"error\" id=\"overview-error\">\(HTML.escape(problem))</p>" }
        if !storeOn {
            out += "<p id=\"history-off\">No history store is configured, so there is nothing to chart: start <code>signet serve</code> with "
            out += "<code>--history-sqlite</code> or <code>--history-postgres-dsn-file</code>.</p>"
        }
        if let overview { out += charts(overview, range: range) }
        let denied = runs.filter { $0.verdict?.outcome == .deny }
        out += "<h2>Verifications in this console</h2><p>\(runs.count) kept, \(denied.count) denied.</p>"
        return out
    }

    static func charts(_ overview: HistoryOverview, range: Range) -> String {
        let totals = overview.totals
        var out = "<p id=\"overview-totals\">\(totals.decisions) decision\(totals.decisions == 1 ? "" : "s"), \(totals.denies) denied"
        if let rate = totals.cacheHitRate { out += String(format: ", cache hit rate %.0f%%", rate * 100) }
        if let mean = totals.meanLatencyMs { out += ", mean latency \(HTML.milliseconds(mean))" }
        out += " from \(HTML.escape(PoliciesInForce.timestamp(overview.since))) to \(HTML.escape(PoliciesInForce.timestamp(overview.until))).</p>"
        let labels = overview.buckets.map { label($0.start, long: range.seconds > 24 * 3600) }
        let bucket = overview.buckets
        let charts = [
            SVGChart(
                id: "chart-decisions", title: "Decisions and denies", kind: .bars, labels: labels,
                series: [
                    .init(name: "decisions", colour: "#64748b", values: bucket.map { Double($0.decisions) }),
                    .init(name: "denies", colour: "#dc2626", values: bucket.map { Double($0.denies) }),
                ], maximum: nil, format: { String(format: "%.0f", $0) }),
            SVGChart(
                id: "chart-cache", title: "Cache hit rate", kind: .lines, labels: labels,
                series: [.init(name: "hit rate", colour: "#059669", values: bucket.map { $0.cacheHitRate.map { $0 * 100 } })],
                maximum: 100, format: { String(format: "%.0f%%", $0) }),
            SVGChart(
                id: "chart-latency", title: "Latency", kind: .lines, labels: labels,
                series: [
                    .init(name: "mean", colour: "#2563eb", values: bucket.map(\.meanLatencyMs)),
                    .init(name: "max", colour: "#f59e0b", values: bucket.map(\.maxLatencyMs)),
                ], maximum: nil, format: { HTML.milliseconds($0) }),
        ]
        out += "<div class=\"charts\">" + charts.map { "<figure>\($0.svg)</figure>" }.joined() + "</div>"
        out += "<h2>Most refused images</h2>"
        out += HTML.table(["Image", "Denials", "Last denied"], overview.topRefused.map { refused in
            // The API server's denials, as counted here (``HistoryOverviewQuery/fromAPIServer``).
            ["<a href=\"/history?image=\(HTML.queryValue(refused.image))&amp;verdict=deny&amp;sender=api-server\"><code>\(HTML.escape(refused.image))</code></a>",
             "\(refused.denies)", HTML.escape(PoliciesInForce.timestamp(refused.lastDenied))]
        }, id: "top-refused", empty: "no image was refused in this range")
        return out
    }

    /// `14:00`, or `06-01 14:00` for ranges over a day (UTC).
    static func label(_ date: Date, long: Bool) -> String {
        let parts = UTCTime(secondsSinceEpoch: Int64(date.timeIntervalSince1970.rounded(.down)))
        let time = String(format: "%02ld:%02ld", parts.hour, parts.minute)
        return long ? String(format: "%02ld-%02ld ", parts.month, parts.day) + time : time
    }
}
