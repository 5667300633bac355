import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SignetHTTPClient

/// Sends alerts to webhook receivers off the caller's clock: ``enqueue(_:)`` never waits (an
/// alert joins bounded queues, or is dropped and counted when they are full), and ``run()``
/// drains the queues on tasks of its own, POSTing each alert to every URL with retries and
/// exponential backoff on a transport error or a 5xx/429 answer (waiting what `Retry-After`
/// asks, up to the longest backoff). An alert whose ``Alert/deduplicationKey`` was queued
/// within the deduplication window is not sent again.
///
/// Each URL has its own queues, drained by its own tasks: a receiver that does not answer
/// costs its own alerts their retries, never another receiver's. Each kind has its own queue
/// there too, drained beside the others: anyone may cause denials (each a new alert), and a
/// scan may find a thousand untrusted images at once; neither flood may push an emergency
/// bypass's alert (sent once, when the bypass is used) out of a shared queue, nor hold it back.
///
/// Memory stays bounded whatever the alerts hold: an alert is cut (``Alert/bounded()``) before
/// it is queued, and the window remembers a 64-bit hash of each key (not the key, which names
/// every image of the object) for at most ``maximumRememberedAlerts`` alerts, the oldest
/// forgotten first.
///
/// Deny alerts of workloads are limited per namespace (``AlertConfiguration/denyAlertBurstPerNamespace``,
/// then one per ``AlertConfiguration/denyAlertInterval``): past it a namespace's denials are
/// counted as `limited`, not queued, and the namespace's next alert says how many were not sent.
///
/// Metrics: `signet_alerts_total{kind,outcome}` (`outcome`: `sent`, `failed`, `dropped`,
/// `deduplicated`, `limited`; bounded: the four kinds and five outcomes).
public final class AlertDispatcher: Sendable {
    public let configuration: AlertConfiguration
    private let now: @Sendable () -> ContinuousClock.Instant
    /// When each alert was last queued, by the hash of its ``Alert/deduplicationKey``.
    private let lastQueued = NIOLockedValueBox<[Int: ContinuousClock.Instant]>([:])
    /// The most alerts the deduplication window remembers: past it, those whose window has
    /// passed are forgotten, and if none has, the older half is (an alert may then be sent
    /// twice; a flood of distinct denials must not grow the server's memory).
    public static let maximumRememberedAlerts = 10_000
    /// One queue per receiver and kind of alert (``Alert/Kind``), each of the configured capacity.
    private struct Lane {
        let url: String
        let kind: Alert.Kind
        let alerts: AsyncStream<Alert>
        let continuation: AsyncStream<Alert>.Continuation
    }
    private let lanes: [Lane]
    /// Each namespace's deny alerts: tokens left and when they were counted.
    private let denyBudgets: NIOLockedValueBox<NamespaceAlertBudgets>
    private let transport: HTTPClient
    private let logger: Logger

    /// `now` reads the time deduplication windows are measured with (injected by tests).
    public init(
        configuration: AlertConfiguration, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        logger: Logger = Logger(label: "signet.alerts")
    ) throws {
        self.configuration = configuration
        self.now = now
        self.logger = logger
        denyBudgets = NIOLockedValueBox(NamespaceAlertBudgets(
            burst: configuration.denyAlertBurstPerNamespace, interval: configuration.denyAlertInterval, capacity: Self.maximumRememberedAlerts))
        var urls: [String] = []
        for url in configuration.urls where !urls.contains(url) { urls.append(url) }
        lanes = urls.flatMap { url in
            [Alert.Kind.bypass, .untrustedRunning, .unverifiableRunning, .deny].map { kind in
                let (alerts, continuation) = AsyncStream.makeStream(of: Alert.self, bufferingPolicy: .bufferingOldest(max(1, configuration.queueCapacity)))
                return Lane(url: url, kind: kind, alerts: alerts, continuation: continuation)
            }
        }
        transport = try HTTPClient(configuration: HTTPClient.Configuration(
            caBundlePath: configuration.caBundlePath, connectTimeout: configuration.requestTimeout, userAgent: "signet-alerts"))
    }

    deinit { transport.shutdown() }

    /// Queues `alert` unless the same alert was queued within the window or the queue is full;
    /// whether it was queued. Never waits.
    @discardableResult
    public func enqueue(_ alert: Alert) -> Bool {
        // The key of the whole alert (two objects whose images differ past the cut are not the
        // same alert), kept as a hash; the alert itself is cut before it is queued.
        let key = alert.deduplicationKey.hashValue
        var alert = alert.bounded()
        let instant = now()
        let window = configuration.deduplicationWindow
        let previous = lastQueued.withLockedValue { last -> ContinuousClock.Instant?? in
            if let previous = last[key], instant - previous < window { return .none }
            if last.count >= Self.maximumRememberedAlerts {
                last = last.filter { instant - $0.value < window }
                if last.count >= Self.maximumRememberedAlerts {
                    // The older half goes, not all: what was queued last stays deduplicated,
                    // so a flood does not make every alert of the last window go out again.
                    let newest = last.sorted { $0.value > $1.value }.prefix(Self.maximumRememberedAlerts / 2)
                    last = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
                }
            }
            let previous = last[key]
            last[key] = instant
            return .some(previous)
        }
        guard let previous else {
            count(alert, "deduplicated")
            return false
        }
        if alert.kind == .deny, let namespace = alert.namespace, Self.isWorkload(alert) {
            guard let unsent = takeDenyToken(namespace: namespace, at: instant) else {
                lastQueued.withLockedValue { last in
                    if last[key] == instant { last[key] = previous }
                }
                count(alert, "limited")
                return false
            }
            if unsent > 0 {
                // The first alert the namespace may send again says how many it did not.
                alert.summary += " (and \(unsent) more denials in \(namespace) not alerted: over the namespace's alert rate; the audit log has each)"
                logger.warning("deny alerts over their namespace's rate were not sent", metadata: ["namespace": "\(namespace)", "count": "\(unsent)"])
            }
        }
        var queued = false
        for lane in lanes where lane.kind == alert.kind {
            if case .enqueued = lane.continuation.yield(alert) {
                queued = true
            } else {
                count(alert, "dropped")
                logger.warning("alert queue full: alert dropped", metadata: ["kind": "\(alert.kind.rawValue)", "summary": "\(alert.summary)"])
            }
        }
        if queued { return true }
        // Sent nowhere: the same alert may be queued again as soon as there is room.
        lastQueued.withLockedValue { last in
            if last[key] == instant { last[key] = previous }
        }
        return false
    }

