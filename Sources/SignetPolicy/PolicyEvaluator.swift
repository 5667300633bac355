import Foundation
import Logging
import NIOConcurrencyHelpers
import SignetRegistry

/// Decides whether the images of an admission request may run, per the ``PolicySet`` in force.
///
/// Rules (the signet design, "The path of one request"):
/// - every distinct image is evaluated concurrently, under the request deadline;
/// - an image must satisfy every policy whose globs match it; within a policy, `require`
///   authorities must pass;
/// - an image reference that does not parse is denied with the parse error (fail closed);
/// - an image no policy covers is denied, allowed with a warning, or allowed per ``NoMatchAction``
///   (default deny); ``AdmissionDecision/uncovered`` counts them;
/// - a verifier that throws, or is missing for a signature authority, or misses the deadline,
///   counts as "not passed" with that reason, so an `Enforce` policy denies (fail closed);
/// - a failed `Warn` policy allows the image with a warning; a failed `Audit` policy allows it
///   and records the finding for audit annotations and logs;
/// - exemptions (see `PolicyEvaluator+Exemptions.swift`): an image an active `EmergencyBypass`
///   covers is allowed without evaluation; a policy an active `PolicyException` exempts the
///   object from is not evaluated; a namespace with the opt-out label is not evaluated;
///   policies apply only to the namespaces and kinds they select.
public struct PolicyEvaluator: Sendable {
    public let policies: PolicySet
    public let noMatchAction: NoMatchAction
    public let verifier: (any AuthorityVerifier)?
    public var logger: Logger {
        didSet { debugLogging = logger.logLevel <= .debug }
    }
    /// Whether `logger` writes debug lines, read when it is set: reading a logger's level
    /// copies its handler (retaining what it holds, shared by every event loop) at each decision.
    private var debugLogging: Bool
    /// The clock, bypass window and opt-out label for exemptions.
    public var exemptions: ExemptionConfiguration
    /// Registry credentials for the images of an admission (its pull secrets); read only when a
    /// verification has to ask a registry. `nil`: the verifier's registry client's own only.
    public var credentialProvider: (any RegistryCredentialProvider)?
    /// A policy that cannot pass only because of transient errors waits for its other
    /// authorities (until they answer or the deadline), so that ``PolicyResult/undecided`` does
    /// not depend on which answered first: for scans of running images, whose `error` and
    /// `fail` raise different alerts. Off for admission, which denies either way and would only
    /// answer later; its `undecided` then tells what the authorities consulted tell.
    public var waitsPastTransientErrors = false
    /// Image references already parsed, with the policies whose globs match them; shared by
    /// the copies of this evaluator.
    let references: ParsedImages
    /// The verifier as a ``CachedVerdictSource``, when it is one (cast once, not per authority).
    private let cachedVerdicts: (any CachedVerdictSource)?
    /// The verifier as a ``TagDigestSource``, when it is one: what a tag written beside a digest names.
    let tagDigests: (any TagDigestSource)?

    public init(
        policies: PolicySet,
        noMatchAction: NoMatchAction = .deny,
        verifier: (any AuthorityVerifier)? = nil,
        logger: Logger = Logger(label: "signet.policy"),
        exemptions: ExemptionConfiguration = ExemptionConfiguration(),
        credentialProvider: (any RegistryCredentialProvider)? = nil
    ) {
        self.policies = policies
        self.references = ParsedImages(policies: policies.policies)
        self.noMatchAction = noMatchAction
        self.verifier = verifier
        self.cachedVerdicts = verifier as? any CachedVerdictSource
        self.tagDigests = verifier as? any TagDigestSource
        self.logger = logger
        self.debugLogging = logger.logLevel <= .debug
        self.exemptions = exemptions
        self.credentialProvider = credentialProvider
    }

    /// Evaluates `images` for `subject`; never throws: every failure is a decision.
    ///
    /// What needs no waiting is decided first, on the calling task (``begin(_:subject:)``):
    /// references, bypasses, policy matching, exceptions, static authorities and verdicts a
    /// ``CachedVerdictSource`` verifier already holds. Only the verifications left run
    /// concurrently (one child task per image, and per authority, racing the deadline), so a
    /// warm decision creates no tasks.
    public func evaluate(_ images: [ImageUse], subject: AdmissionSubject, deadline: ContinuousClock.Instant) async -> AdmissionDecision {
        switch begin(images, subject: subject) {
        case .decided(let decision): return decision
        case .verifying(let pending): return await finish(pending, deadline: deadline)
        }
    }

    /// How far an evaluation gets without waiting.
    public enum Beginning: Sendable {
        /// Nothing had to be verified: the decision.
        case decided(AdmissionDecision)
        /// Some images wait for verifications; ``finish(_:deadline:)`` runs them.
        case verifying(PendingEvaluation)
    }

    /// Everything ``evaluate(_:subject:deadline:)`` decides without waiting; the decision itself
    /// when no verification is left, so a warm admission needs no task and no suspension.
    public func begin(_ images: [ImageUse], subject: AdmissionSubject) -> Beginning {
        let now = exemptions.clock.now()
        if let optedOut = optOutDecision(images, subject: subject) { return .decided(optedOut) }
        // The same image in several containers is evaluated once, at its first use.
        var pending = PendingEvaluation(images: images, subject: subject, firstUse: Self.firstUses(of: images))
        for index in images.indices where pending.firstUse[index] == index {
            switch prepare(image: images[index].image, subject: subject, now: now) {
            case .decided(let evaluation): pending.evaluations[index] = evaluation
            case .pending(let work): pending.unfinished.append((index, work))
            }
        }
        return pending.unfinished.isEmpty ? .decided(conclude(pending)) : .verifying(pending)
    }

