import Foundation
import SignetHistory

/// The History page: a GET form of filters over the history store (image, digest, namespace,
/// policy, verdict, decision, source, sender, time range) and its results a page at a time, newest
/// first, each linking to its decision page; above them, decisions as they are made
/// (server-sent events from ``DecisionFeed``). Filters and paging are plain links and forms,
/// so everything but the live table works without script.
enum HistoryPages {
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
                HTML.badge(decision.allowed ? "allow" : "deny") + (decision.dryRun ? " <small>dry run</small>" : "")
                    + (decision.fromAPIServer ? "" : " " + HistoryPages.unknownSender),
                zip(decision.images, decision.verdicts).map { "\(HTML.badge($1)) <code>\(HTML.escape($0))</code>" }.joined(separator: "<br>"),
                HTML.escape(TrustChain.clipped(decision.reason ?? "", to: 240)), HTML.milliseconds(decision.latencyMs),
            ]
        }
    }

    static let headers = ["Time", "Kind", "Object", "User", "Decision", "Images", "Reason", "Latency"]
    static let storedHeaders = ["Time", "Source", "Object", "User", "Decision", "Images", "Reason", "Latency"]

    /// The page: the filter form, the live table, and `page` of the store (nil: no store), or
    /// the problem that kept the query from running.
    static func html(filters: HistoryFilters?, values: [String: String], page: SignetHistory.HistoryPage?, storeOn: Bool, problem: String?) -> String {
        var out = form(values)
        if let problem { out += "<p class=\"error\" id=\"history-error\">\(HTML.escape(problem))</p>" }
        out += "<h2>Live</h2>" + live()
        out += "<h2 id=\"stored\">Stored decisions</h2>"
        guard storeOn else {
            return out + "<p id=\"history-off\">No history store is configured: start <code>signet serve</code> with "
                + "<code>--history-sqlite</code> or <code>--history-postgres-dsn-file</code> to keep and browse decisions.</p>"
        }
        guard let page, let filters else { return out }
        out += "<p id=\"history-summary\">\(page.entries.count) decision\(page.entries.count == 1 ? "" : "s") on this page, newest first"
        out += filters.query.cursor == nil ? "" : " (continued)"
        out += (filters.isFiltered ? ", filtered" : "") + ".</p>"
        if let searched = page.searchedThrough {
            out += "<p id=\"history-searched\">The image filters searched the \(HistoryQuery.scanWindow.formatted()) most recent "
                + "decisions of this page's range, back to \(HTML.escape(PoliciesInForce.timestamp(searched))); the next page searches "
                + "further back.</p>"
        }
        out += HTML.table(storedHeaders, page.entries.map(row), id: "history", empty: "no stored decision matches")
        var links: [String] = []
        if filters.query.cursor != nil { links.append("<a href=\"\(HTML.escape(filters.link(cursor: nil)))\" id=\"first-page\">First page</a>") }
        if let next = page.nextCursor {
            let label = page.searchedThrough == nil ? "Next page" : "Search further back"
            links.append("<a href=\"\(HTML.escape(filters.link(cursor: next)))\" id=\"next-page\">\(label)</a>")
        }
        if !links.isEmpty { out += "<p class=\"paging\">\(links.joined(separator: " · "))</p>" }
        return out
    }

    static func form(_ values: [String: String]) -> String {
        func text(_ name: String, _ label: String, size: Int, placeholder: String) -> String {
            "<label>\(label) <input name=\"\(name)\" id=\"filter-\(name)\" size=\"\(size)\" placeholder=\"\(HTML.escape(placeholder))\" value=\"\(HTML.escape(values[name] ?? ""))\"></label>"
        }
        func select(_ name: String, _ label: String, _ options: [String]) -> String {
            let chosen = values[name] ?? ""
            let items = ([""] + options).map { option in
                "<option value=\"\(HTML.escape(option))\"\(option == chosen ? " selected" : "")>\(option.isEmpty ? "any" : HTML.escape(option))</option>"
            }.joined()
            return "<label>\(label) <select name=\"\(name)\" id=\"filter-\(name)\">\(items)</select></label>"
        }
        return """
            <form method="get" action="/history" class="filters" id="filters">
            \(text("image", "Image", size: 34, placeholder: "registry/repo, or a reference"))
            \(text("digest", "Digest", size: 24, placeholder: "sha256:…"))
            \(text("namespace", "Namespace", size: 14, placeholder: "any"))
            \(text("policy", "Policy", size: 16, placeholder: "any"))
            \(select("verdict", "Verdict", ["allow", "deny", "warn", "audit"]))
            \(select("decision", "Decision", ["allowed", "denied"]))
            \(select("source", "Source", HistoryEntry.Source.allCases.map(\.rawValue)))
            \(select("sender", "Sender", HistoryQuery.senders))
            \(text("since", "Since (UTC)", size: 18, placeholder: "2026-06-01T00:00:00Z"))
            \(text("until", "Until (UTC)", size: 18, placeholder: "2026-06-02T00:00:00Z"))
            \(text("limit", "Per page", size: 4, placeholder: "\(HistoryFilters.defaultLimit)"))
            <button type="submit" id="filter-button">Filter</button> <a href="/history">Clear</a>
            </form>
            """
    }

    /// One stored decision as a row; its time links to the decision page.
    static func row(_ entry: HistoryEntry) -> [String] {
        let object = [entry.objectKind, [entry.namespace, entry.name].compactMap { $0 }.joined(separator: "/")]
            .compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
        let link = entry.id.map { "<a href=\"/history/\($0)\" class=\"decision-link\">\(HTML.escape(PoliciesInForce.timestamp(entry.time)))</a>" }
            ?? HTML.escape(PoliciesInForce.timestamp(entry.time))
        return [
            link, HTML.escape(entry.source.rawValue) + (entry.fromAPIServer ? "" : " " + unknownSender), HTML.escape(object), HTML.escape(entry.user ?? ""),
            HTML.badge(entry.allowed ? "allow" : "deny") + (entry.dryRun ? " <small>dry run</small>" : ""),
            entry.images.map { "\(HTML.badge($0.verdict)) <code>\(HTML.escape($0.reference ?? $0.image))</code>" }.joined(separator: "<br>"),
            HTML.escape(TrustChain.clipped(entry.reason ?? "", to: 240)), HTML.milliseconds(entry.latencyMs),
        ]
    }

    /// The mark of a review not known to come from the API server (``HistoryEntry/fromAPIServer``).
    static let unknownSender = "<small class=\"unknown-sender\">not from the API server</small>"

    static func live() -> String {
        """
        <p>Every decision appears here as signet makes it, unfiltered (<span id="live-count">0</span> since this page opened; \
        live updates need script).</p>
        \(HTML.table(headers, [], id: "decisions", empty: "no decision since this page opened")
            .replacingOccurrences(of: "<table id=\"decisions\">", with: "<table id=\"decisions\" data-live=\"/history/events\">"))
        """
    }

    /// A decision's page: what was asked, by whom, and per image the policies, authorities,
    /// verdict, reason, trust chain and exemptions.
    static func detail(_ entry: HistoryEntry) -> String {
        func item(_ term: String, _ value: String?, id: String? = nil) -> String {
            guard let value, !value.isEmpty else { return "" }
            return "<dt>\(HTML.escape(term))</dt><dd\(id.map { " id=\"\($0)\"" } ?? "")>\(value)</dd>"
        }
        let object = [entry.namespace, entry.name].compactMap { $0 }.joined(separator: "/")
        var out = "<dl class=\"decision\">"
        out += item("Time", HTML.escape(PoliciesInForce.timestamp(entry.time)))
        out += item("Source", HTML.escape(entry.source.rawValue), id: "decision-source")
        out += item("Decision", HTML.badge(entry.allowed ? "allow" : "deny") + (entry.dryRun ? " dry run (nothing was admitted)" : ""), id: "decision-outcome")
        out += item("Reason", HTML.escape(entry.reason ?? ""), id: "decision-reason")
        out += item("Object", HTML.escape([entry.operation, entry.objectKind, object.isEmpty ? nil : object].compactMap { $0 }.joined(separator: " ")))
        out += item("Namespace", entry.namespace.map { "<a href=\"/history?namespace=\(HTML.queryValue($0))\">\(HTML.escape($0))</a>" })
        out += item("User", HTML.escape(entry.user ?? ""), id: "decision-user")
        out += item("Dry run", entry.dryRun ? "yes" : "no", id: "decision-dry-run")
        out += item("Latency", HTML.milliseconds(entry.latencyMs), id: "decision-latency")
        out += item("Cache", entry.cacheHits + entry.cacheMisses == 0 ? nil : "signature verdicts: \(entry.cacheHits) from the cache, \(entry.cacheMisses) verified")
        out += item("Policy revision", entry.policyRevision.map { "<code>\(HTML.escape($0))</code>" })
        out += item("Request uid", entry.uid.map { "<code>\(HTML.escape($0))</code>" })
        out += item("Sent from", HTML.escape([entry.peer, entry.clientCertificate].compactMap { $0 }.joined(separator: ", ")))
        if !entry.fromAPIServer {
            out += item("Sender", unknownSender + " Anyone who reaches the webhook port can post such a review, naming any namespace, "
                + "object and user: it admitted nothing in the cluster, raised no alert and wrote no Event.", id: "decision-sender")
        }
        out += "</dl><h2>Images</h2>"
        if entry.images.isEmpty { out += "<p>No image was judged (nothing to verify in this object).</p>" }
        for (index, image) in entry.images.enumerated() {
            out += "<section class=\"image\" id=\"image-\(index)\"><h3>\(HTML.badge(image.verdict)) <code>\(HTML.escape(image.reference ?? image.image))</code></h3><dl>"
            out += item("As written", "<code>\(HTML.escape(image.image))</code>")
            out += item("Container", image.container.map { HTML.escape($0) })
            out += item("Digest", image.digest.map { "<a href=\"/history?digest=\(HTML.queryValue($0))\"><code>\(HTML.escape($0))</code></a>" })
            out += item("Verdict", HTML.badge(image.verdict))
            out += item("Reason", HTML.escape(image.reason), id: "image-\(index)-reason")
            out += item("Policies", image.policies.map { "<a href=\"/history?policy=\(HTML.queryValue($0))\">\(HTML.escape($0))</a>" }.joined(separator: ", "),
                        id: "image-\(index)-policies")
            out += item("Authorities", image.authorities.map(HTML.escape).joined(separator: "<br>"), id: "image-\(index)-authorities")
            out += item("Trust chain", image.trustChain.isEmpty ? nil : "<code>\(HTML.escape(image.trustChain))</code>", id: "image-\(index)-trust")
            out += item("Exemptions", image.exemptions.map(HTML.escape).joined(separator: "<br>"), id: "image-\(index)-exemptions")
            if let digest = image.digest {
                out += item("More", "<a href=\"/history?digest=\(HTML.queryValue(digest))\">every decision on this digest</a> · "
                    + "<a href=\"/trust?digest=\(HTML.queryValue(digest))\">its trust chain</a> (kept for verifications made in this console)")
            }
            out += "</dl></section>"
        }
        return out
    }
}
