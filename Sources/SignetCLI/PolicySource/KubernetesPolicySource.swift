import Foundation
import Logging
import SignetKube
import SignetPolicy
import Synchronization

/// Policies, exceptions, bypasses and namespace labels from the cluster: one
/// ``ResourceReflector`` (list + watch with resume) per resource type, compiled into a
/// ``PolicySet`` whenever any of them changes. Loaded once every reflector has completed its
/// first full list.
///
/// Each object is compiled on its own, so one invalid object (created while the webhook was
/// down, or by a path that skips admission) is left out and reported in its status without
/// taking the others with it.
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
    private let labels = Mutex<[String: [String: String]]?>(nil)
    private var invalid: [String: String] = [:]
    private var loaded = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(client: KubernetesClient, exemptions: ExemptionConfiguration, writeStatus: Bool, backoff: Backoff = Backoff(), logger: Logger = Logger(label: "signet.policy.kubernetes")) {
        self.client = client
        self.loader = PolicyLoader(logger: logger)
        self.logger = logger
        self.reflectors = Self.resources.map { ResourceReflector(client: client, resource: $0, backoff: backoff, logger: logger) }
        self.statusWriter = writeStatus ? ResourceStatusWriter(client: client, exemptions: exemptions, logger: logger) : nil
    }

    func current() -> PolicySet { set }

    /// The labels of `namespace`, or `nil` when the watch has not seen it (yet): unknown labels
    /// apply every policy with a selector and never match an opt-out label, so missing
    /// information never exempts an image.
    nonisolated func namespaceLabels(_ namespace: String) -> [String: String]? {
        labels.withLock { labels in labels?[namespace] }
    }

    /// Whether every resource type has been listed once.
    var hasLoaded: Bool { loaded }

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
            if let statusWriter {
                group.addTask {
                    await self.waitUntilLoaded()
                    while !Task.isCancelled {
                        await statusWriter.reconcile(await self.current(), rejected: await self.rejectedObjects())
                        try? await Task.sleep(for: .seconds(10))
                    }
                }
            }
        }
    }

    private func rejectedObjects() -> [String: String] { invalid }

    private func update(_ resource: KubernetesResource, _ snapshot: ResourceSnapshot) {
        snapshots[resource] = snapshot
        guard Self.resources.allSatisfy({ snapshots[$0]?.hasSynced == true }) else { return }
        rebuild()
        if !loaded {
            loaded = true
            logger.info("policies synced from the cluster", metadata: [
                "policies": "\(set.policies.count)", "exceptions": "\(set.exceptions.count)", "bypasses": "\(set.bypasses.count)",
            ])
            for waiter in waiters { waiter.resume() }
            waiters.removeAll()
        }
    }

    private func rebuild() {
        var policies: [CompiledPolicy] = []
        var exceptions: [CompiledException] = []
        var bypasses: [CompiledBypass] = []
        var rejected: [String: String] = [:]
        var hash = Hasher.Stable()
        for resource in Self.resources where resource != .namespaces {
            for object in snapshots[resource]?.objects ?? [] {
                let label = "\(resource.kind) \(object.key)"
                hash.combine(label)
                // The spec, not the resourceVersion: status writes must not change the revision.
                let spec = object.dictionary["spec"].flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
                hash.combine(spec.map { String(decoding: $0, as: UTF8.self) } ?? "")
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
        let namespaces = Dictionary((snapshots[.namespaces]?.objects ?? []).map { ($0.name, $0.labels) }, uniquingKeysWith: { _, last in last })
        labels.withLock { $0 = namespaces }
        invalid = rejected
        set = PolicySet(policies: policies, revision: hash.hexDigest, exceptions: exceptions, bypasses: bypasses)
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

extension Hasher {
    /// FNV-1a over strings: a revision that is the same in every process for the same objects.
    struct Stable {
        private var value: UInt64 = 0xcbf2_9ce4_8422_2325

        mutating func combine(_ text: String) {
            for byte in text.utf8 + [0] {
                value ^= UInt64(byte)
                value &*= 0x0000_0100_0000_01B3
            }
        }

        var hexDigest: String {
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }
    }
}
