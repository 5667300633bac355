import Logging
import SignetRegistry

/// `--log-format text`: swift-log's `StreamLogHandler` line, with every control character, line
/// break and bidirectional mark of the message and the metadata written as an escape
/// (``UntrustedText/escaped(_:)``). Log lines carry names, users and namespaces from reviews,
/// which anyone who can send one writes: raw, they moved a terminal's cursor, hid links, or
/// started a line of their own that a reader (or a line-based log pipeline) took for signet's.
/// A metadata value with a space, `=`, `"` or `\`, or none at all, is written quoted (`"…"`, with
/// `"` and `\` escaped), as logfmt reads it: the line's fields are `key=value` pairs, and an
/// image named `a decision=allowed b` inside a reason otherwise added a field of its own.
/// The JSON format (``JSONLogHandler``) escapes them as JSON does.
struct EscapingLogHandler<Inner: LogHandler>: LogHandler {
    private var inner: Inner

    init(_ inner: Inner) {
        self.inner = inner
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue.mapValues(Self.escaped) }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue.map(Self.escaped) }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: UntrustedText.escaped(event.message.description))
        event.metadata = event.metadata?.mapValues(Self.escaped)
        inner.log(event: event)
    }

    static func escaped(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): .string(quoted(UntrustedText.escaped(text)))
        case .stringConvertible(let convertible): .string(quoted(UntrustedText.escaped(convertible.description)))
        case .array(let values): .array(values.map(escaped))
        case .dictionary(let entries): .dictionary(entries.mapValues(escaped))
        }
    }

    /// `text` as one logfmt value: as it is when it holds no space, `=`, `"` or `\` and is not
    /// empty; otherwise in quotes, with `"` and `\` escaped.
    static func quoted(_ text: String) -> String {
        guard text.isEmpty || text.utf8.contains(where: { $0 == 0x20 || $0 == 0x3D || $0 == 0x22 || $0 == 0x5C }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
