import Foundation
import Logging
import NIOConcurrencyHelpers
import SignetPolicy
import SignetRegistry

/// Runs the console's verifications and keeps the last ``capacity`` of them: each image is
/// decided by the evaluator admission uses at that moment (same policies, exceptions, bypasses
/// and engine, so the same cache), with a watching verifier (``ObservingVerifier``) that turns
/// every authority's result into stages subscribers receive as they happen.
///
/// The subject is a dry-run `Pod` CREATE in the chosen namespace by the console's user, named
/// `signet-console-verify`: exceptions and bypasses for that namespace apply, and a policy's
/// `namespaceSelector` is matched against the namespace's labels as admission knows them
/// (``namespaceLabels``). Where the labels are unknown (no namespace given, or one admission has
/// no labels for) every policy whose globs match applies, as at admission: missing information
/// never exempts an image. Without a namespace, only exemptions for every namespace apply.
///
/// At most ``maximumRunning`` verifications run at once (each may wait on a registry up to the
/// timeout): a start beyond that is refused, so one user who may verify cannot make signet hold
/// an unbounded number of registry requests and tasks beside admission.
public final class VerificationRunner: Sendable {
    public typealias Finished = @Sendable (VerificationRun) async -> Void

    private struct State {
        var runs: [String: VerificationRun] = [:]
        var order: [String] = []
        var subscribers: [String: [UUID: AsyncStream<VerificationRunEvent>.Continuation]] = [:]
        var running = 0
    }

    /// How many verifications may run at once.
    public let maximumRunning: Int

    private let evaluator: @Sendable () -> PolicyEvaluator
    private let namespaceLabels: (@Sendable (String) -> [String: String]?)?
    private let capacity: Int
    private let timeout: Duration
    private let finished: Finished
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    public init(
        evaluator: @escaping @Sendable () -> PolicyEvaluator, namespaceLabels: (@Sendable (String) -> [String: String]?)? = nil,
        capacity: Int = 200, timeout: Duration = .seconds(30), maximumRunning: Int = 8, logger: Logger = Logger(label: "signet.console"),
        finished: @escaping Finished = { _ in }
    ) {
        self.maximumRunning = max(1, maximumRunning)
        self.evaluator = evaluator
        self.namespaceLabels = namespaceLabels
        self.capacity = max(1, capacity)
        self.timeout = timeout
        self.finished = finished
        self.logger = logger
    }

    /// The longest image text and namespace a verification is started for: no image reference
    /// is longer, nor any namespace (a DNS label), and each kept run holds its texts.
    public static let maximumImageBytes = ImageReference.maximumReferenceLength
    public static let maximumNamespaceBytes = 63

