import Foundation
import SignetAdmission
import Synchronization

/// Every admission decision as it is made, for open History pages (server-sent events): an
/// ``AuditSink`` beside the others that hands each record to the current subscribers and keeps
/// nothing. A subscriber that does not keep up loses the oldest decisions of its buffer, never
/// slows admission.
public final class DecisionFeed: AuditSink {
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
    }

    private let subscribers = Mutex<[UUID: AsyncStream<Decision>.Continuation]>([:])
    private let clock: @Sendable () -> Date

    public init(clock: @escaping @Sendable () -> Date = { Date() }) {
        self.clock = clock
    }

    public func record(_ record: AdmissionAuditRecord) {
        guard record.event == "admission" else { return }
        let decision = Decision(
            uid: record.uid, decidedAt: clock().timeIntervalSince1970 * 1000, time: record.time, namespace: record.namespace,
            kind: record.kind, name: record.name, user: record.user, allowed: record.allowed, dryRun: record.dryRun,
            images: record.verdicts.map { $0.reference ?? $0.image }, verdicts: record.verdicts.map(\.outcome.rawValue),
            reason: record.reason, latencyMs: record.latencyMs)
        publish(decision)
    }

    /// Hands `decision` to every subscriber.
    public func publish(_ decision: Decision) {
        // Yielded outside the lock: a consumer that has gone runs its termination handler,
        // which takes the lock.
        let current = subscribers.withLock { Array($0.values) }
        current.forEach { $0.yield(decision) }
    }

    /// The decisions made from now on, until the consumer stops.
    public func subscribe() -> AsyncStream<Decision> {
        let (stream, continuation) = AsyncStream.makeStream(of: Decision.self, bufferingPolicy: .bufferingNewest(512))
        let key = UUID()
        subscribers.withLock { $0[key] = continuation }
        continuation.onTermination = { [weak self] _ in self?.subscribers.withLock { _ = $0.removeValue(forKey: key) } }
        return stream
    }

    public var subscriberCount: Int { subscribers.withLock { $0.count } }
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