    /// Runs the verifications `pending` waits for, under `deadline`, and decides.
    public func finish(_ pending: PendingEvaluation, deadline: ContinuousClock.Instant) async -> AdmissionDecision {
        var pending = pending
        let unfinished = pending.unfinished
        // Registry requests from here on carry the admission's pull secrets.
        let credentials = credentialProvider.map { AdmissionCredentials(provider: $0, subject: pending.subject) }
        // ... and are made for its namespace (the registry client's response budget groups by it).
        let finished = await RegistryRequestOrigin.using(pending.subject.namespace ?? "") {
            await RequestCredentials.using(credentials) { await verifyAll(unfinished, deadline: deadline) }
        }
        for (index, evaluation) in finished { pending.evaluations[index] = evaluation }
        pending.unfinished = []
        return conclude(pending)
    }

    /// The decision once every image is evaluated: a verdict per use, in order.
    private func conclude(_ pending: PendingEvaluation) -> AdmissionDecision {
        let images = pending.images
        var decision = AdmissionDecision(allowed: true, verdicts: [], denials: [], warnings: [], auditFindings: [])
        decision.verdicts.reserveCapacity(images.count)
        for index in images.indices {
            pending.evaluations[pending.firstUse[index]]?.addVerdict(for: images[index], noMatchAction: noMatchAction, to: &decision)
        }
        decision.allowed = decision.denials.isEmpty
        let subject = pending.subject
        if debugLogging {
            logger.debug("evaluated images", metadata: [
            "kind": "\(subject.kind)", "namespace": "\(subject.namespace ?? "")", "name": "\(subject.name ?? "")",
            "decision": "\(decision.allowed ? "allowed" : "denied")", "summary": "\(decision.summary)",
            "revision": "\(policies.revision)",
            ])
        }
        return decision
    }

    /// For each use, the index of the first use of the same image (the same bytes,
    /// ``ExactText``). A pod names a handful of images, compared directly; a dictionary only for
    /// long lists.
    static func firstUses(of images: [ImageUse]) -> [Int] {
        var first = Array(images.indices)
        if images.count <= 16 {
            for index in images.indices {
                for earlier in 0..<index where first[earlier] == earlier && images[earlier].image.isSameBytes(as: images[index].image) {
                    first[index] = earlier
                    break
                }
            }
        } else {
            var seen: [ExactText: Int] = [:]
            seen.reserveCapacity(images.count)
            for index in images.indices {
                let image = ExactText(images[index].image)
                if let earlier = seen[image] { first[index] = earlier } else { seen[image] = index }
            }
        }
        return first
    }

    // MARK: - One image

    private enum Preparation {
        case decided(ImageEvaluation)
        case pending(PendingImage)
    }

    /// An image whose policies still wait for verifications.
    fileprivate struct PendingImage: Sendable {
        var parsed: ParsedImages.Parsed
        var exempted: [PolicyResult]
        /// The matching policies not exempted, in name order, some already settled.
        var policies: [PolicyProgress]
        /// The covering policies not enforced for this object, and its kind: what the image is
        /// if every policy above turns out not to cover it (a tag that names its digest).
        var notEnforcedHere: [String] = []
        var kind: String = ""
        /// The tag written beside the image's digest, to resolve, and the bypass that takes in
        /// that tag: it lets the image in when the tag names the digest
        /// (``PolicyEvaluator/TagKnowledge/unknown``), whatever the policies say.
        var bypassClaim: (tag: ImageReference, use: ExemptionUse)?
    }

    /// Everything about one image that needs no waiting; the verifications left, if any.
    private func prepare(image: String, subject admission: AdmissionSubject, now: Date) -> Preparation {
        let parsed: ParsedImages.Parsed
        switch references.parse(image) {
        case .success(let success): parsed = success
        case .failure(let error): return .decided(.invalid(error))
        }
        // The reference is read from the parsed image where it is used: a copy of it retained
        // each of its strings.
        // What the tag cache says of a tag beside the digest, asked once for the image.
        let tag = tagKnowledge(of: parsed.reference)
        if let bypass = activeBypass(for: parsed.reference, subject: admission, now: now, tag: tag) {
            return .decided(.bypassed(parsed.reference, bypass.use))
        }
        // A bypass written for the tag, when the tag cache does not know what the tag names: the
        // tag is resolved if the image is not let in without the bypass.
        let bypassClaim = tag.unknown.flatMap { unknown in
            activeBypass(for: unknown, subject: admission, now: now, tag: TagKnowledge.none).map { (tag: unknown, use: $0.use) }
        }
        // Coverage is decided by the globs alone: `kinds` and `namespaceSelector` only narrow
        // where a covering policy is enforced, so an image a policy covers is never handed to
        // the no-match action because this object is of another kind or namespace.
        if parsed.matchingPolicies.isEmpty {
            if let bypassClaim, noMatchAction == .deny {
                return .pending(PendingImage(parsed: parsed, exempted: [], policies: [], bypassClaim: bypassClaim))
            }
            return .decided(.uncovered(parsed.reference, text: parsed.subject.reference))
        }
        var exempted: [PolicyResult] = []
        var matching: [PolicyProgress] = []
        matching.reserveCapacity(parsed.matchingPolicies.count)
        var notEnforcedHere: [String] = []
        for index in parsed.matchingPolicies {
            let policy = policies.policies[index]
            var claim: ImageReference?
            if !parsed.tagClaimPolicies.isEmpty, parsed.tagClaimPolicies.contains(index) {
                switch tagClaim(of: parsed.reference, subject: admission) {
                case .named: continue
                case .unknown: claim = parsed.reference.withoutDigest
                case .notNamed: break
                }
            }
            guard policy.applies(to: admission) else {
                notEnforcedHere.append(policy.name)
                continue
            }
            if let exception = activeException(for: policy, image: parsed.reference, subject: admission, now: now, tag: tag) {
                exempted.append(PolicyResult(
                    policy: policy.name, mode: policy.mode, passed: true, required: policy.requiredPasses, authorities: [],
                    exemption: exception.use(policy: policy.name)))
            } else {
                var progress = progress(of: policy, image: parsed.reference, subject: admission)
                progress.tagClaim = claim
                // An exception written for the tag, whose resolution is to wait for, unless cached
                // verdicts already pass the policy.
                if let unknown = tag.unknown, !(progress.isSettled && progress.passes >= policy.requiredPasses),
                   let exception = activeException(for: policy, image: unknown, subject: admission, now: now, tag: TagKnowledge.none) {
                    progress.exemptionClaim = (unknown, exception.use(policy: policy.name))
                }
                matching.append(progress)
            }
        }
        if matching.isEmpty && exempted.isEmpty {
            // Every policy that matched by its globs alone: a tag that names the digest left none.
            if notEnforcedHere.isEmpty { return .decided(.uncovered(parsed.reference, text: parsed.subject.reference)) }
            return .decided(.notEnforcedHere(parsed.reference, text: parsed.subject.reference, policies: notEnforcedHere, kind: admission.kind))
        }
        if matching.allSatisfy({ $0.isFinished }) {
            let results = matching.map(\.result)
            if bypassClaim == nil || !results.contains(where: { !$0.passed && $0.mode == .enforce }) {
                // The parsed image is kept as it is (one reference), not copied field by field.
                return .decided(.evaluated(EvaluatedImage(parsed: parsed, results: Self.ordered(results, exempted: exempted))))
            }
        }
        return .pending(PendingImage(
            parsed: parsed, exempted: exempted, policies: matching, notEnforcedHere: notEnforcedHere, kind: admission.kind,
            bypassClaim: bypassClaim))
    }