    /// Why `image` and `namespace` cannot be verified as asked, or nil.
    public static func problem(image: String, namespace: String?) -> String? {
        if image.utf8.count > maximumImageBytes {
            return "not an image reference: \(image.utf8.count) bytes, longer than any (at most \(maximumImageBytes))"
        }
        if let namespace, namespace.utf8.count > maximumNamespaceBytes {
            return "not a namespace: \(namespace.utf8.count) bytes, longer than any (at most \(maximumNamespaceBytes))"
        }
        // A namespace name is an RFC 1123 label: lowercase letters, digits and '-', not at either end.
        if let namespace, namespace.isEmpty || !namespace.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D })
            || namespace.hasPrefix("-") || namespace.hasSuffix("-") {
            return "not a namespace name: \"\(UntrustedText.bounded(namespace, limit: 80))\" (lowercase letters, digits and '-', as an RFC 1123 label)"
        }
        return nil
    }

    /// Starts verifying `image` for `user`; the run's id at once, or nil when
    /// ``maximumRunning`` verifications are running.
    public func start(image: String, namespace: String?, user: String) -> String? {
        let id = UUID().uuidString.lowercased()
        let run = VerificationRun(
            id: id, image: image, namespace: namespace, user: user, startedAt: Date(), state: .running, events: [],
            authorities: [], verdict: nil, totalMilliseconds: nil)
        // Streams are finished outside the lock: finishing runs their termination handlers,
        // which take the lock themselves.
        let orphaned = state.withLockedValue { state -> [AsyncStream<VerificationRunEvent>.Continuation]? in
            guard state.running < maximumRunning else { return nil }
            state.running += 1
            state.runs[id] = run
            state.order.append(id)
            var orphaned: [AsyncStream<VerificationRunEvent>.Continuation] = []
            while state.order.count > capacity {
                let dropped = state.order.removeFirst()
                state.runs[dropped] = nil
                orphaned += state.subscribers.removeValue(forKey: dropped)?.values.map { $0 } ?? []
            }
            return orphaned
        }
        guard let orphaned else {
            logger.notice("console verification refused: too many running", metadata: ["user": "\(user)", "running": "\(maximumRunning)"])
            return nil
        }
        orphaned.forEach { $0.finish() }
        Task { await self.perform(id: id, image: image, namespace: namespace, user: user) }
        return id
    }

    /// Runs `image` to its decision and returns the run (for the JSON API and tests); nil when
    /// too many are running or the run is no longer kept.
    public func verify(image: String, namespace: String?, user: String) async -> VerificationRun? {
        guard let id = start(image: image, namespace: namespace, user: user) else { return nil }
        for await _ in updates(of: id) {}
        return run(id)
    }

    /// The run `id`, if still kept.
    public func run(_ id: String) -> VerificationRun? {
        state.withLockedValue { $0.runs[id] }
    }

    /// The runs kept, oldest first.
    public func recent() -> [VerificationRun] {
        state.withLockedValue { state in state.order.compactMap { state.runs[$0] } }
    }

    /// The newest finished run that verified `digest`.
    public func latest(digest: String) -> VerificationRun? {
        recent().last { $0.state == .finished && $0.digest == digest }
    }

    /// The stages of run `id`: those already reported, then each new one; finishes with the run.
    public func updates(of id: String) -> AsyncStream<VerificationRunEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: VerificationRunEvent.self, bufferingPolicy: .bufferingNewest(256))
        let key = UUID()
        // Set before the continuation is shared; it runs outside the lock (streams are finished
        // after the lock is released).
        continuation.onTermination = { [weak self] _ in
            self?.state.withLockedValue { _ = $0.subscribers[id]?.removeValue(forKey: key) }
        }
        let done = state.withLockedValue { state -> Bool in
            guard let run = state.runs[id] else { return true }
            run.events.forEach { continuation.yield($0) }
            if run.state == .finished { return true }
            state.subscribers[id, default: [:]][key] = continuation
            return false
        }
        if done { continuation.finish() }
        return stream
    }

    private func perform(id: String, image: String, namespace: String?, user: String) async {
        let started = ContinuousClock.now
        let at = { @Sendable in (ContinuousClock.now - started).consoleMilliseconds }
        emit(id, VerificationRunEvent(
            stage: .started, atMilliseconds: 0, title: "started", passed: nil,
            detail: "verifying \(image) as a Pod in \(namespace ?? "no namespace") for \(user)"))
        let current = evaluator()
        let resolutionReported = NIOLockedValueBox(false)
        let observer = current.verifier.map { inner in
            ObservingVerifier(inner: inner) { report in
                self.record(id, report)
                let firstReport = resolutionReported.withLockedValue { reported -> Bool in
                    defer { reported = true }
                    return !reported
                }
                for event in Self.events(for: report, at: at(), includingResolution: firstReport) { self.emit(id, event) }
            }
        }
        let observed = PolicyEvaluator(
            policies: current.policies, noMatchAction: current.noMatchAction, verifier: observer, logger: current.logger,
            exemptions: current.exemptions, credentialProvider: current.credentialProvider)
        let subject = Self.subject(namespace: namespace, user: user, labels: namespace.flatMap { namespaceLabels?($0) })
        let decision = await observed.evaluate(
            [ImageUse(image: image, container: "console")], subject: subject, deadline: .now + timeout)
        let verdict = decision.verdicts.first
        let total = at()
        emit(id, VerificationRunEvent(
            stage: .decision, atMilliseconds: total, title: verdict.map { "decision: \($0.outcome.rawValue)" } ?? "decision",
            passed: verdict.map { $0.outcome != .deny }, detail: verdict?.reason ?? "no verdict", durationMilliseconds: total))
        let (finishedRun, subscribers) = state.withLockedValue { state in
            state.running -= 1
            state.runs[id]?.verdict = verdict
            state.runs[id]?.totalMilliseconds = total
            state.runs[id]?.state = .finished
            return (state.runs[id], state.subscribers.removeValue(forKey: id)?.values.map { $0 } ?? [])
        }
        subscribers.forEach { $0.finish() }
        // The namespace too: a verification there used its pull secrets and exceptions.
        logger.info("console verification", metadata: [
            "image": "\(image)", "user": "\(user)", "namespace": "\(namespace ?? "")", "run": "\(id)",
            "verdict": "\(verdict?.outcome.rawValue ?? "none")", "milliseconds": "\(Int(total))",
        ])
        if let finishedRun { await finished(finishedRun) }
    }

    /// The Pod a console verification decides. A Pod always lives in a namespace: without one
    /// given, it is an unnamed one ("", which no exception or bypass names) whose labels are
    /// unknown, so a policy with a `namespaceSelector` applies rather than being skipped as it
    /// would be for a cluster-scoped object.
    static func subject(namespace: String?, user: String, labels: [String: String]?) -> AdmissionSubject {
        AdmissionSubject(
            namespace: namespace ?? "", name: "signet-console-verify", kind: "Pod", operation: "CREATE", dryRun: true, userName: user,
            namespaceLabels: namespace == nil ? nil : labels)
    }

    private func record(_ id: String, _ report: AuthorityReport) {
        state.withLockedValue { $0.runs[id]?.authorities.append(report) }
    }

    private func emit(_ id: String, _ event: VerificationRunEvent) {
        state.withLockedValue { state in
            state.runs[id]?.events.append(event)
            state.subscribers[id]?.values.forEach { $0.yield(event) }
        }
    }

    /// The stages one authority's result shows: resolution (first authority only), the
    /// authority's outcome with fetch and check times, then each check the verifier made.
    static func events(for report: AuthorityReport, at: Double, includingResolution: Bool) -> [VerificationRunEvent] {
        var events: [VerificationRunEvent] = []
        let name = "\(report.policy) / \(report.authority)"
        guard let result = report.result else {
            events.append(VerificationRunEvent(
                stage: .authority, atMilliseconds: at, title: name, passed: false,
                detail: report.error ?? "not verified", durationMilliseconds: report.elapsedMilliseconds))
            return events
        }
        if includingResolution {
            let how = result.timings.resolutionMilliseconds == nil ? "digest given or resolved before" : "tag resolved at the registry"
            events.append(VerificationRunEvent(
                stage: .resolution, atMilliseconds: at, title: "resolution", passed: true,
                detail: "\(result.image) → \(result.digest) (\(how))", durationMilliseconds: result.timings.resolutionMilliseconds))
        }
        var detail = "\(result.format.name): \(result.reason)"
        if let cache = result.cache { detail += " [cache \(cache.rawValue)]" }
        events.append(VerificationRunEvent(
            stage: .authority, atMilliseconds: at, title: name, passed: result.passed, detail: detail,
            durationMilliseconds: result.timings.totalMilliseconds ?? report.elapsedMilliseconds))
        for step in result.steps {
            events.append(VerificationRunEvent(
                stage: .step, atMilliseconds: at, title: "\(report.authority): \(step.name)", passed: step.passed, detail: step.detail))
        }
        return events
    }
}

extension Duration {
    /// The duration in milliseconds.
    var consoleMilliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
