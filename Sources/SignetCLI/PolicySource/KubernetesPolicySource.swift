import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SignetKube
import SignetPolicy

/// Policies, exceptions, bypasses and namespace labels from the cluster: one
/// ``ResourceReflector`` (list + watch with resume) per resource type, compiled into a
/// ``PolicySet`` whenever any of them changes. Loaded once every reflector has completed its
/// first full list.
///
/// Each object is compiled on its own, so one invalid object (created while the webhook was
/// down, or by a path that skips admission) is left out and reported in its status without
/// taking the others with it.
///
/// Trust material is live (DESIGN: everything a verdict depended on is in its cache key): the
/// Secrets and ConfigMaps policies name (`secretRef` public keys, `notation` trust policies,
/// certificates and CRLs, `configMapRef` trust roots) are read through the API, each watched
/// alone (``KeySecretsSource/api``), or from their mounted files
/// (``KeySecretsSource/directory(_:)``); key files, mounted keys and trust root files are checked
/// every `trustMaterialInterval`. What the policies read is part of the set's revision, so a
/// rotated or removed Secret, ConfigMap or file recompiles them (a removed key fails closed,
/// ``CompiledAuthority/unresolvedReason``) and retires the cached verdicts made with the old one
/// within one interval.
actor KubernetesPolicySource: PolicySource {
    static let resources: [KubernetesResource] = [.clusterImagePolicies, .policyExceptions, .emergencyBypasses, .namespaces]

    private let client: KubernetesClient
    private let reflectors: [ResourceReflector]
    private let loader: PolicyLoader
    private let statusWriter: ResourceStatusWriter?
    private let logger: Logger
    private var snapshots: [KubernetesResource: ResourceSnapshot] = [:]
    private var set = PolicySet.empty
    /// The labels of every namespace, once loaded (`nil` before): read by each admission
    /// without a hop onto the actor.
    private let labels = NIOLockedValueBox<[String: [String: String]]?>(nil)
    private let exceptionUsage = NIOLockedValueBox<[String: ExemptionLimits.NamespaceUsage]>([:])
    private var invalid: [String: String] = [:]
    private var loaded = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// Where `secretRef` and `configMapRef` keys are read.
    nonisolated let keySecrets: KeySecretsSource
    private let trustMaterialInterval: Duration
    private let backoff: Backoff
    /// The Secrets and ConfigMaps policies name (API mode), by ``ClusterKeyReference/object``:
    /// what is known of each, and the tasks that watch it.
    private var watched: [String: WatchedObject] = [:]
    private var watches: [String: [Task<Void, Never>]] = [:]
    /// The fingerprint of the trust material files the set in force read.
    private var filesFingerprint = ""

    init(
        client: KubernetesClient, exemptions: ExemptionConfiguration, writeStatus: Bool,
        keySecrets: KeySecretsSource = .directory(PolicyLoader.defaultKeySecretsDirectory), trustMaterialInterval: Duration = .seconds(5),
        liveTrustedRoot: LiveTrustedRoot? = nil, tufTrustRoots: PolicyTUFTrustRoots? = nil, backoff: Backoff = Backoff(),
        logger: Logger = Logger(label: "signet.policy.kubernetes")
    ) {
        self.client = client
        var loader = PolicyLoader(logger: logger)
        loader.liveTrustedRoot = liveTrustedRoot
        loader.tufTrustRoots = tufTrustRoots
        if case .directory(let directory) = keySecrets { loader.keySecretsDirectory = directory }
        self.loader = loader
        self.keySecrets = keySecrets
        self.trustMaterialInterval = trustMaterialInterval
        self.backoff = backoff
        self.logger = logger
        self.reflectors = Self.resources.map { ResourceReflector(client: client, resource: $0, backoff: backoff, logger: logger) }
        self.statusWriter = writeStatus ? ResourceStatusWriter(client: client, exemptions: exemptions, logger: logger) : nil
    }

    func current() -> PolicySet { set }

    /// The labels of `namespace`, or `nil` when the watch has not seen it (yet): unknown labels
    /// apply every policy with a selector and never match an opt-out label, so missing
    /// information never exempts an image.
    nonisolated func namespaceLabels(_ namespace: String) -> [String: String]? {
        labels.withLockedValue { labels in labels?[namespace] }
    }

    /// What the PolicyExceptions of `namespace` within its budget take (see
    /// ``ExemptionLimits/namespaceBudgetRefusal(adding:to:namespace:)``), as last compiled.
    nonisolated func exceptionUsage(_ namespace: String) -> ExemptionLimits.NamespaceUsage? {
        exceptionUsage.withLockedValue { $0[namespace] ?? ExemptionLimits.NamespaceUsage() }
    }

    /// Whether every resource type has been listed once.
    var hasLoaded: Bool { loaded }
    /// How many times the signet resources were compiled into a set.
    private(set) var compilations = 0
    /// The least time between two compilations that watch events cause: events that come
    /// faster are compiled together once the interval has passed. Whoever may edit a
    /// PolicyException (a label, an annotation: as often as the API server lets them) made every
    /// replica compile every policy, exception and bypass, trust material included, at each edit.
    static let minimumRebuildInterval: Duration = .seconds(1)
    private var lastRebuild: ContinuousClock.Instant?
    /// The compilation waiting for the interval to pass, cancelled when ``run()`` ends.
    private var pendingRebuild: Task<Void, Never>?
    private var stopped = false

    /// The objects left out because they do not compile, by `Kind namespace/name`.
    var rejected: [String: String] { invalid }

    func waitUntilLoaded() async {
        if loaded { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for reflector in reflectors {
                group.addTask { await reflector.run() }
                group.addTask {
                    for await snapshot in reflector.snapshots {
                        await self.update(reflector.resource, snapshot)
                    }
                }
            }
            // How long ago the API server last answered about each resource, as a gauge: a watch
            // that keeps failing leaves the policies, exceptions and bypasses as last seen
            // (PrometheusRule SignetPolicySourceStale).
            group.addTask {
                while !Task.isCancelled {
                    await self.recordLastContact()
                    try? await Task.sleep(for: .seconds(15))
                }
            }
            // Key files, mounted Secret and ConfigMap keys and trust root files: checked every interval.
            group.addTask {
                await self.waitUntilLoaded()
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.trustMaterialInterval)
                    await self.checkTrustMaterialFiles()
                }
            }
            if let statusWriter {
                group.addTask {
                    await self.waitUntilLoaded()
                    while !Task.isCancelled {
                        await statusWriter.reconcile(
                            await self.current(), rejected: await self.rejectedObjects(), observed: await self.observedStatuses())
                        try? await Task.sleep(for: .seconds(10))
                    }
                }
            }
        }
        stopped = true
        pendingRebuild?.cancel()
        pendingRebuild = nil
        for tasks in watches.values { tasks.forEach { $0.cancel() } }
        watches.removeAll()
    }

    private func rejectedObjects() -> [String: String] { invalid }

    /// `signet_policy_source_last_contact_timestamp_seconds{resource}`: when the API server last
    /// answered about each resource (Unix seconds; 0 before the first list).
    private func recordLastContact() async {
        for reflector in reflectors {
            let contact = await reflector.lastContact
            Gauge(label: "signet_policy_source_last_contact_timestamp_seconds", dimensions: [("resource", reflector.resource.plural)])
                .record(contact?.timeIntervalSince1970 ?? 0)
        }
    }

    /// The status each signet resource has in the watch, by `Kind key` (text fields only).
    private func observedStatuses() -> [String: [String: String]] {
        var result: [String: [String: String]] = [:]
        for resource in [KubernetesResource.clusterImagePolicies, .policyExceptions, .emergencyBypasses] {
            for object in snapshots[resource]?.objects ?? [] {
                let status = object.dictionary["status"] as? [String: Any] ?? [:]
                result["\(resource.kind) \(object.key)"] = status.compactMapValues { $0 as? String }
            }
        }
        return result
    }

    private func update(_ resource: KubernetesResource, _ snapshot: ResourceSnapshot) {
        snapshots[resource] = snapshot
        guard Self.resources.allSatisfy({ snapshots[$0]?.hasSynced == true }) else { return }
        if resource == .namespaces && loaded {
            // The compiled set reads no namespace: a namespace made, labelled or deleted (as
            // often as a CI system likes) changes the labels alone, not every policy's compilation.
            publishNamespaceLabels()
            return
        }
        guard loaded else {
            rebuild()
            markLoadedIfReady()
            return
        }
        rebuildSoon()
    }

    /// Compiles now, or once ``minimumRebuildInterval`` has passed since the last compilation
    /// that an event caused (one compilation for every event until then).
    private func rebuildSoon() {
        let now = ContinuousClock.now
        guard let last = lastRebuild, now < last + Self.minimumRebuildInterval else {
            lastRebuild = now
            rebuild()
            return
        }
        guard pendingRebuild == nil, !stopped else { return }
        pendingRebuild = Task {
            try? await Task.sleep(until: last + Self.minimumRebuildInterval)
            self.rebuildPendingEvents()
        }
    }

    private func rebuildPendingEvents() {
        pendingRebuild = nil
        // After run() ended nothing is compiled again: it would watch Secrets nobody stops.
        guard !stopped, !Task.isCancelled else { return }
        lastRebuild = ContinuousClock.now
        rebuild()
    }

    /// The namespaces' labels as the watch has them, for ``namespaceLabels(_:)``.
    private func publishNamespaceLabels() {
        let namespaces = Dictionary((snapshots[.namespaces]?.objects ?? []).map { ($0.name, $0.labels) }, uniquingKeysWith: { _, last in last })
        labels.withLockedValue { $0 = namespaces }
    }

    /// A Secret or ConfigMap a policy names changed (or was first read, or cannot be read).
    private func updateWatched(_ key: String, _ state: WatchedObject) {
        guard watches[key] != nil, watched[key] != state else { return }
        watched[key] = state
        guard Self.resources.allSatisfy({ snapshots[$0]?.hasSynced == true }) else { return }
        rebuild()
        markLoadedIfReady()
    }

    /// Rebuilds when a trust material file the set in force read changed, or TUF brought a new
    /// Sigstore root.
    private func checkTrustMaterialFiles() {
        guard trustFingerprint(set.trustMaterialFiles) != filesFingerprint else { return }
        logger.info("trust material files changed; recompiling the policies")
        rebuild()
    }

    /// Loaded once every resource is listed and every Secret and ConfigMap the policies name has
    /// been read once (or found unreadable), so the first set in force has its trust material.
    private func markLoadedIfReady() {
        guard !loaded, Self.resources.allSatisfy({ snapshots[$0]?.hasSynced == true }) else { return }
        guard !watched.values.contains(.pending) else { return }
        loaded = true
        logger.info("policies synced from the cluster", metadata: [
            "policies": "\(set.policies.count)", "exceptions": "\(set.exceptions.count)", "bypasses": "\(set.bypasses.count)",
            "watched_objects": "\(watched.count)",
        ])
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }

    private func rebuild() {
        compilations += 1
        var loader = loader
        if keySecrets == .api { loader.clusterKeyReader = KubernetesClusterKeys(objects: watched) }
        // One live Sigstore root for every object of this set.
        let liveRoot = loader.liveTrustedRoot?.current
        if let liveRoot { loader.liveTrustedRoot = LiveTrustedRoot(liveRoot) }
        loader.tufTrustRoots = loader.tufTrustRoots?.pinned()
        var policies: [CompiledPolicy] = []
        var exceptions: [CompiledException] = []
        var bypasses: [CompiledBypass] = []
        var rejected: [String: String] = [:]
        var hash = StableHash()
        // The same, told apart: a PolicyException decides its own namespace's Pods alone.
        var clusterHash = StableHash()
        var namespaceHashes: [String: StableHash] = [:]
        let (specs, overBudget) = exceptionBudgets()
        for resource in Self.resources where resource != .namespaces {
            for object in snapshots[resource]?.objects ?? [] {
                let label = "\(resource.kind) \(object.key)"
                var objectHash = StableHash()
                defer {
                    hash.combine(objectHash)
                    if resource == .policyExceptions {
                        namespaceHashes[object.namespace ?? "", default: StableHash()].combine(objectHash)
                    } else {
                        clusterHash.combine(objectHash)
                    }
                }
                objectHash.combine(label)
                // The spec, not the resourceVersion: status writes must not change the revision.
                let spec = specs[label] ?? ExemptionLimits.specJSON(object.dictionary["spec"])
                objectHash.combine(spec.map { String(decoding: $0, as: UTF8.self) } ?? "")
                // Who made it, and which object it is: an exception deleted and made again with
                // the same spec by someone else is another object, and its uses are theirs.
                let metadata = object.dictionary["metadata"] as? [String: Any]
                objectHash.combine(metadata?["uid"] as? String ?? "")
                objectHash.combine(metadata?["creationTimestamp"] as? String ?? "")
                let annotations = metadata?["annotations"] as? [String: Any]
                for key in ExemptionAttribution.annotations { objectHash.combine(annotations?[key] as? String ?? "") }
                // An exception or bypass being deleted (held by a finalizer) is no longer in force:
                // deleting one revokes it at once, and it cannot be widened while it lingers. A
                // policy being deleted keeps applying until it is gone.
                if resource != .clusterImagePolicies, (object.dictionary["metadata"] as? [String: Any])?["deletionTimestamp"] != nil {
                    objectHash.combine("being deleted")
                    continue
                }
                if let refusal = overBudget[label] {
                    objectHash.combine("over its namespace's budget")
                    rejected[label] = refusal
                    if invalid[label] != refusal {
                        logger.error("ignoring a PolicyException beyond its namespace's budget", metadata: ["object": "\(label)", "error": "\(refusal)"])
                    }
                    continue
                }
                do {
                    let loadedSet = try loader.load(files: [PolicySourceFile(name: label, bytes: object.json)])
                    policies += loadedSet.policies
                    exceptions += loadedSet.exceptions
                    bypasses += loadedSet.bypasses
                } catch {
                    rejected[label] = error.description
                    if invalid[label] != error.description {
                        logger.error("ignoring an invalid signet resource", metadata: ["object": "\(label)", "error": "\(error)"])
                    }
                    if resource == .clusterImagePolicies, let standIn = failClosedPolicy(for: object, error: error.description, label: label) {
                        policies.append(standIn)
                    }
                }
            }
        }
        publishNamespaceLabels()
        invalid = rejected
        let unhashed = PolicySet(policies: policies, revision: "")
        // What the policies read besides their text: the Secrets and ConfigMaps they name (API)
        // and the files (key files, mounted keys, trust roots), present or not.
        if keySecrets == .api {
            for object in Set(unhashed.clusterReferences.map(\.object)).sorted() {
                hash.combine(object)
                hash.combine((watched[object] ?? .pending).revisionText)
                clusterHash.combine(object)
                clusterHash.combine((watched[object] ?? .pending).revisionText)
            }
        }
        let files = unhashed.trustMaterialFiles
        filesFingerprint = PolicySet.trustMaterialFingerprint(files) + (liveRoot.map { "/\($0.digest) \($0.origin)" } ?? "")
            + (loader.tufTrustRoots.map { "/" + $0.fingerprint } ?? "")
        hash.combine(filesFingerprint)
        clusterHash.combine(filesFingerprint)
        set = PolicySet(
            policies: policies, revision: hash.hexDigest, exceptions: exceptions, bypasses: bypasses, clusterRevision: clusterHash.hexDigest,
            namespacedRevisions: namespaceHashes.mapValues(\.hexDigest))
        if keySecrets == .api { watch(unhashed.clusterReferences) }
    }

    /// The PolicyExceptions of each namespace, oldest first (then by name), within
    /// ``ExemptionLimits/exceptionsPerNamespace`` and ``ExemptionLimits/exceptionBytesPerNamespace``
    /// (each as ``ExemptionLimits/measuredBytes(_:)`` measures it, as the webhook does):
    /// their specs by label, and why each one beyond is left out. Those being deleted take no
    /// room. What the ones within take is published for the admission of new ones.
    private func exceptionBudgets() -> (specs: [String: Data?], overBudget: [String: String]) {
        var specs: [String: Data?] = [:]
        var overBudget: [String: String] = [:]
        var usage: [String: ExemptionLimits.NamespaceUsage] = [:]
        // Each object's JSON read once (``KubernetesObject/dictionary`` decodes it at every call).
        let objects = (snapshots[.policyExceptions]?.objects ?? []).compactMap { object -> (object: KubernetesObject, created: String, spec: Data?, bytes: Int)? in
            let dictionary = object.dictionary
            let metadata = dictionary["metadata"] as? [String: Any]
            guard metadata?["deletionTimestamp"] == nil else { return nil }
            return (object, metadata?["creationTimestamp"] as? String ?? "", ExemptionLimits.specJSON(dictionary["spec"]),
                    ExemptionLimits.measuredBytes(dictionary))
        }
        for (object, _, spec, bytes) in objects.sorted(by: { ($0.created, $0.object.key) < ($1.created, $1.object.key) }) {
            let label = "\(KubernetesResource.policyExceptions.kind) \(object.key)"
            specs[label] = spec
            let namespace = object.namespace ?? ""
            if let refusal = ExemptionLimits.namespaceBudgetRefusal(adding: bytes, to: usage[namespace] ?? .init(), namespace: namespace) {
                overBudget[label] = refusal
            } else {
                usage[namespace, default: .init()].add(object.name, bytes: bytes)
            }
        }
        exceptionUsage.withLockedValue { $0 = usage }
        return (specs, overBudget)
    }

    /// The contents of `files` and the digest of the live Sigstore root (TUF), if any.
    private func trustFingerprint(_ files: [String]) -> String {
        PolicySet.trustMaterialFingerprint(files) + (loader.liveTrustedRoot.map { "/\($0.current.digest) \($0.current.origin)" } ?? "")
            + (loader.tufTrustRoots.map { "/" + $0.fingerprint } ?? "")
    }

    /// Watches each Secret and ConfigMap in `references` alone (a list and watch with
    /// `fieldSelector=metadata.name=<name>` in its namespace), and stops watching the others.
    /// An object watched for the first time is `pending` until its first list; then the
    /// policies are compiled again with it.
    private func watch(_ references: [ClusterKeyReference]) {
        let wanted = Set(references.map(\.object))
        for (key, tasks) in watches where !wanted.contains(key) {
            tasks.forEach { $0.cancel() }
            watches[key] = nil
            watched[key] = nil
        }
        for reference in references {
            let key = reference.object
            guard watches[key] == nil else { continue }
            let (kind, namespace, name) = (reference.kind, reference.namespace, reference.name)
            let reflector = ResourceReflector(
                client: client, resource: kind == .secret ? .secrets : .configMaps, scope: .named(name, namespace: namespace), backoff: backoff,
                logger: logger)
            watched[key] = .pending
            watches[key] = [
                Task { await reflector.run() },
                Task { [weak self] in
                    for await snapshot in reflector.snapshots {
                        await self?.updateWatched(key, WatchedObject(snapshot, kind: kind, namespace: namespace, name: name))
                    }
                },
            ]
            logger.info("watching an object a policy reads trust material from", metadata: ["object": "\(key)"])
        }
    }

    /// A ClusterImagePolicy that does not compile still denies the images its globs cover (see
    /// ``PolicyLoader/failClosedPolicy(name:images:error:source:)``).
    private func failClosedPolicy(for object: KubernetesObject, error: String, label: String) -> CompiledPolicy? {
        struct Shape: Decodable {
            struct Spec: Decodable { var images: [ClusterImagePolicy.ImagePattern]? }
            var spec: Spec?
        }
        guard let images = (try? JSONDecoder().decode(Shape.self, from: Data(object.json)))?.spec?.images, !images.isEmpty else { return nil }
        return loader.failClosedPolicy(name: object.name, images: images, error: error, source: PolicySourceLocation(file: label, document: 1))
    }
}