    /// Whether a deny alert is of a workload (a Pod or a controller of Pods), which anyone who
    /// may create them causes at will; the denials of signet's own resources and of Namespaces
    /// (an exception, a bypass or an opt-out label refused: attempts to switch signet off) are
    /// never limited. The kind is the decision's subject's, qualified by its group when a review
    /// names one of those kinds under another group
    /// (``AdmissionResponder/subjectKind(_:)``), so a made-up one is limited as a workload.
    static func isWorkload(_ alert: Alert) -> Bool {
        let kind = alert.object.map { String($0.prefix { $0 != "/" }) } ?? ""
        return !["ClusterImagePolicy", "PolicyException", "EmergencyBypass", "Namespace"].contains(kind)
    }

    /// Whether `namespace` may queue one more deny alert at `instant` (and takes it): nil when
    /// not, else how many it was refused since its last one.
    private func takeDenyToken(namespace: String, at instant: ContinuousClock.Instant) -> Int? {
        denyBudgets.withLockedValue { $0.take(namespace, at: instant) }
    }

    /// Sends the alerts of one scan's `findings` (``Alert/untrustedRunning(_:time:)``: one per
    /// untrusted image and namespace, so a run alerts once per finding, not once per replica)
    /// and returns when each is delivered or given up; for `signet scan`, which runs once. Every
    /// alert of the run is queued before sending starts, so the queues are made to hold them all
    /// (each alert is cut to a few kilobytes): a run that finds more untrusted images than a
    /// queue's capacity sends every alert, not the first thousand.
    public static func sendOnce(_ findings: [ImageFinding], configuration: AlertConfiguration, time: Date = Date()) async throws {
        let alerts = Alert.interleavedByNamespace(Alert.untrustedRunning(findings, time: time))
        var configuration = configuration
        configuration.queueCapacity = max(configuration.queueCapacity, alerts.count)
        let dispatcher = try AlertDispatcher(configuration: configuration)
        for alert in alerts { dispatcher.enqueue(alert) }
        dispatcher.finish()
        await dispatcher.run()
    }

    /// How many alerts the deduplication window remembers now.
    var rememberedAlerts: Int { lastQueued.withLockedValue { $0.count } }

    /// No more alerts: ``run()`` returns once the queued ones are sent (or given up).
    public func finish() {
        for lane in lanes { lane.continuation.finish() }
    }

    /// Sends queued alerts until ``finish()`` and the queues are empty, or the task is
    /// cancelled; every queue (receiver and kind) side by side.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for lane in lanes {
                group.addTask {
                    for await alert in lane.alerts {
                        let sent = await self.deliver(alert, to: lane.url)
                        self.count(alert, sent ? "sent" : "failed")
                    }
                }
            }
        }
    }

    /// POSTs `alert` to `url`, retrying with backoff; whether a receiver took it (2xx).
    func deliver(_ alert: Alert, to url: String) async -> Bool {
        let body = configuration.format.body(alert)
        var backoff = configuration.initialBackoff
        for attempt in 1...max(1, configuration.maximumAttempts) {
            var problem: String
            var asked: Duration?
            do {
                let response = try await transport.send(
                    method: "POST", url: url, headers: [("Content-Type", "application/json")], body: body,
                    maximumResponseBytes: 64 * 1024, deadline: .now + configuration.requestTimeout)
                if (200..<300).contains(response.status) { return true }
                problem = "HTTP \(response.status)"
                asked = Self.retryAfter(response.headers.first { $0.name == "retry-after" }?.value)
                // Another 4xx will not change by asking again.
                if (400..<500).contains(response.status) && response.status != 429 && response.status != 408 {
                    logger.error("alert refused by the receiver", metadata: ["kind": "\(alert.kind.rawValue)", "problem": "\(problem)"])
                    return false
                }
            } catch {
                problem = error.description
            }
            guard attempt < configuration.maximumAttempts, !Task.isCancelled else {
                logger.error("alert not delivered", metadata: [
                    "kind": "\(alert.kind.rawValue)", "attempts": "\(attempt)", "problem": "\(problem)",
                ])
                return false
            }
            try? await Task.sleep(for: min(max(backoff, asked ?? .zero), configuration.maximumBackoff))
            backoff = min(backoff * 2, configuration.maximumBackoff)
        }
        return false
    }

    /// A `Retry-After` in seconds (RFC 9110 section 10.2.3); nil for none, or for the HTTP-date
    /// form, which the backoff then stands for.
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value, let seconds = Int(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return nil }
        return .seconds(min(seconds, 86_400))
    }

    private func count(_ alert: Alert, _ outcome: String) {
        Counter(label: "signet_alerts_total", dimensions: [("kind", alert.kind.rawValue), ("outcome", outcome)]).increment()
    }
}