    /// Whose registry credentials the verifications of `subject`'s admission use, as
    /// ``RequestCredentials/identity`` reads them while they run.
    func credentialIdentity(of subject: AdmissionSubject) -> RequestCredentials.Identity {
        credentialProvider == nil ? .client : .source(AdmissionCredentials.identity(of: subject))
    }

    /// Whether the tag written beside the digest of `image` names that digest, for a policy
    /// limited to tags the written tag is outside of (``ParsedImages/Parsed/tagClaimPolicies``).
    private enum TagClaim {
        /// It does: the image is what the tag names, and such a policy does not cover it.
        case named
        /// It does not (or it cannot be known): the digest runs, and the policy covers it.
        case notNamed
        /// Not known without asking the registry.
        case unknown
    }

    private func tagClaim(of image: ImageReference, subject: AdmissionSubject) -> TagClaim {
        // A scan's Pod names the tag beside the digest the node pulled it as.
        if subject.isPinnedByTheNode(image) { return .named }
        guard let digest = image.digest, let tagDigests else { return .notNamed }
        guard let known = tagDigests.cachedDigest(ofTag: image.withoutDigest) else { return .unknown }
        return known == digest ? .named : .notNamed
    }

    /// What a child task of ``verifyAll(_:deadline:)`` reports.
    private enum Finished: Sendable {
        /// A policy of an image, verified.
        case policy(image: Int, policy: Int, PolicyProgress)
        /// An image's bypass claim, resolved: the bypass when the tag names the digest.
        case bypass(image: Int, ExemptionUse?)
        /// The deadline passed: what is still being verified is cancelled.
        case deadline
        /// The deadline timer was cancelled (everything finished first).
        case timerStopped
    }

    /// How many policies of one admission are verified at once; the others start as these finish.
    /// A registry client talks to one registry over a few connections anyway, and a review of a
    /// hundred unverified images started a hundred verifications at once, whose buffers stayed
    /// with the allocator after the burst.
    static let concurrentVerifications = 16

