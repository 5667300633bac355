import Foundation
import Logging
import NIOConcurrencyHelpers
import SignetRegistry
import Synchronization

/// Registry credentials for one pod, gathered as kubelet does ("Pull an Image from a Private
/// Registry"; `core/v1` `PodSpec.imagePullSecrets`, `ServiceAccount.imagePullSecrets`): the
/// pod's own pull secrets, then its service account's, then secrets signet is configured with
/// (`namespace/name`). Each is a `kubernetes.io/dockerconfigjson` secret read through the API;
/// earlier sources win for the same registry. A secret that cannot be read or parsed is logged
/// and skipped.
///
/// What was read is kept for ``cacheLifetime`` per namespace, service account and list of pull
/// secrets, so a burst of pods from one controller costs one round of API reads; a rotated
/// secret is seen within that time. At most ``cacheCapacity`` such sets are kept.
public final class PullSecretReader: Sendable {
    public let client: KubernetesClient
    /// Secrets every verification may use, as `namespace/name`.
    public let configuredSecrets: [String]
    /// How long credentials read for one pod's secrets are reused (zero: never).
    public let cacheLifetime: Duration
    /// The most credential sets kept; the oldest is dropped first.
    public let cacheCapacity: Int
    private let logger: Logger
    private let cache = NIOLockedValueBox(CacheState())
    private let reportedForbidden = Atomic<Bool>(false)
    /// API reads (service accounts and Secrets) each namespace's pods may cause: `burst` at
    /// once, then `perSecond`. A pod names up to 32 pull secrets, each an API read, and a tenant
    /// who changes the names at every dry run misses the cache every time: without a share,
    /// one namespace's reads filled signet's API priority level, and other namespaces' reads
    /// (their credentials, their owner chains) waited behind them. Reads beyond the share are
    /// not made; the pod is verified with the credentials read, which are not cached.
    private let reads: NIOLockedValueBox<(buckets: TokenBuckets, limited: Set<String>)>
    private let readBurst: Int
    private let readsPerSecond: Double

    /// The default share of API reads per namespace.
    public static let defaultReadBurst = 64
    public static let defaultReadsPerSecond = 20.0

    private struct CacheKey: Hashable {
        var namespace: String?
        var pullSecrets: [String]
        var serviceAccount: String?
    }

    private struct CachedStore {
        var store: RegistryCredentialStore
        var expires: ContinuousClock.Instant
    }

    private struct CacheState {
        var entries: [CacheKey: CachedStore] = [:]
        /// Reads running, shared by every caller of the same key.
        var flights: [CacheKey: Task<(RegistryCredentialStore, complete: Bool), Never>] = [:]
    }

    /// The start of the monotonic clock the read shares are measured on.
    private let clockStart = ContinuousClock.now

    public init(
        client: KubernetesClient, configuredSecrets: [String] = [], cacheLifetime: Duration = .seconds(30), cacheCapacity: Int = 1024,
        readBurst: Int = defaultReadBurst, readsPerSecond: Double = defaultReadsPerSecond,
        logger: Logger = Logger(label: "signet.kube.credentials")
    ) {
        self.reads = NIOLockedValueBox((TokenBuckets(burst: readBurst, refill: readsPerSecond > 0 ? 1 / readsPerSecond : 0), []))
        self.readBurst = readBurst
        self.readsPerSecond = readsPerSecond
        self.client = client
        self.configuredSecrets = configuredSecrets
        self.cacheLifetime = cacheLifetime
        self.cacheCapacity = max(1, cacheCapacity)
        self.logger = logger
    }

    /// The credentials for a pod in `namespace` naming `pullSecrets` and `serviceAccount`; at
    /// most ``PullSecretNames/maximum`` distinct pull secrets of the pod and its service account
    /// together are read (the rest are logged). Pods asking at once with the same secrets share
    /// one read (a rollout reads once, not once per pod).
    public func credentials(namespace: String?, pullSecrets listed: [String], serviceAccount: String?) async -> RegistryCredentialStore {
        let pullSecrets = PullSecretNames.bounded(listed).names
        let key = CacheKey(namespace: namespace, pullSecrets: pullSecrets, serviceAccount: serviceAccount)
        let podStore = await cachedRead(key) { [self] in
            await read(namespace: namespace, pullSecrets: pullSecrets, serviceAccount: serviceAccount)
        }
        guard !configuredSecrets.isEmpty else { return podStore }
        // Signet's own secrets, the same for every pod: read once per lifetime, not charged to
        // the pod's namespace. The pod's own credentials come first.
        let configured = await cachedRead(CacheKey(namespace: nil, pullSecrets: configuredSecrets, serviceAccount: nil)) { [self] in
            (await readSecrets(configuredSecrets.compactMap { entry in
                let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
                return parts.count == 2 ? (parts[0], parts[1]) : nil
            }), true)
        }
        return configured.merging(podStore)
    }

