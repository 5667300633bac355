import Foundation
import Logging

/// Leader election over a `coordination.k8s.io/v1` Lease, the way client-go's `leaderelection`
/// package does it with its `LeaseLock` (Kubernetes "Leases", "Leader election"): among the
/// replicas that share one Lease, at most one leads at a time.
///
/// - A candidate reads the Lease. When it is absent, the candidate creates it holding it (`POST`;
///   409 `AlreadyExists` means another was first). When it is held by another whose record has
///   not changed for ``LeaderElectionConfiguration/leaseDuration`` (measured on this replica's
///   steady clock from when this replica first saw that record, so clocks need not agree and a
///   step of the wall clock moves no deadline), or held by
///   nobody, the candidate takes it over: a `PUT` at the resourceVersion it read (409
///   `Conflict` means another moved first), counting a transition.
/// - The leader renews (the same `PUT`, renewTime now) every ``LeaderElectionConfiguration/retryPeriod``;
///   it leads only while its last successful renewal is less than
///   ``LeaderElectionConfiguration/renewDeadline`` old. Since the renew deadline is shorter than
///   the lease duration, a leader that cannot renew stops before anyone may take over.
/// - The work stops at the renew deadline even while a renewal is still waiting for the API
///   server (a request may take the client's whole timeout, longer than the lease duration):
///   a watch beside the work ends it as soon as ``isLeading`` turns false, and it starts again
///   once a renewal succeeds.
/// - On cancellation the leader releases the Lease (holder cleared, duration 1 s), so another
///   takes over at its next attempt rather than after the lease duration.
public actor LeaderElector {
    public nonisolated let configuration: LeaderElectionConfiguration
    private let client: KubernetesClient
    private let now: @Sendable () -> Date
    /// Seconds on a clock that only moves forward: what every interval is measured with.
    private let steady: @Sendable () -> TimeInterval
    private let logger: Logger
    /// The last record read or written, its resourceVersion, and when (``steady``) it was
    /// first seen.
    private var observed: LeaseRecord?
    private var observedResourceVersion: String?
    private var observedTime: TimeInterval = 0
    /// When (``steady``) this replica last acquired or renewed the Lease.
    private var lastRenewal: TimeInterval?

    /// - Parameters:
    ///   - now: the wall clock the Lease's times are written with; the system's by default.
    ///   - steadyNow: the time since an arbitrary start on a clock that never goes back, which
    ///     the lease duration and the renew deadline are measured with. By default
    ///     `ContinuousClock` (so an NTP step of the wall clock neither lengthens this replica's
    ///     leadership nor shortens another's lease); when only `now` is injected (tests), `now`.
    public init(
        configuration: LeaderElectionConfiguration, client: KubernetesClient, now: (@Sendable () -> Date)? = nil,
        steadyNow: (@Sendable () -> Duration)? = nil, logger: Logger = Logger(label: "signet.leader")
    ) {
        self.configuration = configuration
        self.client = client
        self.now = now ?? { Date() }
        if let steadyNow {
            steady = { steadyNow().timeInterval }
        } else if let now {
            steady = { now().timeIntervalSince1970 }
        } else {
            let origin = ContinuousClock.now
            steady = { (ContinuousClock.now - origin).timeInterval }
        }
        self.logger = logger
    }

    /// Whether this replica leads now: it holds the Lease and renewed it less than the renew
    /// deadline ago.
    public var isLeading: Bool {
        guard let lastRenewal, observed?.holderIdentity == configuration.identity else { return false }
        return steady() - lastRenewal < configuration.renewDeadline.timeInterval
    }

    /// The holder of the Lease as last read or written (`nil` before the first attempt).
    public var observedHolder: String? { observed?.holderIdentity }

    /// One attempt to acquire or renew the Lease; whether this replica leads after it.
    @discardableResult
    public func tryAcquireOrRenew() async -> Bool {
        let time = now()
        let started = steady()
        let existing: KubernetesObject?
        do {
            existing = try await client.get(.leases, name: configuration.leaseName, namespace: configuration.namespace)
        } catch {
            logger.warning("cannot read the leader lease", metadata: ["lease": "\(configuration.leaseName)", "error": "\(error)"])
            return isLeading
        }
        guard let existing else {
            let record = LeaseRecord(
                holderIdentity: configuration.identity, leaseDurationSeconds: configuration.leaseDurationSeconds,
                acquireTime: time, renewTime: time, leaseTransitions: 0)
            do {
                let stored = try await client.create(.leases, namespace: configuration.namespace, object: record.object(configuration, resourceVersion: nil))
                took(record, resourceVersion: Self.resourceVersion(of: stored), at: started)
            } catch {
                logger.info("the leader lease was created by another replica first", metadata: ["error": "\(error)"])
            }
            return isLeading
        }
        let current = LeaseRecord(json: existing.json)
        if current != observed || existing.resourceVersion != observedResourceVersion {
            observed = current
            observedResourceVersion = existing.resourceVersion
            observedTime = started
        }
        let holder = current.holderIdentity ?? ""
        let heldByMe = holder == configuration.identity
        if !holder.isEmpty, !heldByMe, started - observedTime < TimeInterval(current.leaseDurationSeconds ?? configuration.leaseDurationSeconds) {
            lastRenewal = nil
            return false
        }
        let record = LeaseRecord(
            holderIdentity: configuration.identity, leaseDurationSeconds: configuration.leaseDurationSeconds,
            acquireTime: heldByMe ? current.acquireTime ?? time : time, renewTime: time,
            leaseTransitions: (current.leaseTransitions ?? 0) + (heldByMe ? 0 : 1))
        do {
            let stored = try await client.replace(
                .leases, name: configuration.leaseName, namespace: configuration.namespace,
                object: record.object(configuration, resourceVersion: existing.resourceVersion))
            took(record, resourceVersion: Self.resourceVersion(of: stored), at: started)
        } catch {
            logger.info("cannot take or renew the leader lease", metadata: ["error": "\(error)"])
        }
        return isLeading
    }

    private static func resourceVersion(of stored: [UInt8]) -> String? {
        let object = (try? JSONSerialization.jsonObject(with: Data(stored))) as? [String: Any]
        return (object?["metadata"] as? [String: Any])?["resourceVersion"] as? String
    }

    private func took(_ record: LeaseRecord, resourceVersion: String?, at time: TimeInterval) {
        if lastRenewal == nil || observed?.holderIdentity != configuration.identity {
            logger.notice("leading", metadata: ["lease": "\(configuration.namespace)/\(configuration.leaseName)", "identity": "\(configuration.identity)"])
        }
        observed = record
        observedResourceVersion = resourceVersion
        observedTime = time
        lastRenewal = time
    }

    /// Gives the Lease up when this replica holds it: holder cleared, duration 1 s, at the
    /// resourceVersion last written. When that version is stale (a renewal cancelled in flight
    /// may have been applied without this replica reading the answer), the Lease is read again
    /// and released at its version if this replica still holds it.
    public func release() async {
        guard let observed, observed.holderIdentity == configuration.identity, var version = observedResourceVersion else { return }
        let lease = "\(configuration.namespace)/\(configuration.leaseName)"
        for attempt in 1...2 {
            let time = now()
            let record = LeaseRecord(
                holderIdentity: nil, leaseDurationSeconds: 1, acquireTime: time, renewTime: time, leaseTransitions: observed.leaseTransitions)
            do {
                try await client.replace(
                    .leases, name: configuration.leaseName, namespace: configuration.namespace,
                    object: record.object(configuration, resourceVersion: version))
                logger.notice("released the leader lease", metadata: ["lease": "\(lease)"])
                break
            } catch where error.isConflict && attempt == 1 {
                guard let current = try? await client.get(.leases, name: configuration.leaseName, namespace: configuration.namespace),
                      LeaseRecord(json: current.json).holderIdentity == configuration.identity,
                      let currentVersion = current.resourceVersion else { break }
                version = currentVersion
            } catch {
                logger.warning("cannot release the leader lease", metadata: ["lease": "\(lease)", "error": "\(error)"])
                break
            }
        }
        self.observed = nil
        lastRenewal = nil
    }

    /// Campaigns until the task is cancelled: while this replica leads, `work` runs in a task of
    /// its own, cancelled (and awaited) as soon as leadership is lost, whether an attempt said so
    /// or the renew deadline passed while an attempt was still waiting for the API server;
    /// `onChange` is told each change of leadership. On cancellation the work stops and the
    /// Lease is released.
    public func run(onChange: @escaping @Sendable (Bool) -> Void = { _ in }, _ work: @escaping @Sendable () async -> Void) async {
        var running: Task<Void, Never>?
        onChange(false)
        while !Task.isCancelled {
            let leading = await tryAcquireOrRenew()
            if let task = running, !leading || lapsed {
                if !lapsed {
                    logger.warning("lost the leader lease: stopping", metadata: ["lease": "\(configuration.namespace)/\(configuration.leaseName)"])
                }
                task.cancel()
                await task.value
                running = nil
                // A lapse has told `onChange` already.
                if !lapsed { onChange(false) }
                lapsed = false
            }
            if leading, running == nil {
                running = Task { await self.whileLeading(work, onLapse: { onChange(false) }) }
                onChange(true)
            }
            try? await Task.sleep(for: configuration.retryPeriod)
        }
        if let running {
            running.cancel()
            await running.value
            if !lapsed { onChange(false) }
        }
        // The request must not inherit the cancellation; it is bounded by the client's timeout.
        await Task.detached { await self.release() }.value
    }

    /// The work ended by the renew deadline (see ``whileLeading(_:onLapse:)``), not yet seen by ``run(onChange:_:)``.
    private var lapsed = false

    /// Runs `work` until it returns, the task is cancelled, or ``isLeading`` turns false, which
    /// this watch checks at the moment the last renewal's deadline passes (and every retry
    /// period), not only when the next attempt returns; `onLapse` is told when that ends it.
    private func whileLeading(_ work: @escaping @Sendable () async -> Void, onLapse: @escaping @Sendable () -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await work() }
            group.addTask {
                while !Task.isCancelled {
                    guard let wait = await self.timeLeftLeadingOrLapse() else {
                        onLapse()
                        return
                    }
                    try? await Task.sleep(for: wait)
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// How long this replica leads at most from now, without another renewal (at least a
    /// millisecond, at most a retry period); nil when it does not lead, which is noted as a
    /// lapse in the same step, so ``run(onChange:_:)`` never sees the one without the other.
    private func timeLeftLeadingOrLapse() -> Duration? {
        guard isLeading, let lastRenewal else {
            lapsed = true
            logger.warning("the leader lease was not renewed within the renew deadline: stopping", metadata: [
                "lease": "\(configuration.namespace)/\(configuration.leaseName)",
                "renew_deadline": "\(configuration.renewDeadline)",
            ])
            return nil
        }
        let left = configuration.renewDeadline.timeInterval - (steady() - lastRenewal)
        return min(configuration.retryPeriod, .milliseconds(max(1, Int((left * 1000).rounded(.up)))))
    }
}

/// Where the Lease is, who this replica is, and client-go's default timings
/// (`LeaseDuration` 15 s, `RenewDeadline` 10 s, `RetryPeriod` 2 s).
public struct LeaderElectionConfiguration: Sendable, Hashable {
    public var leaseName: String
    public var namespace: String
    /// This replica's name in `spec.holderIdentity` (its Pod name).
    public var identity: String
    /// How long a Lease whose record does not change stays another's.
    public var leaseDuration: Duration = .seconds(15)
    /// How long a leader keeps leading without a successful renewal; shorter than ``leaseDuration``.
    public var renewDeadline: Duration = .seconds(10)
    /// Time between attempts to acquire or renew.
    public var retryPeriod: Duration = .seconds(2)

    public init(leaseName: String, namespace: String, identity: String) {
        self.leaseName = leaseName
        self.namespace = namespace
        self.identity = identity
    }

    var leaseDurationSeconds: Int { max(1, Int(leaseDuration.components.seconds)) }
}

/// The `spec` of a `coordination.k8s.io/v1` Lease, as leader election reads and writes it.
struct LeaseRecord: Hashable {
    var holderIdentity: String?
    var leaseDurationSeconds: Int?
    var acquireTime: Date?
    var renewTime: Date?
    var leaseTransitions: Int?
}

extension LeaseRecord {
    /// Reads `spec` of a Lease's JSON; absent fields are `nil`.
    init(json: [UInt8]) {
        let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any]
        let spec = object?["spec"] as? [String: Any] ?? [:]
        holderIdentity = spec["holderIdentity"] as? String
        leaseDurationSeconds = spec["leaseDurationSeconds"] as? Int
        acquireTime = (spec["acquireTime"] as? String).flatMap(MicroTime.parse)
        renewTime = (spec["renewTime"] as? String).flatMap(MicroTime.parse)
        leaseTransitions = spec["leaseTransitions"] as? Int
    }

    /// The Lease object to write, at `resourceVersion` (a precondition) when given.
    func object(_ configuration: LeaderElectionConfiguration, resourceVersion: String?) -> [UInt8] {
        var metadata: [String: Any] = ["name": configuration.leaseName, "namespace": configuration.namespace]
        if let resourceVersion { metadata["resourceVersion"] = resourceVersion }
        var spec: [String: Any] = [:]
        spec["holderIdentity"] = holderIdentity
        spec["leaseDurationSeconds"] = leaseDurationSeconds
        spec["acquireTime"] = acquireTime.map(MicroTime.format)
        spec["renewTime"] = renewTime.map(MicroTime.format)
        spec["leaseTransitions"] = leaseTransitions
        let lease: [String: Any] = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec]
        return Array((try? JSONSerialization.data(withJSONObject: lease, options: [.sortedKeys])) ?? Data())
    }
}

/// `metav1.MicroTime` on the wire: RFC 3339 in UTC with exactly six fractional digits
/// (`2006-01-02T15:04:05.000000Z`), which the API server requires.
enum MicroTime {
    static func format(_ date: Date) -> String {
        var seconds = date.timeIntervalSince1970.rounded(.down)
        var micros = Int(((date.timeIntervalSince1970 - seconds) * 1_000_000).rounded())
        if micros >= 1_000_000 {
            seconds += 1
            micros -= 1_000_000
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: seconds))
        func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
        return String(format: "%04d", parts.year ?? 0) + "-\(two(parts.month))-\(two(parts.day))T\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))."
            + String(format: "%06d", micros) + "Z"
    }

    /// RFC 3339 with or without a fraction.
    static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

extension Duration {
    /// The duration in seconds, with its fraction.
    var timeInterval: TimeInterval { TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18 }
}