    /// Runs the verifications the images still need: one child task per policy of each image,
    /// up to ``concurrentVerifications`` at once, and one timer for the whole admission that
    /// cancels them at the deadline (each verification then reports that the deadline passed). A
    /// policy with several authorities to verify runs them concurrently and stops when its
    /// outcome is certain.
    private func verifyAll(
        _ unfinished: [(use: Int, work: PendingImage)], deadline: ContinuousClock.Instant
    ) async -> [(Int, ImageEvaluation)] {
        var progress = unfinished.map(\.work.policies)
        var bypassed = [ExemptionUse?](repeating: nil, count: unfinished.count)
        var jobs: [(image: Int, policy: Int)] = []
        for image in unfinished.indices {
            for policy in progress[image].indices where !progress[image][policy].isFinished { jobs.append((image, policy)) }
        }
        let claims = unfinished.indices.compactMap { image -> (image: Int, tag: ImageReference, digest: ImageDigest, use: ExemptionUse)? in
            guard let claim = unfinished[image].work.bypassClaim, let digest = unfinished[image].work.parsed.reference.digest else { return nil }
            return (image, claim.tag, digest, claim.use)
        }
        guard !jobs.isEmpty || !claims.isEmpty else { return Self.evaluations(unfinished, progress, bypassed: bypassed) }
        // Per image, the jobs not yet reported; the claims not yet resolved.
        var unreported = [Int](repeating: 0, count: unfinished.count)
        for job in jobs { unreported[job.image] += 1 }
        var claimPending = [Bool](repeating: false, count: unfinished.count)
        for claim in claims { claimPending[claim.image] = true }
        await withTaskGroup(of: Finished.self) { group in
            var started = 0
            func startNext() {
                // A bypassed image's verifications are moot: not started.
                while started < jobs.count, bypassed[jobs[started].image] != nil {
                    unreported[jobs[started].image] -= 1
                    started += 1
                }
                // A review whose client went away (its task cancelled) starts nothing more: the
                // jobs left would otherwise all start at once as the cancelled ones return.
                guard started < jobs.count, !Task.isCancelled else { return }
                let (image, policy) = jobs[started]
                let reference = unfinished[image].work.parsed.reference
                let open = progress[image][policy]
                started += 1
                group.addTask {
                    var open = open
                    await self.verify(&open, image: reference, deadline: deadline)
                    return .policy(image: image, policy: policy, open)
                }
            }
            /// Nothing left matters: every image is bypassed, or has all its jobs in and no claim
            /// left to resolve unless its policies fail without it (what is still running is then
            /// cancelled with the timer).
            func isSettled() -> Bool {
                unfinished.indices.allSatisfy { image in
                    bypassed[image] != nil || (unreported[image] == 0 && (!claimPending[image] || passesWithoutBypass(image)))
                }
            }
            /// Every policy of `image` is verified and none that enforces fails: a bypass claim
            /// is moot (an image no policy covers needs it under a deny no-match action).
            func passesWithoutBypass(_ image: Int) -> Bool {
                let covering = progress[image].filter { !$0.notCovering }
                if covering.isEmpty {
                    let work = unfinished[image].work
                    return !work.exempted.isEmpty || !work.notEnforcedHere.isEmpty || noMatchAction != .deny
                }
                return !covering.contains { policy in
                    let result = policy.result
                    return !result.passed && result.mode == .enforce
                }
            }
            while started < min(jobs.count, Self.concurrentVerifications) { startNext() }
            // Bypass claims are few (an active bypass written for a tag): each resolves its tag
            // beside the verifications, which it makes moot when the tag names the digest.
            for claim in claims {
                group.addTask { .bypass(image: claim.image, await self.tag(claim.tag, names: claim.digest, deadline: deadline) ? claim.use : nil) }
            }
            group.addTask {
                do {
                    try await DeadlineTimer.sleep(until: deadline)
                    return .deadline
                } catch {
                    return .timerStopped
                }
            }
            for await finished in group {
                switch finished {
                case .policy(let image, let policy, let verified):
                    progress[image][policy] = verified
                    unreported[image] -= 1
                    // After the deadline a job started now reports the deadline at once.
                    if started < jobs.count { startNext() }
                    // Everything is in: stop the timer.
                    if isSettled() { group.cancelAll() }
                case .bypass(let image, let use):
                    bypassed[image] = use
                    claimPending[image] = false
                    if isSettled() { group.cancelAll() }
                case .deadline:
                    group.cancelAll()
                case .timerStopped:
                    break
                }
            }
        }
        return Self.evaluations(unfinished, progress, bypassed: bypassed)
    }

    /// Whether `tag` names `digest`, asked of the registry (a tag that cannot be resolved by
    /// the deadline names nothing).
    private func tag(_ tag: ImageReference, names digest: ImageDigest, deadline: ContinuousClock.Instant) async -> Bool {
        guard let tagDigests, ContinuousClock.now < deadline else { return false }
        return (try? await tagDigests.digest(ofTag: tag, deadline: deadline)) == digest
    }

    private static func evaluations(
        _ unfinished: [(use: Int, work: PendingImage)], _ progress: [[PolicyProgress]], bypassed: [ExemptionUse?]
    ) -> [(Int, ImageEvaluation)] {
        unfinished.indices.map { index in
            let work = unfinished[index].work
            if let use = bypassed[index] { return (unfinished[index].use, .bypassed(work.parsed.reference, use)) }
            let covering = progress[index].filter { !$0.notCovering }
            if covering.isEmpty && work.exempted.isEmpty {
                // Every policy left was limited to tags, and the tag named the digest.
                let text = work.parsed.subject.reference
                return (unfinished[index].use, work.notEnforcedHere.isEmpty
                    ? .uncovered(work.parsed.reference, text: text)
                    : .notEnforcedHere(work.parsed.reference, text: text, policies: work.notEnforcedHere, kind: work.kind))
            }
            return (unfinished[index].use,
                    .evaluated(EvaluatedImage(parsed: work.parsed, results: ordered(covering.map(\.result), exempted: work.exempted))))
        }
    }

    private static func ordered(_ results: [PolicyResult], exempted: [PolicyResult]) -> [PolicyResult] {
        let all = exempted.isEmpty ? results : results + exempted
        return all.count < 2 ? all : all.sorted { $0.policy < $1.policy }
    }

    // MARK: - One policy

