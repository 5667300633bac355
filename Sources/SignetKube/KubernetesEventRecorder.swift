import Foundation
import Logging
import NIOConcurrencyHelpers

/// A Kubernetes `v1` `Event` to report (Kubernetes API reference, "Event v1 core"): what
/// happened (`reason`, `message`, `type`) to which object (`involvedObject`), stored in the
/// object's namespace (`default` for a cluster-scoped object).
public struct KubernetesEvent: Sendable, Hashable {
    /// `involvedObject`: the object the event is about.
    public struct ObjectReference: Sendable, Hashable {
        public var apiVersion: String
        public var kind: String
        public var name: String
        public var namespace: String?
        public var uid: String?

        public init(apiVersion: String, kind: String, name: String, namespace: String?, uid: String? = nil) {
            self.apiVersion = apiVersion
            self.kind = kind
            self.name = name
            self.namespace = namespace
            self.uid = uid
        }
    }

    public var object: ObjectReference
    /// A CamelCase reason, such as `EmergencyBypassUsed`.
    public var reason: String
    /// At most ``maximumMessageCharacters``, cut when the event is made: the recorder's queue
    /// holds events, and a message naming every image of a large object would be megabytes.
    public var message: String
    /// `Normal` or `Warning`.
    public var type: String
    public var time: Date

    /// The longest message kept (the API server's own event messages are cut at about this).
    public static let maximumMessageCharacters = 1024

    public init(object: ObjectReference, reason: String, message: String, type: String = "Warning", time: Date) {
        self.object = object
        self.reason = reason
        self.message = String(message.prefix(Self.maximumMessageCharacters))
        self.type = type
        self.time = time
    }

    /// Where the event is stored: the object's namespace, or `default` for a cluster-scoped one.
    public var namespace: String { object.namespace ?? "default" }

    /// The `Event` as the API server accepts it on `POST /api/v1/namespaces/<ns>/events`; with
    /// `count` occurrences since `firstTime` when it stands for several (``KubernetesEventRecorder/recordAggregated(_:key:)``).
    public func json(component: String, instance: String? = nil, count: Int = 1, firstTime: Date? = nil) -> [UInt8] {
        var involved: [String: Any] = ["apiVersion": object.apiVersion, "kind": object.kind, "name": object.name]
        if let namespace = object.namespace { involved["namespace"] = namespace }
        if let uid = object.uid, !uid.isEmpty { involved["uid"] = uid }
        let stamp = Self.rfc3339(time)
        let prefix = object.name.prefix(200).lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "-" }
        let event: [String: Any] = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["generateName": String(prefix) + ".", "namespace": namespace],
            "involvedObject": involved, "reason": reason, "message": String(message.prefix(Self.maximumMessageCharacters)), "type": type,
            "source": ["component": component], "reportingComponent": component, "reportingInstance": instance.flatMap { $0.isEmpty ? nil : $0 } ?? component,
            "firstTimestamp": firstTime.map(Self.rfc3339) ?? stamp, "lastTimestamp": stamp, "count": max(1, count),
        ]
        return Array((try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys])) ?? Data())
    }

    /// What changes when the Event stands for `count` occurrences, the last of them this one: a
    /// JSON merge patch of `count`, `lastTimestamp` and `message`.
    func occurrencesPatch(count: Int) -> [UInt8] {
        let patch: [String: Any] = ["count": count, "lastTimestamp": Self.rfc3339(time), "message": String(message.prefix(Self.maximumMessageCharacters))]
        return Array((try? JSONSerialization.data(withJSONObject: patch, options: [.sortedKeys])) ?? Data())
    }

    static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// Posts ``KubernetesEvent``s off the caller's path: ``record(_:)`` and
/// ``recordAggregated(_:key:)`` only note the event (never block an admission), ``run()`` posts
/// them through the ``KubernetesClient``. At most `capacity` single events wait; beyond that the
/// oldest are dropped and counted in the log. A 403 on a create is logged once per namespace and
/// further events of that namespace are dropped: no RBAC to create events there, or a namespace
/// being terminated (which refuses new objects). Events of other namespaces are still posted:
/// one terminating namespace, which a tenant can arrange, must not silence every later
/// emergency-bypass Event.
///
/// Aggregated events (client-go's `EventCorrelator`: similar events become one Event whose
/// `count` grows) are kept apart from that queue, so a flood of single events cannot push them
/// out: every ``flushInterval`` the first of a key within ``aggregationWindow`` is created with
/// the count so far, and later ones raise its `count` and take its `lastTimestamp` and `message`
/// with one merge patch, whatever their number (`kubectl describe` shows "(x57 over 9m)"). A
/// key's next window starts a new Event. Each replica counts the events it saw, and names
/// itself in `reportingInstance`. Without the right to patch events, each flush creates an Event
/// with the count since the last one.
public final class KubernetesEventRecorder: Sendable {
    private let client: KubernetesClient
    private let component: String
    /// `reportingInstance`: which replica reports (its host name, the Pod's name in a cluster).
    private let instance: String
    private let logger: Logger
    private let stream: AsyncStream<KubernetesEvent>
    private let continuation: AsyncStream<KubernetesEvent>.Continuation
    /// How long one Event stands for the occurrences of a key.
    public let aggregationWindow: TimeInterval
    /// How often aggregated events are written.
    public let flushInterval: Duration
    private let aggregates = NIOLockedValueBox(EventAggregates())
    /// Set at the first 403 on a patch: counts are then written as new Events.
    private let patchForbidden = NIOLockedValueBox(false)