    /// The store cached for `key`, else the one `read` makes (shared with every caller asking
    /// for `key` while it runs), cached when it is complete.
    private func cachedRead(
        _ key: CacheKey, _ read: @escaping @Sendable () async -> (RegistryCredentialStore, complete: Bool)
    ) async -> RegistryCredentialStore {
        let now = ContinuousClock.now
        let flight = cache.withLockedValue { state -> Task<(RegistryCredentialStore, complete: Bool), Never>? in
            if let cached = state.entries[key], cached.expires > now { return nil }
            if let running = state.flights[key] { return running }
            let task = Task { await read() }
            state.flights[key] = task
            return task
        }
        guard let flight else { return cache.withLockedValue { $0.entries[key]?.store } ?? RegistryCredentialStore() }
        let (store, complete) = await flight.value
        cache.withLockedValue { state in
            if state.flights[key] == flight { state.flights[key] = nil }
            guard cacheLifetime > .zero, complete else { return }
            if state.entries[key] == nil, state.entries.count >= cacheCapacity {
                state.entries = state.entries.filter { $0.value.expires > now }
                if state.entries.count >= cacheCapacity, let oldest = state.entries.min(by: { $0.value.expires < $1.value.expires }) {
                    state.entries[oldest.key] = nil
                }
            }
            state.entries[key] = CachedStore(store: store, expires: ContinuousClock.now + cacheLifetime)
        }
        return store
    }

    /// The pod's credentials, and whether every read was made (not held back by the namespace's share).
    private func read(namespace: String?, pullSecrets: [String], serviceAccount: String?) async -> (RegistryCredentialStore, complete: Bool) {
        guard let namespace else { return (RegistryCredentialStore(), true) }
        var names = pullSecrets
        let account = serviceAccount ?? "default"
        var complete = true
        if mayRead(for: namespace) {
            do {
                if let object = try await client.get(.serviceAccounts, name: account, namespace: namespace),
                   let secrets = object.dictionary["imagePullSecrets"] as? [[String: Any]] {
                    names += secrets.compactMap { $0["name"] as? String }
                }
            } catch {
                report(error, "cannot read the service account", metadata: ["namespace": "\(namespace)", "name": "\(account)"])
            }
        } else {
            complete = false
        }
        // The pod's and its service account's together: each name is an API read.
        let (read, leftOut) = PullSecretNames.bounded(names)
        if leftOut > 0 {
            logger.warning("a pod and its service account name more image pull secrets than signet reads; the rest are not used", metadata: [
                "namespace": "\(namespace)", "service_account": "\(account)", "read": "\(read.count)", "not_read": "\(leftOut)",
            ])
        }
        var (store, allRead) = await readSecretsCharged(read.map { (namespace, $0) }, to: namespace)
        if !(complete && allRead) {
            let rate = readsPerSecond == readsPerSecond.rounded() ? "\(Int(readsPerSecond))" : "\(readsPerSecond)"
            store.withheld = "signet did not read every image pull secret of this pod: the pods of namespace \(namespace) "
                + "asked for more API reads of pull secrets than signet makes for one namespace (\(readBurst) at once, then "
                + "\(rate) a second); a later try reads them"
        }
        return (store, complete && allRead)
    }

    /// The Secrets `references` name, each charged to `namespace`'s share; and whether each was read.
    private func readSecretsCharged(_ references: [(namespace: String, name: String)], to namespace: String) async -> (RegistryCredentialStore, Bool) {
        var allowed: [(namespace: String, name: String)] = []
        for reference in references where mayRead(for: namespace) { allowed.append(reference) }
        return (await readSecrets(allowed), allowed.count == references.count)
    }

    /// The credentials of the Secrets `references` name, earlier ones first.
    private func readSecrets(_ references: [(namespace: String, name: String)]) async -> RegistryCredentialStore {
        var store = RegistryCredentialStore()
        for reference in references {
            do {
                guard let secret = try await client.get(.secrets, name: reference.name, namespace: reference.namespace),
                      let data = secret.dictionary["data"] as? [String: String] else { continue }
                // Earlier sources win: merge the new store under the current one.
                store = try RegistryCredentialStore(kubernetesSecretData: data).merging(store)
            } catch {
                report(error, "cannot use an image pull secret", metadata: ["namespace": "\(reference.namespace)", "name": "\(reference.name)"])
            }
        }
        return store
    }

    /// Takes one of `namespace`'s API reads; false (logged once per namespace until it has reads
    /// again) when its share is spent.
    private func mayRead(for namespace: String) -> Bool {
        let (allowed, first) = reads.withLockedValue { state -> (Bool, Bool) in
            if state.buckets.take(namespace, now: TokenBuckets.time(.now, since: clockStart)) {
                state.limited.remove(namespace)
                return (true, false)
            }
            if state.limited.count >= TokenBuckets.maximumKeys { state.limited.removeAll() }
            return (false, state.limited.insert(namespace).inserted)
        }
        if first {
            logger.warning("a namespace's pods name more pull secrets than signet reads for it per second; the rest are not read, and its pods are verified without them", metadata: [
                "namespace": "\(namespace)", "burst": "\(readBurst)",
            ])
        }
        return allowed
    }

    /// Logs a failed read. A 403 means signet lacks the permission, which holds for every pod:
    /// said once as a warning with the remedy, then only at debug level.
    private func report(_ error: any Error, _ message: Logger.Message, metadata: Logger.Metadata) {
        var metadata = metadata
        metadata["error"] = "\(error)"
        guard (error as? KubernetesError)?.isForbidden == true else {
            logger.warning(message, metadata: metadata)
            return
        }
        if reportedForbidden.exchange(true, ordering: .relaxed) {
            logger.debug(message, metadata: metadata)
        } else {
            metadata["remedy"] = "grant get on secrets and serviceaccounts (chart: rbac.pullSecrets.enabled=true)"
            logger.warning("signet may not read image pull secrets; pods' registry credentials are not used", metadata: metadata)
        }
    }
}