    /// How far one policy got for one image: its authorities' results so far and those left.
    fileprivate struct PolicyProgress: Sendable {
        let policy: CompiledPolicy
        var results: [AuthorityResult?]
        var passes = 0
        var decided = 0
        /// Signature authorities still to verify (empty once settled).
        var pending: [CompiledAuthority] = []
        /// `spec.requireDigest` is set and the image is named by tag alone: the policy fails
        /// whatever its authorities say (they are still verified, so the digest they checked can
        /// be pinned by the mutating webhook).
        var missingDigest = false
        /// The tag written beside the image's digest, to resolve first: the policy, limited to
        /// tags that one is outside of, covers the image unless the tag names its digest.
        var tagClaim: ImageReference?
        /// The tag named the digest: the policy does not cover the image after all.
        var notCovering = false
        /// The tag written beside the image's digest, to resolve first, and the exception that
        /// takes in that tag: it exempts the image when the tag names the digest
        /// (``PolicyEvaluator/TagKnowledge/unknown``).
        var exemptionClaim: (tag: ImageReference, use: ExemptionUse)?
        /// The tag named the digest: the exception exempts the image from the policy.
        var exemptedBy: ExemptionUse?

        /// ``PolicyEvaluator/waitsPastTransientErrors``.
        let waitsPastTransientErrors: Bool

        init(policy: CompiledPolicy, waitsPastTransientErrors: Bool = false) {
            self.policy = policy
            self.waitsPastTransientErrors = waitsPastTransientErrors
            results = [AuthorityResult?](repeating: nil, count: policy.authorities.count)
        }

        /// Authorities that failed, or erred in a way a later try would not change.
        private(set) var certainFailures = 0

        /// The outcome is certain: enough passed, or too few are left to pass; or every authority
        /// is decided. With ``waitsPastTransientErrors``, too few are left to pass even if every
        /// transient error passed at a later try: a policy that cannot pass only because of
        /// transient errors waits for its other authorities, since whether one of them fails
        /// outright decides between a failure and an undecided result, and which answers first
        /// must not.
        var isSettled: Bool {
            if passes >= policy.requiredPasses || decided == policy.authorities.count { return true }
            let failures = waitsPastTransientErrors ? certainFailures : decided - passes
            return policy.authorities.count - failures < policy.requiredPasses
        }

        /// Nothing is left to wait for.
        var isFinished: Bool { tagClaim == nil && exemptionClaim == nil && (pending.isEmpty || isSettled) }

        /// Takes `result` (consumed: moved into place, not copied and released).
        mutating func record(_ result: consuming AuthorityResult, at index: Int) {
            decided += 1
            switch result.status {
            case .passed: passes += 1
            case .failed: certainFailures += 1
            case .error: if result.transient != true { certainFailures += 1 }
            }
            results[index] = consume result
        }

        var result: PolicyResult {
            if let exemptedBy {
                return PolicyResult(
                    policy: policy.name, mode: policy.mode, passed: true, required: policy.requiredPasses, authorities: [], exemption: exemptedBy)
            }
            var authorities = results.compactMap { $0 }
            if missingDigest {
                authorities.append(AuthorityResult(
                    authority: "requireDigest", status: .failed,
                    reason: "the image is named by tag alone and this policy requires a digest (name:tag@sha256:…); signet's mutating webhook pins it when enabled"))
            }
            let passed = !missingDigest && passes >= policy.requiredPasses
            return PolicyResult(
                policy: policy.name, mode: policy.mode, passed: passed, required: policy.requiredPasses, authorities: authorities,
                undecided: !passed && !missingDigest && isUndecided)
        }

        /// Some authority could not finish for a reason a later try may not meet (a transient
        /// error), and the outcome hangs on it: with those, and the authorities not asked,
        /// passing, enough would pass. With ``waitsPastTransientErrors`` every authority the
        /// outcome hangs on has answered (``isSettled`` waits for them), so it does not depend on
        /// which answered first; without (admission), it tells what those asked tell.
        private var isUndecided: Bool {
            var transientErrors = 0
            for index in results.indices where results[index]?.status == .error && results[index]?.transient == true { transientErrors += 1 }
            return transientErrors > 0 && policy.authorities.count - certainFailures >= policy.requiredPasses
        }
    }

    /// Decides what needs no waiting: static authorities, every signature authority when there
    /// is no verifier, and verdicts the verifier already holds.
    private func progress(of policy: CompiledPolicy, image: ImageReference, subject: AdmissionSubject) -> PolicyProgress {
        var progress = PolicyProgress(policy: policy, waitsPastTransientErrors: waitsPastTransientErrors)
        progress.missingDigest = policy.requireDigest && image.digest == nil
        // Static authorities, and those whose trust material is missing, are decided here,
        // without the verifier.
        // Positions of the signature authorities. By index: an authority is read in place, not
        // copied with its trust configuration.
        var signature: [Int] = []
        let authorities = policy.authorities
        for position in authorities.indices {
            // Trust material that could not be read, or a trust root whose TUF metadata expired
            // without a refresh (a frozen mirror), fails the authority (fail closed), decided
            // here, before any cached verdict, never cached: it passes again as soon as the
            // material is back or a refresh succeeds.
            if let unresolved = authorities[position].unresolvedReason ?? authorities[position].staleTrustRootReason {
                progress.record(
                    AuthorityResult(authority: authorities[position].name, status: .failed, reason: unresolved),
                    at: authorities[position].index)
                continue
            }
            guard let decision = authorities[position].staticDecision else {
                signature.append(position)
                continue
            }
            progress.record(
                AuthorityResult(authority: authorities[position].name, status: decision.passes ? .passed : .failed, reason: decision.reason),
                at: authorities[position].index)
        }
        guard !signature.isEmpty, !progress.isSettled else { return progress }
        guard verifier != nil else {
            for position in signature {
                progress.record(
                    AuthorityResult(
                        authority: authorities[position].name, status: .error,
                        reason: "no verifier is configured for \(authorities[position].kind.fieldName) authorities"),
                    at: authorities[position].index)
            }
            return progress
        }
        if let cache = cachedVerdicts {
            for position in signature {
                guard !progress.isSettled else { return progress }
                if let verdict = cache.cachedVerdict(
                    image: image, authority: authorities[position], policy: policy, caller: { credentialIdentity(of: subject) }) {
                    progress.record(
                        AuthorityResult(
                            authority: authorities[position].name, status: verdict.passed ? .passed : .failed, reason: verdict.reason,
                            stepSource: verdict.stepSource, digest: verdict.digest, trustRoot: authorities[position].trustRoot, cache: .hit),
                        at: authorities[position].index)
                } else {
                    progress.pending.append(authorities[position])
                }
            }
        } else {
            progress.pending = signature.map { authorities[$0] }
        }
        return progress
    }

