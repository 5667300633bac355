import Foundation
import Logging
import NIOConcurrencyHelpers
import SignetHistory
import SignetRegistry
import SignetTestSupport
import Testing
@testable import SignetCLI

/// Names, namespaces and users come from reviews, which anyone who can reach the webhook
/// writes: text people read (`signet history`'s table, `--log-format text`) shows their control
/// characters, line breaks and bidirectional marks as escapes. Raw, an object name cleared the
/// operator's terminal and hid a link, and a namespace with a line break started a row or log
/// line of its own.
@Suite struct ReviewTextOutputTests {
    static let name = "web\u{1B}[2J\u{1B}[31mALL CLEAR\u{1B}[0m\u{1B}]8;;https://evil.example/\u{07}click\u{202E}"
    static let namespace = "team\nreason: approved"

    @Test func theHistoryTableShowsEscapes() {
        let entry = HistoryEntry(
            source: .admission, time: Date(timeIntervalSince1970: 1_780_000_000), namespace: Self.namespace, objectKind: "Pod", name: Self.name,
            user: "alice\u{1B}[8m", latencyMs: 1, allowed: false, reason: "denied",
            images: [HistoryImageRecord(image: "ghcr.io/acme/web:1", verdict: "deny", reason: "no signature\r\nreason: fine")])
        let table = HistoryCommand.table(HistoryPage(entries: [entry], nextCursor: nil))
        #expect(!table.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x202E || $0 == "\r" }, "\(table)")
        // The heading, one row, nothing else.
        #expect(table.split(separator: "\n").count == 2, "\(table)")
        #expect(table.contains("team\\u{A}reason: approved"), "\(table)")
        #expect(table.contains("Pod/web\\u{1B}[2J\\u{1B}[31mALL CLEAR"), "\(table)")
    }

    @Test func textLogLinesShowEscapes() throws {
        let captured = NIOLockedValueBox<[LogEvent]>([])
        var handler = EscapingLogHandler(CapturingLogHandler(events: captured))
        handler[metadataKey: "replica"] = "a\nb"
        handler.log(event: LogEvent(
            level: .warning, message: "admission of \(Self.name) denied", metadata: ["namespace": "\(Self.namespace)", "users": ["x\u{1B}"]],
            source: "test", file: #file, function: #function, line: #line))
        let event = try? #require(captured.withLockedValue { $0.first })
        #expect(event?.message.description == "admission of \(UntrustedText.escaped(Self.name)) denied")
        #expect(event?.message.description.contains("\u{1B}") == false)
        // Values with a space, "=", a quote or a backslash are quoted, as logfmt reads them.
        #expect(event?.metadata?["namespace"] == .string(#""team\\u{A}reason: approved""#))
        #expect(event?.metadata?["users"] == .array([.string(#""x\\u{1B}""#)]))
        #expect(handler[metadataKey: "replica"] == .string(#""a\\u{A}b""#))
        // An image named to add a field of its own inside a reason stays inside the reason.
        #expect(EscapingLogHandler<CapturingLogHandler>.escaped(.string(#"image "a decision=allowed uid=x b" is not signed"#))
            == .string(#""image \"a decision=allowed uid=x b\" is not signed""#))
        #expect(EscapingLogHandler<CapturingLogHandler>.escaped(.string("denied")) == .string("denied"))
        #expect(EscapingLogHandler<CapturingLogHandler>.escaped(.string("")) == .string(#""""#))
        // JSON log lines escape them too, beyond the C0 controls JSON requires, and read back the same.
        var line = ""
        JSONLogHandler.appendJSONString("a\u{9B}2J\u{202E}b\u{2028}c\u{1B}", to: &line)
        #expect(line == #""a\u009b2J\u202eb\u2028c\u001b""#, "\(line)")
        #expect(try JSONSerialization.jsonObject(with: Data(line.utf8), options: .fragmentsAllowed) as? String == "a\u{9B}2J\u{202E}b\u{2028}c\u{1B}")
        // Text without such characters is passed as it is.
        #expect(UntrustedText.escaped("ghcr.io/acme/web:1 — ünïcode") == "ghcr.io/acme/web:1 — ünïcode")
    }
}
