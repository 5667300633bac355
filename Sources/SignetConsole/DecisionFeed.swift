import Foundation
import NIOConcurrencyHelpers
import SignetAdmission
import SignetHistory

/// Every admission decision as it is made, for open History pages (server-sent events): an
/// ``AuditSink`` beside the others that hands each record to the current subscribers and keeps
/// nothing. A subscriber that does not keep up loses the oldest decisions of its buffer, never
/// slows admission. A decision carries its texts within the history's bounds
/// (``HistoryEntryBounds``) and at most ``maximumImages`` images, so an object with megabytes of
/// image strings cannot make each open page's buffer hold megabytes per decision. A decision is
/// encoded as its server-sent event once, whoever watches, and one reader holds at most
/// ``maximumSubscriptionsPerReader`` streams of ``maximumSubscriptions``: a reader who opened
/// hundreds of streams and sent large dry runs made every decision be encoded and encrypted
/// once per stream.
public final class DecisionFeed: AuditSink {
    /// The images one live decision names at most; the rest are counted in its reason.
    public static let maximumImages = 64
    /// Live streams open at once, in all and for one reader (a History page holds one).
    public static let maximumSubscriptions = 64
    public static let maximumSubscriptionsPerReader = 8

    /// A decision and its server-sent event (`event: decision`), encoded once for every stream.
    public struct Published: Sendable {
        public var decision: Decision
        public var event: [UInt8]
    }

    /// One decision as the History page shows it live.
    public struct Decision: Sendable, Codable {
        public var uid: String
        /// Milliseconds since the epoch when signet recorded the decision.
        public var decidedAt: Double
        public var time: String
        public var namespace: String?
        public var kind: String
        public var name: String?
        public var user: String?
        public var allowed: Bool
        public var dryRun: Bool
        public var images: [String]
        public var verdicts: [String]
        public var reason: String?
        public var latencyMs: Double
        /// False for a review not known to come from the API server (``HistoryEntry/fromAPIServer``).
        public var fromAPIServer = true
    }

    private let subscribers = NIOLockedValueBox<[UUID: (reader: String, continuation: AsyncStream<Published>.Continuation)]>([:])
    private let clock: @Sendable () -> Date

    public init(clock: @escaping @Sendable () -> Date = { Date() }) {
        self.clock = clock
    }

    public func record(_ record: AdmissionAuditRecord) {
        guard record.event == "admission" else { return }
        func name(_ text: String?) -> String? { HistoryEntryBounds.clipped(text, to: HistoryEntryBounds.maximumNameScalars) }
        let shown = record.verdicts.prefix(Self.maximumImages)
        var reason = HistoryEntryBounds.clipped(record.reason, to: HistoryEntryBounds.maximumTextScalars)
        if shown.count < record.verdicts.count {
            let note = "\(record.verdicts.count - shown.count) more images not shown"
            reason = reason.map { "\($0); \(note)" } ?? note
        }
        let decision = Decision(
            uid: name(record.uid) ?? "", decidedAt: clock().timeIntervalSince1970 * 1000, time: record.time, namespace: name(record.namespace),
            kind: name(record.kind) ?? "", name: name(record.name), user: name(record.user), allowed: record.allowed, dryRun: record.dryRun,
            images: shown.map { name($0.reference ?? $0.image) ?? "" }, verdicts: shown.map(\.outcome.rawValue),
            reason: reason, latencyMs: record.latencyMs, fromAPIServer: record.fromAPIServer)
        publish(decision)
    }

    /// Hands `decision` to every subscriber, encoded once.
    public func publish(_ decision: Decision) {
        // Yielded outside the lock: a consumer that has gone runs its termination handler,
        // which takes the lock.
        let current = subscribers.withLockedValue { $0.values.map(\.continuation) }
        guard !current.isEmpty else { return }
        let published = Published(decision: decision, event: ServerSentEvents.event("decision", json: HistoryPages.LiveRow(decision)))
        current.forEach { $0.yield(published) }
    }

    /// The decisions made from now on, until the consumer stops; nil when `reader` already
    /// holds ``maximumSubscriptionsPerReader`` streams or the feed ``maximumSubscriptions``.
    public func subscribe(for reader: String) -> AsyncStream<Published>? {
        let (stream, continuation) = AsyncStream.makeStream(of: Published.self, bufferingPolicy: .bufferingNewest(512))
        let key = UUID()
        let admitted = subscribers.withLockedValue { subscribers -> Bool in
            guard subscribers.count < Self.maximumSubscriptions,
                  subscribers.values.count(where: { $0.reader == reader }) < Self.maximumSubscriptionsPerReader else { return false }
            subscribers[key] = (reader, continuation)
            return true
        }
        guard admitted else {
            continuation.finish()
            return nil
        }
        continuation.onTermination = { [weak self] _ in self?.subscribers.withLockedValue { _ = $0.removeValue(forKey: key) } }
        return stream
    }

    public var subscriberCount: Int { subscribers.withLockedValue { $0.count } }
}

/// Tees admission audit records to several sinks, in order.
public struct AuditSinks: AuditSink {
    public let sinks: [any AuditSink]

    public init(_ sinks: [any AuditSink]) {
        self.sinks = sinks
    }

    public func record(_ record: AdmissionAuditRecord) {
        for sink in sinks { sink.record(record) }
    }
}