    /// Decides what `progress` still waits for: the tag written beside the digest for a policy
    /// limited to tags, an exception written for that tag, and the authorities left to verify.
    private func verify(_ progress: inout PolicyProgress, image: ImageReference, deadline: ContinuousClock.Instant) async {
        // What the tag beside the digest names, asked of the registry at most once.
        var resolved: (tag: ImageReference, names: Bool)?
        func names(_ tag: ImageReference) async -> Bool {
            guard let digest = image.digest else { return false }
            if let resolved, resolved.tag == tag { return resolved.names }
            let names = await self.tag(tag, names: digest, deadline: deadline)
            resolved = (tag, names)
            return names
        }
        if let claim = progress.tagClaim {
            progress.tagClaim = nil
            // A tag that cannot be resolved vouches for nothing: the policy covers the digest.
            if await names(claim) {
                progress.notCovering = true
                return
            }
        }
        guard let claim = progress.exemptionClaim, let digest = image.digest else {
            await verifyPending(&progress, image: image, deadline: deadline)
            return
        }
        progress.exemptionClaim = nil
        // Nor for an exception: unresolved, the exception written for the tag does not apply.
        if let resolved, resolved.tag == claim.tag {
            if resolved.names { progress.exemptedBy = claim.use } else { await verifyPending(&progress, image: image, deadline: deadline) }
            return
        }
        // The tag is resolved beside the verification: moot (and cancelled) when the policy
        // passes without the exception, waited for only when it does not.
        async let named = self.tag(claim.tag, names: digest, deadline: deadline)
        await verifyPending(&progress, image: image, deadline: deadline)
        if progress.passes >= progress.policy.requiredPasses { return }
        if await named { progress.exemptedBy = claim.use }
    }

    /// Verifies the authorities `progress` still waits for, concurrently, until its outcome is certain.
    private func verifyPending(_ progress: inout PolicyProgress, image: ImageReference, deadline: ContinuousClock.Instant) async {
        guard let verifier, !progress.isFinished else { return }
        let pending = progress.pending
        let policy = progress.policy
        progress.pending = []
        if pending.count == 1, let authority = pending.first {
            progress.record(
                await Self.verify(image: image, authority: authority, policy: policy, verifier: verifier, deadline: deadline),
                at: authority.index)
            return
        }
        var settled = progress
        await withTaskGroup(of: AuthorityResult.self) { group in
            for authority in pending {
                group.addTask {
                    await Self.verify(image: image, authority: authority, policy: policy, verifier: verifier, deadline: deadline)
                }
            }
            for await result in group {
                guard let authority = pending.first(where: { $0.name == result.authority }) else { continue }
                settled.record(result, at: authority.index)
                if settled.isSettled {
                    group.cancelAll()
                    break
                }
            }
        }
        progress = settled
    }

    /// Runs the verifier. What it has not answered by the deadline counts as not verified, with
    /// that reason, even if an answer comes later (the admission's timer cancels it at the deadline).
    private static func verify(
        image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy,
        verifier: any AuthorityVerifier, deadline: ContinuousClock.Instant
    ) async -> AuthorityResult {
        let missed = AuthorityResult(
            authority: authority.name, status: .error, reason: "could not verify: the admission deadline passed", cache: .miss, transient: true)
        if ContinuousClock.now >= deadline { return missed }
        if Task.isCancelled {
            return AuthorityResult(
                authority: authority.name, status: .error, reason: "could not verify: the review was abandoned", cache: .miss, transient: true)
        }
        do {
            let verdict = try await verifier.verify(image: image, authority: authority, policy: policy, deadline: deadline)
            if ContinuousClock.now >= deadline { return missed }
            return AuthorityResult(
                authority: authority.name, status: verdict.passed ? .passed : .failed, reason: verdict.reason, stepSource: verdict.stepSource,
                digest: verdict.digest, trustRoot: authority.trustRoot, cache: .miss)
        } catch {
            if ContinuousClock.now >= deadline { return missed }
            // An error's words can quote a registry or a certificate: bounded and made printable as a verdict's reason is.
            let reason = UntrustedText.bounded("could not verify: \(error)", limit: UntrustedText.reasonLimit)
            return AuthorityResult(
                authority: authority.name, status: .error, reason: reason, cache: .miss,
                transient: (error as? any TransientVerificationFailure)?.isTransient == true)
        }
    }
}

/// An evaluation waiting for verifications: what ``PolicyEvaluator/begin(_:subject:)`` decided
/// and the images left.
public struct PendingEvaluation: Sendable {
    fileprivate let images: [ImageUse]
    fileprivate let subject: AdmissionSubject
    /// For each use, the index of the first use of its image (where its evaluation is kept).
    fileprivate let firstUse: [Int]
    fileprivate var evaluations: [ImageEvaluation?]
    fileprivate var unfinished: [(use: Int, work: PolicyEvaluator.PendingImage)] = []

    fileprivate init(images: [ImageUse], subject: AdmissionSubject, firstUse: [Int]) {
        self.images = images
        self.subject = subject
        self.firstUse = firstUse
        evaluations = [ImageEvaluation?](repeating: nil, count: images.count)
    }
}

