import Foundation

/// The History page: decisions as they are made (server-sent events from ``DecisionFeed``),
/// on top of the stored ones when the history store is on.
enum HistoryPage {
    /// One live decision as the page's script renders it: the table cells, and when it was decided.
    struct LiveRow: Encodable {
        var uid: String
        var decidedAt: Double
        var cells: [String]

        init(_ decision: DecisionFeed.Decision) {
            uid = decision.uid
            decidedAt = decision.decidedAt
            let object = [decision.namespace, decision.name].compactMap { $0 }.joined(separator: "/")
            cells = [
                HTML.escape(decision.time), HTML.escape(decision.kind), HTML.escape(object), HTML.escape(decision.user ?? ""),
                HTML.badge(decision.allowed ? "allow" : "deny") + (decision.dryRun ? " <small>dry run</small>" : ""),
                zip(decision.images, decision.verdicts).map { "\(HTML.badge($1)) <code>\(HTML.escape($0))</code>" }.joined(separator: "<br>"),
                HTML.escape(decision.reason ?? ""), HTML.milliseconds(decision.latencyMs),
            ]
        }
    }

    static let headers = ["Time", "Kind", "Object", "User", "Decision", "Images", "Reason", "Latency"]

    static func live() -> String {
        """
        <p>Decisions appear here as signet makes them (<span id="live-count">0</span> since this page opened; \
        live updates need script).</p>
        \(HTML.table(headers, [], id: "decisions", empty: "no decision since this page opened")
            .replacingOccurrences(of: "<table id=\"decisions\">", with: "<table id=\"decisions\" data-live=\"/history/events\">"))
        """
    }
}
