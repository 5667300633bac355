import ArgumentParser
import Foundation
import Logging
import SignetHistory
import SignetPolicy
import SignetRegistry

/// `signet history`: reads the verification history (admission decisions and on-demand
/// verifications) from the SQLite file or PostgreSQL database `signet serve` writes, filtered by
/// image, digest, namespace, policy, verdict, decision, source, sender and time, newest first, one page
/// at a time (`--cursor` continues where the last page ended). Output: a table, or JSON
/// (`{"entries": [...], "nextCursor": "...", "searchedThrough": "..."}`, times in RFC 3339).
///
/// Exit status: 0 (even when nothing matched), 2 error (no store configured, unreadable store,
/// bad filter).
struct HistoryCommand: ParsableCommand, AsynchronousCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show the verification history: admission decisions and on-demand verifications, newest first.",
        discussion: "Exit status: 0 (also when nothing matched), 2 error (no history store, unreadable store, bad filter)."
    )

    @OptionGroup var store: HistoryOptions

    @Option(name: .long, help: "An image: as written, its normalised reference, or its repository (every tag and digest).")
    var image: String?

    @Option(name: .long, help: "An image digest (sha256:…).")
    var digest: String?

    @Option(name: .long, help: "A namespace.")
    var namespace: String?

    @Option(name: .long, help: "A ClusterImagePolicy that matched an image.")
    var policy: String?

    @Option(name: .long, help: "An image's verdict: allow, deny, warn or audit.")
    var verdict: String?

    @Option(name: .long, help: "The decision: allowed or denied.")
    var decision: String?

    @Option(name: .long, help: "admission, verification (signet verify) or console (the console's Verify page).")
    var source: String?

    @Option(name: .long, help: "api-server, or unknown: reviews not known to come from the API server (a client CA or --reserved-peers lets signet tell).")
    var sender: String?

    @Option(name: .long, help: "Entries at or after this time: RFC 3339 (2026-12-01T00:00:00Z) or a duration ago (24h).")
    var since: String?

    @Option(name: .long, help: "Entries before this time: RFC 3339 or a duration ago.")
    var until: String?

    @Option(name: .long, help: "Entries per page, 1 to 1000. (default 50)")
    var limit: Int = 50

    @Option(name: .long, help: "Continue after a previous page (the cursor it printed).")
    var cursor: String?

    @Option(name: .long, help: "Output: table or json.")
    var output: OutputFormat = .table

    enum OutputFormat: String, ExpressibleByArgument {
        case table
        case json
    }

    static let verdicts = ImageOutcome.allCases.map(\.rawValue)

    /// The query these flags describe, with `now` for durations ago.
    func query(now: Date) throws -> HistoryQuery {
        var query = HistoryQuery(image: image, digest: digest, namespace: namespace, policy: policy, limit: limit)
        if let verdict {
            guard Self.verdicts.contains(verdict) else {
                throw ValidationError("--verdict must be one of \(Self.verdicts.joined(separator: ", ")), not \(verdict)")
            }
            query.verdict = verdict
        }
        switch decision {
        case nil: break
        case "allowed": query.allowed = true
        case "denied": query.allowed = false
        case let other?: throw ValidationError("--decision must be allowed or denied, not \(other)")
        }
        if let source {
            guard let value = HistoryEntry.Source(rawValue: source) else {
                throw ValidationError("--source must be admission, verification or console, not \(source)")
            }
            query.source = value
        }
        if let sender {
            guard let value = HistoryQuery.fromAPIServer(sender: sender) else {
                throw ValidationError("--sender must be api-server or unknown, not \(sender)")
            }
            query.fromAPIServer = value
        }
        query.since = try since.map { try Self.time($0, flag: "--since", now: now) }
        query.until = try until.map { try Self.time($0, flag: "--until", now: now) }
        guard (1...HistoryQuery.maximumLimit).contains(limit) else {
            throw ValidationError("--limit must be between 1 and \(HistoryQuery.maximumLimit)")
        }
        if let cursor {
            guard let value = HistoryCursor(cursor) else { throw ValidationError("--cursor \(cursor) is not a cursor this command printed") }
            query.cursor = value
        }
        return query
    }

    static func time(_ text: String, flag: String, now: Date) throws -> Date {
        if let date = KubernetesTime.parse(text) { return date }
        if let ago = GoDuration.parse(text), ago >= .zero {
            let (seconds, attoseconds) = ago.components
            return now.addingTimeInterval(-(Double(seconds) + Double(attoseconds) / 1e18))
        }
        throw ValidationError("\(flag) \(text) is neither an RFC 3339 time nor a duration")
    }

    func runAsynchronously() async throws {
        Observability.bootstrapLogging(format: .text, level: .warning)
        let query = try query(now: Date())
        guard let location = try store.location() else {
            throw ValidationError("no history store: give --history-sqlite FILE or --history-postgres-dsn-file FILE")
        }
        let page: HistoryPage
        do {
            let history = try await HistoryOptions.open(location, logger: Logger(label: "signet.history"))
            do {
                page = try await history.query(query)
            } catch {
                await history.close()
                throw error
            }
            await history.close()
        } catch {
            FileHandle.standardError.write(Data("signet history: \(error)\n".utf8))
            throw ExitCode(2)
        }
        switch output {
        case .json: print(Self.json(page))
        case .table: print(Self.table(page), terminator: "")
        }
    }

    /// `{"entries": [...], "nextCursor": "...", "searchedThrough": "..."}`, keys sorted, times in
    /// RFC 3339; `searchedThrough` only when the image filters' window ended the page.
    static func json(_ page: HistoryPage) -> String {
        struct Document: Encodable {
            var entries: [HistoryEntry]
            var nextCursor: String?
            var searchedThrough: Date?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Self.timestamp(date))
        }
        let data = (try? encoder.encode(Document(
            entries: page.entries, nextCursor: page.nextCursor?.description, searchedThrough: page.searchedThrough))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// RFC 3339 in UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// One line per image of each entry (an entry without images gets one line), columns
    /// aligned; the cursor of the next page last.
    static func table(_ page: HistoryPage) -> String {
        var rows = [["TIME", "SOURCE", "NAMESPACE", "OBJECT", "DECISION", "IMAGE", "VERDICT", "POLICIES", "REASON"]]
        for entry in page.entries {
            let object = [entry.objectKind, entry.name].compactMap { $0 }.joined(separator: "/")
            let decision = (entry.allowed ? "allowed" : "denied") + (entry.dryRun ? " (dry run)" : "")
            // A review not known to come from the API server is marked where its source is.
            let source = entry.source.rawValue + (entry.fromAPIServer ? "" : " (not from the API server)")
            let common = [KubernetesTime.format(entry.time), source, entry.namespace ?? "-", object.isEmpty ? "-" : object, decision]
            if entry.images.isEmpty {
                rows.append(common + ["-", "-", "-", entry.reason ?? "-"])
            }
            for image in entry.images {
                rows.append(common + [
                    image.reference ?? image.image, image.verdict, image.policies.isEmpty ? "-" : image.policies.joined(separator: ","),
                    image.exemptions.isEmpty ? image.reason : "\(image.reason) [\(image.exemptions.joined(separator: ", "))]",
                ])
            }
        }
        // Names, users and reasons came from reviews: an escape sequence or a line break in one
        // would clear the terminal or start a row of its own.
        rows = rows.map { $0.map(UntrustedText.escaped) }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        var text = ""
        for row in rows {
            var line = ""
            for (index, cell) in row.enumerated() {
                line += index == row.count - 1 ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
            }
            text += line + "\n"
        }
        if page.entries.isEmpty { text += "(no entries)\n" }
        if let searched = page.searchedThrough {
            text += "searched back to \(KubernetesTime.format(searched)) (image filters read at most \(HistoryQuery.scanWindow) entries a page)\n"
        }
        if let next = page.nextCursor { text += "more: --cursor \(next)\n" }
        return text
    }
}
