import Logging
import NIOConcurrencyHelpers

/// A swift-log handler that keeps what it is asked to log, for tests that read log lines.
public struct CapturingLogHandler: LogHandler {
    public let events: NIOLockedValueBox<[LogEvent]>
    public var logLevel: Logger.Level = .trace
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(events: NIOLockedValueBox<[LogEvent]> = NIOLockedValueBox([])) {
        self.events = events
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        events.withLockedValue { $0.append(event) }
    }
}