    public init(
        client: KubernetesClient, component: String = "signet", instance: String = KubernetesEventRecorder.hostName(), capacity: Int = 256,
        aggregationWindow: TimeInterval = 600, flushInterval: Duration = .seconds(10), logger: Logger = Logger(label: "signet.events")
    ) {
        self.client = client
        self.component = component
        self.instance = instance
        self.logger = logger
        self.aggregationWindow = aggregationWindow
        self.flushInterval = flushInterval
        (stream, continuation) = AsyncStream.makeStream(of: KubernetesEvent.self, bufferingPolicy: .bufferingNewest(capacity))
    }

    /// This host's name (`gethostname(2)`): in a cluster, the Pod's name.
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Queues `event`; returns at once.
    public func record(_ event: KubernetesEvent) {
        if case .dropped(let oldest) = continuation.yield(event) {
            logger.warning("event queue full; dropped the oldest event", metadata: ["reason": "\(oldest.reason)"])
        }
    }

    /// Counts `event` as one more occurrence of `key`, written at the next flush.
    public func recordAggregated(_ event: KubernetesEvent, key: String) {
        aggregates.withLockedValue { $0.add(event, key: key, window: aggregationWindow) }
    }

    /// The most namespaces remembered as refusing events before the list starts again.
    static let rememberedForbiddenNamespaces = 1024

    /// Stops accepting events; ``run()`` returns once the queue is drained and every aggregated
    /// count is written.
    public func finish() { continuation.finish() }

    /// Posts queued events until ``finish()`` (or cancellation); every ``flushInterval``, writes
    /// the aggregated events.
    public func run() async {
        let flusher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: flushInterval)
                if Task.isCancelled { break }
                // In a task of its own, which stopping the flusher does not cancel: a request
                // cancelled after the API server stored its Event would be written again.
                await Task { await flush() }.value
            }
        }
        // The namespaces that refused an event; bounded, so a stream of namespaces cannot grow it.
        var forbidden: Set<String> = []
        for await event in stream where !forbidden.contains(event.namespace) {
            do {
                try await client.create(.events, namespace: event.namespace, object: event.json(component: component, instance: instance))
            } catch {
                report(error, creating: event, forbidden: &forbidden)
            }
        }
        // Finished: the flusher stops, then what it had not written is.
        flusher.cancel()
        await flusher.value
        await flush()
    }

    /// Writes the aggregated events whose count grew: a create for a new window, else a patch.
    /// Only one flush runs at a time (the flusher's, then the last one).
    private func flush() async {
        var forbidden: Set<String> = []
        let (windows, dropped) = aggregates.withLockedValue { $0.takeWrites() }
        if dropped > 0 {
            logger.warning("aggregated events dropped unwritten: more windows ended at once than are kept", metadata: [
                "windows": "\(dropped)", "kept": "\(EventAggregates.maximumKeys)",
            ])
        }
        for window in windows where !forbidden.contains(window.latest.namespace) {
            let event = window.latest
            do {
                if let name = window.name, !patchForbidden.withLockedValue({ $0 }) {
                    do {
                        try await client.patch(.events, name: name, namespace: event.namespace, patch: event.occurrencesPatch(count: window.count))
                        aggregates.withLockedValue { $0.wrote(window, name: nil) }
                        continue
                    } catch where error.statusCode == 404 {
                        // Gone (the API server keeps Events an hour, or someone deleted it): made again below.
                    } catch where error.isForbidden {
                        patchForbidden.withLockedValue { $0 = true }
                        logger.warning("events cannot be patched; each count is reported as a new Event", metadata: [
                            "remedy": "grant patch on events in namespace \(event.namespace)", "error": "\(error)",
                        ])
                    }
                }
                // Without a stored Event to patch: the whole count; without the right to patch: what it has not reported.
                let count = window.name != nil && patchForbidden.withLockedValue({ $0 }) ? window.count - window.written : window.count
                let created = try await client.create(.events, namespace: event.namespace, object: event.json(
                    component: component, instance: instance, count: count, firstTime: window.first))
                aggregates.withLockedValue { $0.wrote(window, name: Self.name(of: created) ?? window.name) }
            } catch {
                report(error, creating: event, forbidden: &forbidden)
                // A window that ended is written again at the next flush (unless the namespace
                // refuses events); a current one is, as its count stays unwritten.
                if !error.isForbidden { aggregates.withLockedValue { $0.retry(window) } }
            }
        }
    }

    private func report(_ error: KubernetesError, creating event: KubernetesEvent, forbidden: inout Set<String>) {
        if error.isForbidden {
            if forbidden.count >= Self.rememberedForbiddenNamespaces { forbidden.removeAll() }
            forbidden.insert(event.namespace)
            logger.warning("events cannot be created in this namespace; its events are not recorded", metadata: [
                "namespace": "\(event.namespace)", "error": "\(error)",
            ])
        } else {
            logger.warning("cannot create event", metadata: [
                "reason": "\(event.reason)", "object": "\(event.object.kind)/\(event.object.name)", "error": "\(error)",
            ])
        }
    }

    /// `metadata.name` of a stored object's JSON.
    private static func name(of object: [UInt8]) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(object))) as? [String: Any]).flatMap { ($0["metadata"] as? [String: Any])?["name"] as? String }
    }
}
