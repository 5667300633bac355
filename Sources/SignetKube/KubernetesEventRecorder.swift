import Foundation
import Logging

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

    /// The `Event` as the API server accepts it on `POST /api/v1/namespaces/<ns>/events`.
    public func json(component: String) -> [UInt8] {
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
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        ]
        return Array((try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys])) ?? Data())
    }

    private static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// Posts ``KubernetesEvent``s off the caller's path: ``record(_:)`` only enqueues (never
/// blocks an admission), ``run()`` posts them one by one through the ``KubernetesClient``. At
/// most `capacity` events wait; beyond that the oldest are dropped and counted in the log. A 403
/// is logged once per namespace and further events of that namespace are dropped: no RBAC to
/// create events there, or a namespace being terminated (which refuses new objects). Events of
/// other namespaces are still posted: one terminating namespace, which a tenant can arrange,
/// must not silence every later emergency-bypass Event.
public final class KubernetesEventRecorder: Sendable {
    private let client: KubernetesClient
    private let component: String
    private let logger: Logger
    private let stream: AsyncStream<KubernetesEvent>
    private let continuation: AsyncStream<KubernetesEvent>.Continuation

    public init(client: KubernetesClient, component: String = "signet", capacity: Int = 256, logger: Logger = Logger(label: "signet.events")) {
        self.client = client
        self.component = component
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: KubernetesEvent.self, bufferingPolicy: .bufferingNewest(capacity))
    }

    /// Queues `event`; returns at once.
    public func record(_ event: KubernetesEvent) {
        if case .dropped = continuation.yield(event) {
            logger.warning("event queue full; dropped the oldest event", metadata: ["reason": "\(event.reason)"])
        }
    }

    /// The most namespaces remembered as refusing events before the list starts again.
    static let rememberedForbiddenNamespaces = 1024

    /// Stops accepting events; ``run()`` returns once the queue is drained.
    public func finish() { continuation.finish() }

    /// Posts queued events until ``finish()`` (or cancellation).
    public func run() async {
        // The namespaces that refused an event; bounded, so a stream of namespaces cannot grow it.
        var forbidden: Set<String> = []
        for await event in stream where !forbidden.contains(event.namespace) {
            do {
                try await client.create(.events, namespace: event.namespace, object: event.json(component: component))
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
    }
}