/// Image references by the text pods name them with, parsed once, with the policies whose
/// `spec.images` globs match them: a cluster runs a bounded set of images, and parsing one,
/// building its normalised name and reference and matching them against every policy's globs
/// cost more than the rest of its evaluation. Holds at most ``capacity`` texts, and starts over
/// when full. Both answers are functions of the text and the (fixed) policies alone, so a
/// remembered answer is always the same one.
final class ParsedImages: Sendable {
    /// A class: a remembered answer is handed out with one reference count, not one per string.
    final class Parsed: Sendable {
        let reference: ImageReference
        let subject: ImageMatchSubject
        /// Indices in the policies given at init whose globs match the image, in their order.
        let matchingPolicies: [Int]
        /// Those of ``matchingPolicies`` that match only because the image names a digest beside
        /// a tag they do not list (`name:tag@sha256:…` runs the digest, whatever the tag): they
        /// cover the image unless the tag names that digest (a ``TagDigestSource`` tells).
        let tagClaimPolicies: [Int]

        init(reference: ImageReference, subject: ImageMatchSubject, matchingPolicies: [Int], tagClaimPolicies: [Int] = []) {
            self.reference = reference
            self.subject = subject
            self.matchingPolicies = matchingPolicies
            self.tagClaimPolicies = tagClaimPolicies
        }
    }

    static let capacity = 4096
    /// Texts longer than this are parsed every time, not remembered: no image reference is
    /// longer (parsing refuses them at once), and Kubernetes does not limit an image's length,
    /// so remembering any text would let one client fill ``capacity`` entries of megabytes each.
    static let maximumRememberedBytes = ImageReference.maximumReferenceLength
    private let policies: [CompiledPolicy]
    /// Keyed by the text's bytes (``ExactText``): a text canonically equivalent to another but
    /// not the same bytes parses differently (a reference is ASCII).
    private let entries = NIOLockedValueBox<[ExactText: Result<Parsed, ImageReferenceError>]>([:])

    init(policies: [CompiledPolicy]) {
        self.policies = policies
    }

    func parse(_ image: String) -> Result<Parsed, ImageReferenceError> {
        let key = ExactText(image)
        if let known = entries.withLockedValue({ $0[key] }) { return known }
        let parsed: Result<Parsed, ImageReferenceError>
        do {
            let reference = try ImageReference(parsing: image)
            let subject = ImageMatchSubject(reference)
            var matching: [Int] = []
            var tagClaims: [Int] = []
            let tagUnknown = subject.withTagUnknown
            for index in policies.indices {
                if policies[index].matches(subject) {
                    matching.append(index)
                } else if let tagUnknown, policies[index].matches(tagUnknown) {
                    matching.append(index)
                    tagClaims.append(index)
                }
            }
            parsed = .success(Parsed(reference: reference, subject: subject, matchingPolicies: matching, tagClaimPolicies: tagClaims))
        } catch {
            parsed = .failure(error)
        }
        guard image.utf8.count <= Self.maximumRememberedBytes else { return parsed }
        entries.withLockedValue { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = parsed
        }
        return parsed
    }

    /// How many texts are remembered.
    var count: Int { entries.withLockedValue { $0.count } }
}

/// An image whose matching policies were evaluated: its reference (and that reference's text)
/// and the policies' results, in name order. A class, so that handing an evaluation to each
/// container that uses the image is one reference count, not one per string it holds.
private final class EvaluatedImage: Sendable {
    let parsed: ParsedImages.Parsed
    let results: [PolicyResult]

    init(parsed: ParsedImages.Parsed, results: [PolicyResult]) {
        self.parsed = parsed
        self.results = results
    }

    var reference: ImageReference { parsed.reference }
    /// The reference's text.
    var text: String { parsed.subject.reference }
}

/// The evaluation of one distinct image, turned into a verdict per container that uses it.
private enum ImageEvaluation: Sendable {
    case invalid(ImageReferenceError)
    /// No policy covers the image; `text` is the reference's text.
    case uncovered(ImageReference, text: String)
    /// `policies` cover the image, but none is enforced for this object (`spec.kinds`,
    /// `spec.namespaceSelector`); the object is allowed, and those policies decide where they apply.
    case notEnforcedHere(ImageReference, text: String, policies: [String], kind: String)
    case evaluated(EvaluatedImage)
    case bypassed(ImageReference, ExemptionUse)

