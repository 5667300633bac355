import Foundation
import Logging

/// Keeps a local copy of every object of one resource type, the way client-go's reflector does
/// (Kubernetes API concepts, "Efficient detection of changes"):
///
/// 1. list, replace the store, remember the list's resourceVersion, report synced;
/// 2. watch from that resourceVersion with bookmarks; apply ADDED/MODIFIED/DELETED; a BOOKMARK
///    only advances the resourceVersion;
/// 3. when the server ends the watch, watch again from the last resourceVersion (a watch the
///    server does not end in time is a broken one: the client's deadline, step 4);
/// 4. when the connection breaks, wait (``Backoff``) and watch again from the last resourceVersion;
/// 5. on 410 Gone (an `ERROR` event or the HTTP status), list again (step 1); after
///    ``relistAfterBrokenWatches`` watches in a row broke without an event, list again too
///    (client-go relists on any watch error): a watch refused for another reason ("too large
///    resource version" after an etcd restore, an `ERROR` event of any other code) would
///    otherwise be retried from the same resourceVersion for ever, the store never refreshed.
///
/// Each change publishes a ``ResourceSnapshot`` to ``snapshots`` (unless made with
/// `publishesSnapshots: false`, for a consumer that reads ``snapshot`` when it needs it: a
/// snapshot is the whole store, sorted, and a Pod reflector of a large cluster sees many events
/// a second); ``hasSynced`` turns true after
/// the first full list and stays true, so a store whose watch keeps failing is still served:
/// ``lastContact`` tells how old it may be.
public actor ResourceReflector {
    public nonisolated let resource: KubernetesResource
    /// The objects listed and watched (by default all of them).
    public nonisolated let scope: KubernetesListScope
    /// The store after every change (newest kept when the consumer falls behind); nothing when
    /// made with `publishesSnapshots: false`.
    public nonisolated let snapshots: AsyncStream<ResourceSnapshot>
    private let publishesSnapshots: Bool

    private let client: KubernetesClient
    private let logger: Logger
    private var backoff: Backoff
    private let continuation: AsyncStream<ResourceSnapshot>.Continuation
    private var store: [String: KubernetesObject] = [:]
    private var resourceVersion = ""
    private var counters = ResourceSnapshot.Counters()
    private var listError: KubernetesError?
    public private(set) var hasSynced = false
    /// When the API server last answered about this resource: a list, a watch event or bookmark,
    /// or the end of a watch at its `timeoutSeconds` (at least that often while all is well).
    /// While it does not (a watch refused, broken or lost), the store stays as it was: changes
    /// made meanwhile, deletions too, are not seen.
    public private(set) var lastContact: Date?
    /// Watches in a row that broke before any event came.
    private var brokenWatches = 0
    /// How many watches in a row may break without an event before the store is listed again.
    public static let relistAfterBrokenWatches = 5
    private let relistAfter: Int

    public init(
        client: KubernetesClient, resource: KubernetesResource, scope: KubernetesListScope = .all, backoff: Backoff = Backoff(),
        relistAfterBrokenWatches: Int = ResourceReflector.relistAfterBrokenWatches, publishesSnapshots: Bool = true,
        logger: Logger = Logger(label: "signet.kube.reflector")
    ) {
        self.relistAfter = max(1, relistAfterBrokenWatches)
        self.publishesSnapshots = publishesSnapshots
        self.client = client
        self.resource = resource
        self.scope = scope
        self.backoff = backoff
        self.logger = logger
        (snapshots, continuation) = AsyncStream.makeStream(of: ResourceSnapshot.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// How many full lists have completed (``ResourceSnapshot/Counters/lists``), without copying the store.
    public var completedLists: Int { counters.lists }

    /// The current store.
    public var snapshot: ResourceSnapshot {
        ResourceSnapshot(
            objects: store.values.sorted { $0.key < $1.key }, resourceVersion: resourceVersion, hasSynced: hasSynced, counters: counters,
            listError: listError)
    }

    /// Lists and watches until the task is cancelled.
    public func run() async {
        var needsList = true
        while !Task.isCancelled {
            if needsList {
                do {
                    let list = try await client.list(resource, scope: scope)
                    counters.lists += 1
                    listError = nil
                    store = Dictionary(list.items.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
                    resourceVersion = list.resourceVersion
                    hasSynced = true
                    lastContact = Date()
                    needsList = false
                    brokenWatches = 0
                    backoff.reset()
                    publish()
                    logger.debug("listed", metadata: ["resource": "\(resource)", "objects": "\(store.count)", "resource_version": "\(resourceVersion)"])
                } catch {
                    logger.warning("list failed", metadata: ["resource": "\(resource)", "scope": "\(scope)", "error": "\(error)"])
                    // Published, so a consumer waiting for the first list can tell "cannot read"
                    // (403, 404) from "not read yet".
                    if listError != error {
                        listError = error
                        publish()
                    }
                    await sleep(backoff.nextDelay())
                    continue
                }
            }
            counters.watches += 1
            do {
                for try await event in client.watch(resource, resourceVersion: resourceVersion, scope: scope) {
                    if try apply(event) {
                        backoff.reset()
                        brokenWatches = 0
                    }
                }
                // The server ended the watch (timeoutSeconds): resume from the last version.
                lastContact = Date()
                brokenWatches = 0
            } catch let error as KubernetesError where error.isGone {
                counters.relistsAfterGone += 1
                logger.info("resourceVersion too old; relisting", metadata: ["resource": "\(resource)", "resource_version": "\(resourceVersion)"])
                needsList = true
            } catch {
                if Task.isCancelled { break }
                counters.reconnects += 1
                brokenWatches += 1
                if brokenWatches >= relistAfter {
                    brokenWatches = 0
                    needsList = true
                    logger.warning("watch broke again; listing anew", metadata: [
                        "resource": "\(resource)", "broken_watches": "\(relistAfter)", "error": "\(error)",
                    ])
                } else {
                    logger.warning("watch broke; reconnecting", metadata: ["resource": "\(resource)", "error": "\(error)"])
                }
                await sleep(backoff.nextDelay())
            }
        }
        continuation.finish()
    }

    /// Applies one event; returns whether it was a data event. Throws a Gone error for a 410.
    private func apply(_ event: WatchEvent) throws(KubernetesError) -> Bool {
        if case .error = event {} else { lastContact = Date() }
        switch event {
        case .added(let object), .modified(let object):
            store[object.key] = object
            if let version = object.resourceVersion { resourceVersion = version }
        case .deleted(let object):
            store[object.key] = nil
            if let version = object.resourceVersion { resourceVersion = version }
        case .bookmark(let version):
            counters.bookmarks += 1
            if !version.isEmpty { resourceVersion = version }
            publish()
            return true
        case .error(let code, let message):
            throw KubernetesError(.status, "watch \(resource): \(message)", statusCode: code)
        }
        counters.events += 1
        publish()
        return true
    }

    private func publish() {
        guard publishesSnapshots else { return }
        continuation.yield(snapshot)
    }

    private func sleep(_ delay: Duration) async {
        try? await Task.sleep(for: delay)
    }
}

/// The objects of a ``ResourceReflector`` at one moment, and how it got there.
public struct ResourceSnapshot: Sendable {
    public var objects: [KubernetesObject]
    /// The last resourceVersion seen (list, event or bookmark).
    public var resourceVersion: String
    /// Whether a full list has completed.
    public var hasSynced: Bool
    public var counters: Counters
    /// Why the last list failed, until a list succeeds (for example 403 when RBAC does not
    /// allow it); `nil` after a successful list.
    public var listError: KubernetesError? = nil

    /// Work done so far, for tests and diagnostics.
    public struct Counters: Sendable, Hashable {
        public var lists = 0
        public var watches = 0
        public var events = 0
        public var bookmarks = 0
        public var relistsAfterGone = 0
        public var reconnects = 0
    }
}
