import Foundation
import Logging
import SignetKube
import SignetPolicy

/// Continuous verification inside `signet serve`, beside the admission path: the running Pods
/// (listed and watched through a ``ResourceReflector``) are decided by the admission
/// responder's scanner, sharing its engine and verification cache.
///
/// - every Pod is decided again at each ``Configuration/interval``, and as soon as the change
///   token moves (a policy, exception, bypass, Secret key or trust root changed, or an exception
///   or bypass expired: ``changeToken(of:at:)``), checked every ``Configuration/changeCheckInterval``;
///   when only PolicyExceptions of some namespaces changed or expired, only those namespaces'
///   Pods are decided again: an exception decides nothing elsewhere, and a tenant who edits
///   one in a loop must not make the leader decide the whole cluster back to back;
/// - a Pod that appears between full scans is decided within one change check, so an untrusted
///   image is found soon after it starts (`signet_unsigned_image_detection_seconds`); during a
///   full scan, within one batch of it (``Configuration/fullScanBatch``): a registry that hangs
///   makes every Pod of its images take the admission deadline, and a full scan of such Pods
///   can take hours, which must not hold back the Pods that start meanwhile; Pods are
///   told apart by UID (a Pod deleted and created again under its name is a new Pod) and by the
///   images their containers run (a container restarted on another digest is decided again);
/// - what is kept per Pod (its findings, and its untrusted containers in ``ScanMetrics``) is
///   dropped when the Pod goes, so memory follows the running Pods;
/// - after each scan: metrics (``ScanMetrics``), PolicyReports (when a writer is given) and an
///   alert per untrusted image (when a dispatcher is given; deduplicated by it);
/// - an image whose verification cannot finish (`error`: its registry, a log or a CRL does not
///   answer) is reported at once, and alerted (`unverifiable-running`) only once it has stayed
///   so for ``Configuration/unverifiableAlertAfter``: a registry outage of a few minutes would
///   otherwise page for every image of the cluster whose verdict left the cache meanwhile.
public actor ContinuousVerifier {
    /// How often, and how soon after a change.
    public struct Configuration: Sendable {
        /// Time between full scans.
        public var interval: Duration = .seconds(600)
        /// How often the change token and new Pods are looked at.
        public var changeCheckInterval: Duration = .seconds(2)
        /// How long an image may stay unverifiable (`error`) before it is alerted.
        public var unverifiableAlertAfter: Duration = .seconds(1800)
        /// Pods a full scan decides before it looks for new ones; nil: eight per Pod the
        /// scanner decides at once.
        public var fullScanBatch: Int?
        public init() {}
    }

    let configuration: Configuration
    let pods: ResourceReflector
    let scanner: @Sendable () -> PodScanner
    let changeToken: @Sendable () async -> ChangeToken
    let reports: PolicyReportWriter?
    let alerts: AlertDispatcher?
    let logger: Logger
    let metrics: ScanMetrics
    /// Reads the time an image's unverifiable grace is measured with (injected by tests).
    let now: @Sendable () -> ContinuousClock.Instant
    /// Each Pod decided, by ``RunningPod/key`` (its UID): the images it ran then, and its findings.
    private var tracked: [String: (images: [String], findings: [ImageFinding])] = [:]
    private var reportedNamespaces: Set<String> = []
    /// Since when each image (`namespace image`) found unverifiable has been so at every scan
    /// that decided it; an image goes from here once no tracked Pod's finding for it is `error`.
    private var unverifiableSince: [String: ContinuousClock.Instant] = [:]
    /// Why each image (`namespace image`) was last found untrusted, until a scan finds it
    /// trusted or no tracked Pod runs it: a verification that cannot finish at a later scan (a
    /// registry made to hang) leaves a known failure a `fail`, not an `error`.
    private var lastFailure: [String: String] = [:]
    /// The change token of the policies ``lastFailure`` was found under (kept across runs).
    private var policyToken: ChangeToken?
    /// Pods (by ``RunningPod/key``) of namespaces whose PolicyExceptions changed, not decided
    /// again since; the next full scan decides them all.
    private var owedPods: Set<String> = []
    /// When the last run ended (the lead was lost).
    private var lastRunEnded: ContinuousClock.Instant?
    /// This run's first full scan has published: ``tracked`` holds every running Pod. Until
    /// then, the Pods decided between its batches are alerted on but not reported: the reports
    /// would be written from the few Pods decided so far, emptying every other namespace's.
    private var publishedFullScan = false
    /// What each report holds as last written or found unchanged, timestamps aside
    /// (``PolicyReportWriter/Outcome/contents``).
    private var reportContents: [String: [UInt8]] = [:]
    /// Each Pod as read, by store key, with the resourceVersion it was read at: a Pod is parsed
    /// again only when it changed, not at every change check (every two seconds, on the pool the
    /// admissions run on, for every Pod of the cluster, however large).
    private var read: [String: (resourceVersion: String?, pod: RunningPod?)] = [:]

    public init(
        configuration: Configuration, pods: ResourceReflector, scanner: @escaping @Sendable () -> PodScanner,
        changeToken: @escaping @Sendable () async -> ChangeToken, reports: PolicyReportWriter? = nil, alerts: AlertDispatcher? = nil,
        metrics: ScanMetrics = .shared, logger: Logger = Logger(label: "signet.continuous"),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.now = now
        self.metrics = metrics
        self.configuration = configuration
        self.pods = pods
        self.scanner = scanner
        self.changeToken = changeToken
        self.reports = reports
        self.alerts = alerts
        self.logger = logger
    }

    /// What tells that the policies changed: the part that decides in every namespace, and each
    /// namespace's own part (its PolicyExceptions).
    public struct ChangeToken: Sendable, Equatable, ExpressibleByStringLiteral {
        /// Policies, bypasses, Secret keys and trust roots (and, from a source that does not tell
        /// them apart, the exceptions too).
        public var cluster: String
        /// Each namespace's PolicyExceptions, by namespace.
        public var namespaces: [String: String]

        public init(cluster: String, namespaces: [String: String] = [:]) {
            self.cluster = cluster
            self.namespaces = namespaces
        }

        public init(stringLiteral cluster: String) { self.init(cluster: cluster) }

        /// The namespaces whose own part differs from `earlier`'s (added and removed ones too).
        func namespacesChanged(since earlier: ChangeToken) -> Set<String> {
            Set(namespaces.keys).union(earlier.namespaces.keys).filter { namespaces[$0] != earlier.namespaces[$0] }
        }
    }

    /// The change token of `policies` at `now`: its revisions (``PolicySet/clusterRevision``,
    /// ``PolicySet/namespacedRevisions``) and how many of its bypasses, and of each namespace's
    /// exceptions, have expired, so that an expiry is a change too and the Pods it covered are
    /// decided again at once.
    public static func changeToken(of policies: PolicySet, at now: Date) -> ChangeToken {
        var namespaces = policies.namespacedRevisions
        var expired: [String: Int] = [:]
        for exception in policies.exceptions where exception.validUntil <= now { expired[exception.namespace, default: 0] += 1 }
        for (namespace, count) in expired { namespaces[namespace, default: ""] += "+\(count)" }
        let bypassesExpired = policies.bypasses.filter { $0.expiresAt <= now }.count
        return ChangeToken(cluster: "\(policies.clusterRevision)+\(bypassesExpired)", namespaces: namespaces)
    }

    /// Watches Pods and scans until the task is cancelled.
    public func run() async {
        let pods = pods
        // A run starts its reflector anew, which lists again: the first scan waits for that list,
        // not the store a previous run (before this replica lost the lead) left behind.
        let listsBefore = await pods.completedLists
        // What an earlier run decided may be gone or changed meanwhile: this run decides every
        // Pod again. What this process found of images stays (an unverifiable image's grace, a
        // known failure, under the same policies): a lead lost for a moment (an API server that
        // did not answer a renewal in time, or was made not to) must not restart every grace nor
        // turn known failures into errors while a registry hangs.
        tracked = [:]
        reportContents = [:]
        publishedFullScan = false
        // ... unless the lead was lost for longer than a scan interval: another leader decided
        // meanwhile, and what this process knew may be long out of date.
        if let ended = lastRunEnded, now() - ended > configuration.interval {
            lastFailure = [:]
            unverifiableSince = [:]
        }
        metrics.recordScanningStarted(now: Date())
        await withDiscardingTaskGroup { group in
            group.addTask { await pods.run() }
            group.addTask { await self.loop(afterList: listsBefore) }
        }
        // No longer scanning (the lead is lost): the gauges of running images are another
        // replica's to keep now, and a value kept here would hold an alert up for ever.
        metrics.clearRunningImageGauges()
        lastRunEnded = now()
    }

    private func loop(afterList listsBefore: Int) async {
        while !Task.isCancelled, await pods.completedLists <= listsBefore {
            try? await Task.sleep(for: .milliseconds(200))
        }
        metrics.recordPodWatchContact(await pods.lastContact)
        // The reports written before this run (by this replica before it lost the lead, by
        // another leader, before a restart): a namespace whose Pods went meanwhile has its
        // report emptied at the first scan, not left failing.
        if let reports, let written = try? await reports.reportedNamespaces() { reportedNamespaces.formUnion(written) }
        var lastFullScan = ContinuousClock.now
        var firstScan = true
        while !Task.isCancelled {
            let current = await changeToken()
            let running = runningPods(await pods.snapshot.objects)
            let wholeSetChanged = absorb(current, running: running)
            // A remembered failure is of the policies it was found under.
            if wholeSetChanged { lastFailure = [:] }
            if firstScan || wholeSetChanged || ContinuousClock.now - lastFullScan >= configuration.interval {
                policyToken = current
                firstScan = false
                lastFullScan = .now
                owedPods = []
                await fullScan(running)
            } else {
                await decideChanges(running, until: lastFullScan + configuration.interval)
            }
            metrics.recordPodWatchContact(await pods.lastContact)
            try? await Task.sleep(for: configuration.changeCheckInterval)
        }
    }

    /// Takes in the change token `current` read with `running` listed: when only namespaces'
    /// parts moved, their remembered failures go and their Pods are owed a decision. Returns
    /// whether the whole set changed (or nothing was decided yet), for which a full scan is due
    /// and ``policyToken`` is left as it was for the caller.
    private func absorb(_ current: ChangeToken, running: [RunningPod]) -> Bool {
        guard let known = policyToken, current.cluster == known.cluster else { return true }
        let changed = current.namespacesChanged(since: known)
        guard !changed.isEmpty else { return false }
        lastFailure = lastFailure.filter { !changed.contains(Self.namespace(ofImageKey: $0.key)) }
        owedPods.formUnion(running.filter { changed.contains($0.namespace) }.map(\.key))
        policyToken = current
        return false
    }

    /// Decides, between full scans, the Pods that came or changed and then those owed a
    /// decision (of namespaces whose exceptions changed), a batch at a time, as a full scan
    /// does: hundreds of Pods started at once against a registry that hangs would otherwise
    /// hold every policy change and every newer Pod until the last of them ran into its
    /// deadline. Between two batches the change token and the Pods are read again: a change of
    /// the whole set ends the round (the full scan it calls for decides the rest), a
    /// namespace's change makes its Pods owed, and Pods that came meanwhile go before any owed
    /// one, so whoever may edit one namespace's exceptions delays only that namespace's
    /// decisions, never another's new Pods. New Pods are taken in the order they were first
    /// listed, whatever their namespace. Pods that keep coming end the round at `fullScanDue`.
    private func decideChanges(_ listed: [RunningPod], until fullScanDue: ContinuousClock.Instant) async {
        var running = listed
        let gone = Set(tracked.keys).subtracting(running.map(\.key))
        for key in gone { tracked[key] = nil }
        let batch = batchSize(scanner())
        var scanned = false
        var lastLook = ContinuousClock.now
        while !Task.isCancelled {
            owedPods.formIntersection(running.map(\.key))
            let fresh = running.filter { tracked[$0.key]?.images != $0.runningImages }
                .sorted { (arrival[$0.key] ?? .max) < (arrival[$1.key] ?? .max) }
            let owed = fresh.count >= batch ? [] : running.filter { owedPods.contains($0.key) && tracked[$0.key]?.images == $0.runningImages }
            let next = Array((fresh + owed).prefix(batch))
            // Once at least when Pods went: their findings go from the reports too.
            guard !next.isEmpty || (!scanned && !gone.isEmpty) else { return }
            await scan(next)
            scanned = true
            owedPods.subtract(next.map(\.key))
            // What changed is looked at again once a change check has passed, not after every
            // batch: batches of a Pod or two, decided from the cache, would otherwise read the
            // whole store back to back.
            guard ContinuousClock.now - lastLook >= configuration.changeCheckInterval else { continue }
            lastLook = .now
            metrics.recordPodWatchContact(await pods.lastContact)
            let current = await changeToken()
            running = runningPods(await pods.snapshot.objects)
            if absorb(current, running: running) || ContinuousClock.now >= fullScanDue { return }
        }
    }

    /// The active Pods among `objects`, each parsed once per resourceVersion (one without a
    /// resourceVersion every time); what is no longer listed is forgotten.
    func runningPods(_ objects: [KubernetesObject]) -> [RunningPod] {
        var current: [String: (resourceVersion: String?, pod: RunningPod?)] = [:]
        current.reserveCapacity(objects.count)
        var running: [RunningPod] = []
        for object in objects {
            let pod: RunningPod?
            if let version = object.resourceVersion, let known = read[object.key], known.resourceVersion == version {
                pod = known.pod
            } else {
                pod = RunningPod(json: object.json)
                podsParsed += 1
            }
            current[object.key] = (object.resourceVersion, pod)
            if let pod, pod.isActive { running.append(pod) }
        }
        read = current
        var seen: [String: Int] = [:]
        seen.reserveCapacity(running.count)
        for pod in running {
            if let order = arrival[pod.key] {
                seen[pod.key] = order
            } else {
                seen[pod.key] = nextArrival
                nextArrival += 1
            }
        }
        arrival = seen
        return running
    }

    /// When each running Pod (by ``RunningPod/key``) was first listed, as a count: Pods are
    /// decided between full scans in that order, not in the store's (by namespace and name),
    /// in which one namespace starting Pods without pause would keep every later one's new Pods
    /// waiting until the next full scan.
    private(set) var arrival: [String: Int] = [:]
    private var nextArrival = 0

    /// Pods decided at once between two looks at what changed (``Configuration/fullScanBatch``).
    private func batchSize(_ scanner: PodScanner) -> Int {
        max(1, configuration.fullScanBatch ?? 8 * scanner.concurrency)
    }

    /// How many times a Pod was parsed (for tests of the reading).
    private(set) var podsParsed = 0

    /// How many scans ended (for tests).
    private(set) var scansDone = 0

    /// How many full scans ended (for tests).
    private(set) var fullScansDone = 0

    /// How many Pods are kept (for tests of the bound).
    var trackedPods: Int { tracked.count }

    /// Decides every Pod of `running`, a batch at a time; between two batches, the Pods that came
    /// or changed since are decided first (as between full scans), so a scan slowed by a registry
    /// that hangs delays their findings by one batch, not by the whole scan. The findings then
    /// replace every earlier one but those of the Pods decided meanwhile (newer than the scan's).
    private func fullScan(_ running: [RunningPod]) async {
        let start = ContinuousClock.now
        let scanner = scanner()
        let batch = batchSize(scanner)
        var found: [ImageFinding] = []
        var decidedMeanwhile: Set<String> = []
        // What this scan decides, by Pod: a Pod it holds with the same images is left to it.
        var held: [String: [String]] = [:]
        for pod in running { held[pod.key] = pod.runningImages }
        var next = running.startIndex
        while next < running.endIndex {
            let end = min(running.endIndex, next + batch)
            found += await scanner.scan(Array(running[next..<end]))
            next = end
            guard !Task.isCancelled else { return }
            // A full scan can take an hour when a registry hangs: the watch's contact is kept current meanwhile.
            metrics.recordPodWatchContact(await pods.lastContact)
            guard next < running.endIndex else { break }
            let current = runningPods(await pods.snapshot.objects)
            let fresh = current.filter { held[$0.key] != $0.runningImages && tracked[$0.key]?.images != $0.runningImages }
            if !fresh.isEmpty {
                await scan(fresh)
                decidedMeanwhile.formUnion(fresh.map(\.key))
            }
        }
        // A Pod decided between the batches keeps that newer finding: it came, or changed its
        // images, after this scan listed it.
        tracked = tracked.filter { decidedMeanwhile.contains($0.key) }
        fullScansDone += 1
        publishedFullScan = true
        await publish(
            found.filter { !decidedMeanwhile.contains($0.podKey) }, of: running.filter { !decidedMeanwhile.contains($0.key) }, start: start,
            replacing: true)
    }

    /// Decides `running`, Pods that came or changed; their findings replace theirs alone.
    private func scan(_ running: [RunningPod]) async {
        let start = ContinuousClock.now
        let found = await scanner().scan(running)
        // Cancelled (the lead lost): the verifications were cut short, and what they found is
        // not this replica's to report any more.
        guard !Task.isCancelled else { return }
        await publish(found, of: running, start: start, replacing: false)
    }

    /// Keeps the findings of `running`, counts them, alerts and writes the reports.
    private func publish(_ decided: [ImageFinding], of running: [RunningPod], start: ContinuousClock.Instant, replacing: Bool) async {
        let found = decided.map(keepingKnownFailure)
        let byPod = Dictionary(grouping: found, by: \.podKey)
        for pod in running { tracked[pod.key] = (pod.runningImages, byPod[pod.key] ?? []) }
        // The gauge counts every Pod's bypassed images, not only those of the Pods scanned now:
        // a partial scan (a Pod came or went) used to set it from its few findings, often to 0.
        var bypassedRunning = 0, unverifiableRunning = 0
        var unverifiable: Set<String> = []
        for entry in tracked.values {
            for finding in entry.findings {
                if finding.bypassed { bypassedRunning += 1 }
                if finding.isUnverifiable {
                    unverifiableRunning += 1
                    unverifiable.insert(Self.imageKey(finding))
                }
            }
        }
        let now = self.now()
        // Until this run's first full scan has published, `tracked` holds only the few Pods
        // decided so far: what is known of the others' images stays until then.
        if publishedFullScan {
            let runningImages = Set(tracked.values.lazy.flatMap(\.findings).map(Self.imageKey))
            lastFailure = lastFailure.filter { runningImages.contains($0.key) }
            unverifiableSince = unverifiableSince.filter { unverifiable.contains($0.key) }
        }
        for key in unverifiable where unverifiableSince[key] == nil { unverifiableSince[key] = now }
        scansDone += 1
        // Before the run's first full scan has published, only the few Pods decided meanwhile
        // are tracked: the gauges of running images wait for it.
        metrics.record(
            found, duration: ContinuousClock.now - start, now: Date(), bypassedRunning: bypassedRunning, unverifiableRunning: unverifiableRunning,
            fullScan: replacing, runningGauges: publishedFullScan)
        metrics.forgetPods(except: Set(tracked.keys))
        let untrusted = found.filter(\.isUntrusted)
        if !untrusted.isEmpty {
            logger.warning("untrusted images running", metadata: [
                "count": "\(untrusted.count)", "images": "\(untrusted.map { "\($0.location) \($0.image)" }.joined(separator: ", "))",
            ])
        }
        let unverified = found.filter(\.isUnverifiable)
        if !unverified.isEmpty {
            logger.warning("running images could not be verified", metadata: [
                "count": "\(unverified.count)",
                "images": "\(unverified.prefix(20).map { "\($0.location) \($0.image): \($0.reason)" }.joined(separator: "; "))",
            ])
        }
        if let alerts {
            // Only those unverifiable for the whole grace; the others are alerted at a later scan
            // if they stay so (each full scan decides every Pod again).
            let overdue = unverified.filter { finding in
                unverifiableSince[Self.imageKey(finding)].map { now - $0 >= configuration.unverifiableAlertAfter } ?? false
            }
            let raised = Alert.untrustedRunning(untrusted, time: Date()) + Alert.unverifiableRunning(overdue, time: Date())
            for alert in Alert.interleavedByNamespace(raised) { alerts.enqueue(alert) }
        }
        if publishedFullScan { await writeReports(rewrite: replacing) }
    }

    /// `finding`, remembered: a fail is kept as the image's last failure, a trusted result
    /// forgets it, and an `error` of an image that failed before stays a `fail`, saying so.
    private func keepingKnownFailure(_ finding: ImageFinding) -> ImageFinding {
        let key = Self.imageKey(finding)
        switch finding.result {
        case .fail:
            lastFailure[key] = finding.reason
            return finding
        case .error:
            guard let previous = lastFailure[key] else { return finding }
            var kept = finding
            kept.result = .fail
            kept.reason = "\(finding.reason); it failed when last decided, and stays failed until a scan finds it trusted: \(previous)"
            return kept
        case .pass:
            lastFailure[key] = nil
            return finding
        case .warn, .skip:
            // Another Pod of the image may be exempted, or its namespace unreviewed: that says
            // nothing of the image's signatures.
            return finding
        }
    }

    /// An image as alerts group it: `namespace image`.
    private static func imageKey(_ finding: ImageFinding) -> String { "\(finding.namespace) \(finding.image)" }

    /// The namespace of an ``imageKey(_:)`` (a namespace name holds no space).
    private static func namespace(ofImageKey key: String) -> String { String(key.prefix { $0 != " " }) }

    /// Writes the reports of every finding tracked; with `rewrite` (a full scan) every report,
    /// else only those whose results changed since they were written (a report deleted by hand
    /// comes back at the next full scan).
    private func writeReports(rewrite: Bool) async {
        guard let reports else { return }
        // In one order whatever the dictionary's, so an unchanged report reads the same.
        let all = tracked.values.flatMap { $0.findings }.sorted {
            ($0.namespace, $0.pod, $0.podUID ?? "", $0.container, $0.image) < ($1.namespace, $1.pod, $1.podUID ?? "", $1.container, $1.image)
        }
        let namespaces = Set(all.map(\.namespace))
        let emptied = reportedNamespaces.subtracting(namespaces)
        let outcome = await reports.write(
            all, builder: PolicyReportBuilder(time: Date()), emptiedNamespaces: emptied, stored: rewrite ? [:] : reportContents)
        reportContents = outcome.contents
        // A report that could not be emptied is emptied again after the next scan.
        reportedNamespaces = namespaces.union(emptied.intersection(outcome.failedNamespaces))
    }
}