    /// Adds the verdict of the container `use` to `decision`, with its denials, warnings and
    /// audit findings (appended in place: a verdict holds a dozen strings and arrays, and
    /// handing it over by value retained and released each of them).
    func addVerdict(for use: ImageUse, noMatchAction: NoMatchAction, to decision: inout AdmissionDecision) {
        let container = use.containerType.describe(podSpecName: use.container)
        switch self {
        case .invalid(let error):
            decision.verdicts.append(ImageVerdict(
                image: use.image, reference: nil, container: use.container, containerType: use.containerType,
                policies: [], outcome: .deny, reason: error.description))
            decision.denials.append("image \"\(UntrustedText.shown(image: use.image))\" (\(container)) denied: \(error.description)")

        case .uncovered(_, let reference):
            let message: String
            let outcome: ImageOutcome
            switch noMatchAction {
            case .deny:
                message = "image \"\(reference)\" (\(container)) is not covered by any ClusterImagePolicy and the no-match action is deny"
                outcome = .deny
                decision.denials.append(message)
            case .warn:
                message = "image \"\(reference)\" (\(container)) is not covered by any ClusterImagePolicy: allowed because the no-match action is warn; it would be denied under deny"
                outcome = .warn
                decision.warnings.append(message)
            case .allow:
                message = "image \"\(reference)\" (\(container)) is not covered by any ClusterImagePolicy and the no-match action is allow"
                outcome = .allow
            }
            decision.verdicts.append(ImageVerdict(
                image: use.image, reference: reference, container: use.container, containerType: use.containerType,
                policies: [], outcome: outcome, reason: message))
            decision.uncovered += 1

        case .notEnforcedHere(_, let reference, let covering, let kind):
            let names = covering.map { "\"\($0)\"" }.joined(separator: ", ")
            let message = "image \"\(reference)\" (\(container)) is covered by ClusterImagePolicy \(names), not enforced for this \(kind) in its namespace (spec.kinds, spec.namespaceSelector)"
            decision.verdicts.append(ImageVerdict(
                image: use.image, reference: reference, container: use.container, containerType: use.containerType,
                policies: covering, outcome: .allow, reason: message))

        case .bypassed(let reference, let bypass):
            let message = bypass.warning(reference: reference, container: container)
            decision.verdicts.append(ImageVerdict(
                image: use.image, reference: reference.description, container: use.container, containerType: use.containerType,
                policies: [], outcome: .allow, reason: message, exemptions: [bypass]))
            decision.warnings.append(message)

        case .evaluated(let evaluated):
            let reference = evaluated.text
            let results = evaluated.results
            // By index: reading fields of the results in place, not copying each result.
            var policies: [String] = []
            policies.reserveCapacity(results.count)
            var exemptions: [ExemptionUse] = []
            var denials: [String] = []
            var warnings: [String] = []
            var auditFindings: [String] = []
            for index in results.indices {
                policies.append(results[index].policy)
                if let exemption = results[index].exemption { exemptions.append(exemption) }
                guard !results[index].passed else { continue }
                let failure = Self.describeFailure(results[index])
                let policy = results[index].policy
                switch results[index].mode {
                case .enforce:
                    denials.append("image \"\(reference)\" (\(container)) denied by policy \"\(policy)\"\(failure)")
                case .warn:
                    warnings.append("image \"\(reference)\" (\(container)) would be denied by policy \"\(policy)\" (mode Warn)\(failure)")
                case .audit:
                    auditFindings.append("image \"\(reference)\" (\(container)) would be denied by policy \"\(policy)\" (mode Audit)\(failure)")
                }
            }
            // The reference is read where used: a copy of it retained each of its strings.
            let exemptionWarnings = exemptions.isEmpty
                ? [] : exemptions.map { $0.warning(reference: evaluated.reference, container: container) }
            // The digest the passing authorities verified. Two different digests for one image in
            // one decision mean its tag moved between two resolutions: nothing can be pinned, so
            // the image is denied rather than admitted unpinned.
            // (No collection is built: this runs for every image of every review.)
            // Kept as positions and read in place: a digest copied out retained its strings.
            var verified: (result: Int, authority: Int)?
            var other: (result: Int, authority: Int)?
            for index in results.indices {
                for position in results[index].authorities.indices
                where results[index].authorities[position].status == .passed && results[index].authorities[position].digest != nil {
                    guard let first = verified else {
                        verified = (index, position)
                        continue
                    }
                    if results[index].authorities[position].digest != results[first.result].authorities[first.authority].digest {
                        other = (index, position)
                    }
                }
            }
            if let verified, let other, let first = results[verified.result].authorities[verified.authority].digest,
               let second = results[other.result].authorities[other.authority].digest {
                denials.append("image \"\(reference)\" (\(container)) denied: its tag resolved to different digests during verification (\(first), \(second)); the tag was moved, try again")
            }
            let outcome: ImageOutcome
            let reason: String
            if let denial = denials.first {
                outcome = .deny
                reason = denials.count == 1 ? denial : denials.joined(separator: "; ")
            } else if !warnings.isEmpty {
                outcome = .warn
                reason = warnings.joined(separator: "; ")
            } else if !auditFindings.isEmpty {
                outcome = .audit
                reason = auditFindings.joined(separator: "; ")
            } else {
                outcome = .allow
                reason = exemptionWarnings.isEmpty
                    ? Self.allowedReason(reference: reference, container: container, results: results)
                    : exemptionWarnings.joined(separator: "; ")
            }
            // Built in the array's storage: a verdict kept in a variable first was copied in.
            decision.verdicts.append(ImageVerdict(
                image: use.image, reference: reference, container: use.container, containerType: use.containerType,
                policies: policies, outcome: outcome, reason: reason, results: results, exemptions: exemptions,
                verifiedDigest: other == nil ? verified.flatMap { results[$0.result].authorities[$0.authority].digest } : nil,
                position: use.position))
            if !denials.isEmpty { decision.denials += denials }
            if !warnings.isEmpty { decision.warnings += warnings }
            if !exemptionWarnings.isEmpty { decision.warnings += exemptionWarnings }
            if !auditFindings.isEmpty { decision.auditFindings += auditFindings }
        }
    }

    /// `image "r" (container "c") allowed by policy "p"` (or `policies "p", "q"`), the reason of
    /// most verdicts, put together in one buffer of the right size.
    private static func allowedReason(reference: String, container: String, results: [PolicyResult]) -> String {
        var pieces = ["image \"", reference, "\" (", container, results.count == 1 ? ") allowed by policy " : ") allowed by policies "]
        pieces.reserveCapacity(pieces.count + 4 * results.count)
        for index in results.indices {
            if index > 0 { pieces.append(", ") }
            pieces.append("\"")
            pieces.append(results[index].policy)
            pieces.append("\"")
        }
        return String(concatenating: pieces)
    }

    /// `, authority "a": message` for one failing authority, or the count and every failure.
    private static func describeFailure(_ policy: PolicyResult) -> String {
        let failures = policy.authorities.filter { $0.status != .passed }
        let passed = policy.authorities.count - failures.count
        if failures.count == 1, let failure = failures.first {
            return ", authority \"\(failure.authority)\": \(failure.reason)"
        }
        let list = failures.map { "authority \"\($0.authority)\": \($0.reason)" }.joined(separator: "; ")
        return " (\(policy.required) authorities must pass, \(passed) passed): \(list)"
    }
}
