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
    public func json(component: String, count: Int = 1, firstTime: Date? = nil) -> [UInt8] {
        var involved: [String: Any] = ["apiVersion": object.apiVersion, "kind": object.kind, "name": object.name]
        if let namespace = object.namespace { involved["namespace"] = namespace }
        if let uid = object.uid, !uid.isEmpty { involved["uid"] = uid }
        let stamp = Self.rfc3339(time)
        let prefix = object.name.prefix(200).lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "-" }
        let event: [String: Any] = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["generateName": String(prefix) + ".", "namespace": namespace],
            "involvedObject": involved, "reason": reason, "message": String(message.prefix(Self.maximumMessageCharacters)), "type": type,
            "source": ["component": component], "reportingComponent": component, "reportingInstance": component,
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
/// ``recordAggregated(_:key:)`` only enqueue (never block an admission), ``run()`` posts them one
/// by one through the ``KubernetesClient``. At most `capacity` events wait; beyond that the oldest
/// are dropped and counted in the log. A 403 is logged once per namespace and further events of
/// that namespace are dropped: no RBAC to create events there, or a namespace being terminated
/// (which refuses new objects). Events of other namespaces are still posted: one terminating
/// namespace, which a tenant can arrange, must not silence every later emergency-bypass Event.
///
/// Aggregated events (client-go's `EventCorrelator`: similar events become one Event whose
/// `count` grows): the first of a key within ``aggregationWindow`` is created; the later ones
/// raise its `count` and take its `lastTimestamp` and `message` with one merge patch per
/// ``flushInterval`` at most, whatever their number (`kubectl describe` shows
/// "(x57 over 9m)"). A key's next window starts a new Event.
public final class KubernetesEventRecorder: Sendable {
    private let client: KubernetesClient
    private let component: String
    private let logger: Logger
    private let stream: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation
    /// How long one Event stands for the occurrences of a key.
    public let aggregationWindow: TimeInterval
    /// How often a grown count is written.
    public let flushInterval: Duration
    private let aggregates = NIOLockedValueBox(EventAggregates())

    private enum Item: Sendable {
        case event(KubernetesEvent)
        /// Write the aggregate of this key: create its Event, or patch its count.
        case aggregate(String)
    }

    public init(
        client: KubernetesClient, component: String = "signet", capacity: Int = 256, aggregationWindow: TimeInterval = 600,
        flushInterval: Duration = .seconds(10), logger: Logger = Logger(label: "signet.events")
    ) {
        self.client = client
        self.component = component
        self.logger = logger
        self.aggregationWindow = aggregationWindow
        self.flushInterval = flushInterval
        (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(capacity))
    }

    /// Queues `event`; returns at once.
    public func record(_ event: KubernetesEvent) {
        if case .dropped = continuation.yield(.event(event)) {
            logger.warning("event queue full; dropped the oldest event", metadata: ["reason": "\(event.reason)"])
        }
    }

    /// Counts `event` as one more occurrence of `key`: the first within ``aggregationWindow``
    /// is queued to be created; the others only grow the count the next flush writes.
    public func recordAggregated(_ event: KubernetesEvent, key: String) {
        let create = aggregates.withLockedValue { $0.add(event, key: key, window: aggregationWindow) }
        if create, case .dropped = continuation.yield(.aggregate(key)) {
            logger.warning("event queue full; dropped the oldest event", metadata: ["reason": "\(event.reason)"])
        }
    }

    /// The most namespaces remembered as refusing events before the list starts again.
    static let rememberedForbiddenNamespaces = 1024

    /// Stops accepting events; ``run()`` returns once the queue is drained and every grown count
    /// is written.
    public func finish() { continuation.finish() }

    /// Posts queued events until ``finish()`` (or cancellation); every ``flushInterval``, writes
    /// the counts that grew.
    public func run() async {
        let flusher = Task { [continuation, aggregates, flushInterval] in
            while !Task.isCancelled {
                try? await Task.sleep(for: flushInterval)
                for key in aggregates.withLockedValue({ $0.takeGrown() }) { continuation.yield(.aggregate(key)) }
            }
        }
        defer { flusher.cancel() }
        // The namespaces that refused an event; bounded, so a stream of namespaces cannot grow it.
        var forbidden: Set<String> = []
        for await item in stream {
            await post(item, forbidden: &forbidden)
        }
        // Finished: what grew since the last flush is written before returning.
        for key in aggregates.withLockedValue({ $0.takeGrown() }) { await post(.aggregate(key), forbidden: &forbidden) }
    }

    private func post(_ item: Item, forbidden: inout Set<String>) async {
        switch item {
        case .event(let event):
            await post(event, aggregate: nil, forbidden: &forbidden)
        case .aggregate(let key):
            let (ended, current) = aggregates.withLockedValue { $0.snapshots(key) }
            // A window that ended before its last count was written: written now, and done with.
            for snapshot in ended { await post(snapshot.latest, aggregate: (key, snapshot, current: false), forbidden: &forbidden) }
            if let current { await post(current.latest, aggregate: (key, current, current: true), forbidden: &forbidden) }
        }
    }

    private func post(
        _ event: KubernetesEvent, aggregate: (key: String, snapshot: EventAggregates.Snapshot, current: Bool)?, forbidden: inout Set<String>
    ) async {
        guard !forbidden.contains(event.namespace) else { return }
        do {
            if let (key, snapshot, current) = aggregate {
                if let name = snapshot.name {
                    do {
                        try await client.patch(.events, name: name, namespace: event.namespace, patch: event.occurrencesPatch(count: snapshot.count))
                    } catch where error.statusCode == 404 {
                        // Gone (the API server keeps Events an hour, or someone deleted it): made again.
                        let created = try await client.create(.events, namespace: event.namespace, object: event.json(
                            component: component, count: snapshot.count, firstTime: snapshot.first))
                        if current { aggregates.withLockedValue { $0.created(key, window: snapshot.first, name: Self.name(of: created)) } }
                    }
                } else {
                    let created = try await client.create(.events, namespace: event.namespace, object: event.json(
                        component: component, count: snapshot.count, firstTime: snapshot.first))
                    if current { aggregates.withLockedValue { $0.created(key, window: snapshot.first, name: Self.name(of: created)) } }
                }
                if current { aggregates.withLockedValue { $0.written(key, window: snapshot.first, count: snapshot.count) } }
            } else {
                try await client.create(.events, namespace: event.namespace, object: event.json(component: component))
            }
        } catch {
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
    }

    /// `metadata.name` of a stored object's JSON.
    private static func name(of object: [UInt8]) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(object))) as? [String: Any]).flatMap { ($0["metadata"] as? [String: Any])?["name"] as? String }
    }
}
