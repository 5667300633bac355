import Foundation
import Logging
import NIOConcurrencyHelpers
import SignetPolicy
import SignetRegistry

/// A swift-log handler that writes one JSON object per line to standard error: the format log
/// pipelines in Kubernetes (Fluent Bit, Vector, Loki) parse without configuration.
///
/// Fields: `time` (RFC 3339, UTC, milliseconds), `level`, `logger`, `msg`, then the metadata keys.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var line = "{\"time\":\"\(Self.timestamp())\",\"level\":\"\(event.level)\",\"logger\":"
        Self.appendJSONString(label, to: &line)
        line += ",\"msg\":"
        Self.appendJSONString("\(event.message)", to: &line)
        for key in fields.keys.sorted() {
            line += ","
            Self.appendJSONString(key, to: &line)
            line += ":"
            Self.appendJSONString(Self.flatten(fields[key]!), to: &line)
        }
        line += "}\n"
        Self.output.withLock {
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    private static let output = NIOLock()

    private static func flatten(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let convertible): return convertible.description
        case .array(let values): return "[" + values.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let entries):
            return "{" + entries.keys.sorted().map { "\($0)=\(flatten(entries[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    static func appendJSONString(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case _ where !UntrustedText.isShown(scalar):
                // C0 as JSON requires; C1, bidirectional marks and line separators too, which a
                // terminal showing the log would otherwise read (U+009B starts an escape
                // sequence in some) and which reorder or break the line.
                line += String(format: "\\u%04x", scalar.value)
            default: line.unicodeScalars.append(scalar)
            }
        }
        line += "\""
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let parts = UTCTime(secondsSinceEpoch: Int64(now.tv_sec))
        return String(
            format: "%04ld-%02ld-%02ldT%02ld:%02ld:%02ld.%03ldZ", parts.year, parts.month, parts.day,
            parts.hour, parts.minute, parts.second, now.tv_nsec / 1_000_000)
    }
}

/// Log output formats for `--log-format`.
public enum LogFormat: String, Sendable, CaseIterable {
    case json
    case text
}

/// Process-wide logging and metrics set-up, done once.
enum Observability {
    private static let bootstrapped = NIOLockedValueBox<Bool>(false)

    static func bootstrapLogging(format: LogFormat, level: Logger.Level) {
        let first = bootstrapped.withLockedValue { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in
            switch format {
            case .json: return JSONLogHandler(label: label, level: level)
            case .text:
                var handler = EscapingLogHandler(StreamLogHandler.standardError(label: label))
                handler.logLevel = level
                return handler
            }
        }
    }
}
