import Foundation
import Logging
import Metrics
import SignetPolicy
import SignetRegistry

/// Answers `AdmissionReview` requests of Kubernetes `admission.k8s.io/v1` ("Dynamic Admission
/// Control", validating webhooks) with a signet policy decision.
///
/// - `CREATE` and `UPDATE` are evaluated; on `UPDATE` only images that are new or changed
///   compared with `oldObject` (per container type and container name) need a verdict, so
///   scaling or relabelling a workload is never blocked by images already admitted.
/// - `DELETE` and `CONNECT` are allowed untouched.
/// - A kind without a pod spec is allowed with a warning and a `not-evaluated` audit
///   annotation (see ``WorkloadImages``); a malformed pod spec is denied.
/// - A deny answers `allowed: false` with `status.code` 403, reason `Forbidden` and a message
///   naming each offending image, policy and reason; `Warn` findings become `warnings`.
/// - Audit annotations (plain keys; the API server prefixes the webhook name):
///   `decision` (`allowed` | `denied`), `images` (a compact JSON summary of the verdicts),
///   `dry-run` (`true`, only for dry runs), `not-evaluated`, `audit-findings`, `policy-revision`,
///   `uncovered-images` (how many images no policy covers, and the no-match action applied),
///   `namespace-opt-out` (`label=true` when the namespace's opt-out label let the object in).
/// - Namespace opt-out: an object in a namespace carrying the opt-out label is allowed
///   unevaluated, counted in `signet_namespace_opt_out_admissions_total{kind,dry_run}`, logged
///   and audited; adding, changing or removing that label on a Namespace is allowed only to the
///   configured group (see ``NamespaceOptOutRule``).
/// - A dry run (`request.dryRun: true`) gets the same decision and is marked in audit
///   annotations, logs and metrics.
///
/// - signet's own resources (`signet.dev`) are validated (see ``SignetResourceAdmission``).
/// - Exemptions: `exemptions` names every PolicyException or EmergencyBypass used and its
///   expiry; each bypass use also produces an `emergency-bypass` audit record and counts in
///   `signet_emergency_bypass_uses_total{bypass,dry_run}`, and each use of a real admission is
///   handed to the ``eventSink`` (Kubernetes Events on the bypass and the workload).
/// - With an ``auditSink``, one ``AdmissionAuditRecord`` per decision.
///
/// Metrics (swift-metrics): `signet_admission_reviews_total{decision,kind,dry_run}`,
/// `signet_admission_decision_duration_seconds` (timer), `signet_admission_image_verdicts_total{outcome}`,
/// `signet_admission_bad_requests_total`, `signet_admission_uncovered_images_total{action}`, and
/// every image verdict in ``SignatureVerificationMetrics`` under the responder's ``source``.
public struct AdmissionResponder: Sendable {
    public let evaluator: @Sendable () -> PolicyEvaluator
    let logger: Logger
    /// Whether `logger` writes info lines, read once: reading a logger's level copies its
    /// handler (retaining what it holds, shared by every event loop) at each review.
    private let infoLogging: Bool
    /// Checks signet's own resources at admission; its clock and bypass window should be the
    /// evaluator's.
    public var resourceValidator = SignetResourceValidator()
    /// What the PolicyExceptions of a namespace take, to refuse one beyond its budget at
    /// admission; not checked by default (see ``ExemptionLimits/exceptionsPerNamespace``).
    public var exceptionUsage: (@Sendable (String) -> ExemptionLimits.NamespaceUsage)? = nil
    /// The PolicyExceptions admitted here that ``exceptionUsage`` may not count yet.
    public var exceptionReservations = ExceptionReservations()
    /// Receives one audit record per decision (and one per bypass use); none by default.
    public var auditSink: (any AuditSink)? = nil
    /// Told of every emergency-bypass use of a real admission (Kubernetes Events); none by default.
    public var eventSink: (any ExemptionEventSink)? = nil
    /// The labels of a namespace (for namespace selectors and the opt-out label), when known.
    public var namespaceLabels: (@Sendable (String) -> [String: String]?)? = nil
    /// Looks up the controllers above an admitted object, so that an exception for a controller
    /// exempts what it creates; without one, an exception applies only to the objects it names.
    public var ownerChainResolver: (any OwnerChainResolver)? = nil
    /// Users besides kube-controller-manager's controller loops whose objects' owner references
    /// are followed (``ControllerReference/mayBeClaimed(by:alsoTrusted:)``): where a
    /// distribution runs the built-in controllers under other names.
    public var ownerReferenceWriters: Set<String> = []
    /// Who may add, change or remove the opt-out label on a Namespace (nobody by default).
    public var namespaceOptOut = NamespaceOptOutRule()
    /// Whether `/validate` denies a Pod image named by tag alone whose signature authorities
    /// verified a digest, which ``beginMutation(_:deadline:client:)`` pins: when the mutating webhook is
    /// installed, such an image reached validation without it (the webhook timed out, or a later
    /// one changed the image back), and would run whatever its tag names later. Admissions only.
    public var requirePinnedDigests = false
    /// Who asks: `admission` (reviews from the API server) or `scan` (running Pods decided
    /// again). A scan's decisions count only under `source="scan"` in
    /// ``SignatureVerificationMetrics``: never in the admission metrics, the `admission review`
    /// log lines or the exemption-use and violation counters, which are about admissions.
    public var source: SignatureVerificationMetrics.Source = .admission
    /// For a scan: the images of the Pod being decided whose digest the node reported running the
    /// spec's tag as (see ``AdmissionSubject/nodePinnedImages``); set per Pod on a copy of the
    /// responder.
    public var nodePinnedImages: Set<String> = []

    /// A responder that always uses `evaluator`.
    public init(evaluator: PolicyEvaluator, logger: Logger = Logger(label: "signet.admission")) {
        self.evaluator = { evaluator }
        self.logger = logger
        self.infoLogging = logger.logLevel <= .info
    }

    /// A responder that asks `evaluator` for the evaluator in force at each request (for
    /// example one built on a ``PolicyDirectoryWatcher``'s current set).
    public init(logger: Logger = Logger(label: "signet.admission"), evaluator: @escaping @Sendable () -> PolicyEvaluator) {
        self.evaluator = evaluator
        self.logger = logger
        self.infoLogging = logger.logLevel <= .info
    }

    /// Decides one `AdmissionReview` request body. Never throws: every outcome is an HTTP answer.
    public func respond(
        to body: [UInt8], deadline: ContinuousClock.Instant, client: AdmissionClient = AdmissionClient()
    ) async -> AdmissionHTTPResult {
        switch begin(body, deadline: deadline, client: client) {
        case .answered(let result): return result
        case .waiting(let rest): return await rest()
        }
    }

    /// What ``begin(_:deadline:)`` gets to without waiting.
    public enum Beginning: Sendable {
        /// The answer: nothing had to be verified (a warm decision, a bad request, a kind
        /// without pod spec, ...).
        case answered(AdmissionHTTPResult)
        /// Signatures must be verified first; the closure verifies them and answers.
        case waiting(@Sendable () async -> AdmissionHTTPResult)
    }

    /// Decides one request body as far as it can without waiting: a decision from cached
    /// verdicts is answered here, on the caller's thread, with no task and no suspension (the
    /// HTTP server answers it inside the read that brought the request).
    /// `client` is recorded in the audit record.
    public func begin(_ body: [UInt8], deadline: ContinuousClock.Instant, client: AdmissionClient = AdmissionClient()) -> Beginning {
        let start = ContinuousClock.now
        let request: AdmissionRequest
        switch Self.decodeRequest(body) {
        case .success(let decoded):
            request = decoded
        case .failure(let problem):
            AdmissionMetrics.shared.badRequests.increment()
            logger.warning("bad admission request", metadata: ["error": "\(problem.message)"])
            return .answered(.badRequest(problem.message))
        }
        let decision = decide(request, body: body, client: client)
        if case .decided(let response, let outcome) = decision {
            return .answered(answer(request, response: response, outcome: outcome, since: start, client: client))
        }
        return .waiting { await self.complete(decision, request: request, deadline: deadline, since: start, client: client) }
    }

    /// Waits for what `decision` still needs (owners, verifications) and answers.
    private func complete(
        _ decision: Decision, request: AdmissionRequest, deadline: ContinuousClock.Instant, since start: ContinuousClock.Instant,
        client: AdmissionClient
    ) async -> AdmissionHTTPResult {
        switch decision {
        case .decided(let response, let outcome):
            return answer(request, response: response, outcome: outcome, since: start, client: client)
        case .evaluating(let evaluation, let evaluator, let pending):
            let decision = await evaluator.finish(pending, deadline: deadline)
            if Task.isCancelled { return abandoned(request) }
            let (response, outcome) = Self.conclude(evaluation, with: decision)
            return answer(request, response: response, outcome: outcome, since: start, client: client)
        case .resolvingOwners(var prepared, let resolver, let controller):
            let resolution = await Self.owners(
                of: prepared.subject, images: prepared.images, controller: controller, resolver: resolver, deadline: deadline)
            if Task.isCancelled { return abandoned(request) }
            prepared.subject.owners = resolution.owners
            if let problem = resolution.problem {
                prepared.notes.append("exceptions for the controllers of this \(request.kind.kind) were not applied: \(problem)")
                logger.warning("owner chain not followed: exceptions for its controllers do not apply", metadata: [
                    "uid": "\(request.uid)", "namespace": "\(request.namespace ?? "")", "kind": "\(request.kind.kind)",
                    "controller": "\(controller.kind)/\(controller.name)", "problem": "\(problem)",
                ])
            }
            return await complete(evaluate(prepared), request: request, deadline: deadline, since: start, client: client)
        }
    }

    /// The answer to a review whose client went away before it was decided (its task
    /// cancelled when the connection closed): nobody receives it, so no metric, audit record,
    /// history entry, alert or Event claims a decision; one line says it was abandoned.
    private func abandoned(_ request: AdmissionRequest) -> AdmissionHTTPResult {
        logger.info("admission review abandoned: its connection closed before it was decided", metadata: [
            "uid": "\(request.uid)", "namespace": "\(request.namespace ?? "")", "kind": "\(request.kind.kind)", "name": "\(request.name ?? "")",
        ])
        return AdmissionHTTPResult(status: 503, contentType: "text/plain", body: Array("the review was abandoned\n".utf8))
    }

    /// Logs, counts and audits a decided request; its HTTP answer.
    private func answer(
        _ request: AdmissionRequest, response: AdmissionResponse, outcome: DecisionOutcome?, since start: ContinuousClock.Instant,
        client: AdmissionClient
    ) -> AdmissionHTTPResult {
        let dryRun = request.dryRun ?? false
        let kind = request.kind.kind
        guard source == .admission else {
            recordAudit(request, response: response, outcome: outcome, latency: ContinuousClock.now - start, client: client)
            return AdmissionHTTPResult(status: 200, contentType: "application/json", body: AdmissionReview.responseJSON(response))
        }
        if infoLogging {
            // Built only when the line is written: at a higher level the metadata would be dropped.
            var metadata: Logger.Metadata = [
                "uid": "\(request.uid)", "namespace": "\(request.namespace ?? "")", "kind": "\(kind)",
                "name": "\(request.name ?? "")", "operation": "\(request.operation.rawValue)", "dry_run": "\(dryRun)",
            ]
            if let subResource = request.subResource { metadata["sub_resource"] = "\(subResource)" }
            metadata["decision"] = "\(response.allowed ? "allowed" : "denied")"
            if let message = response.status?.message { metadata["reason"] = "\(message)" }
            if let warnings = response.warnings { metadata["warnings"] = "\(warnings.joined(separator: "; "))" }
            logger.info("admission review", metadata: metadata)
        }

        let metrics = AdmissionMetrics.shared
        metrics.countReview(allowed: response.allowed, kind: kind, dryRun: dryRun)
        let elapsed = (ContinuousClock.now - start).components
        metrics.decisionDuration.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
        recordAudit(request, response: response, outcome: outcome, latency: ContinuousClock.now - start, client: client)

        return AdmissionHTTPResult(status: 200, contentType: "application/json", body: AdmissionReview.responseJSON(response))
    }

    // MARK: - Decision

    /// How far ``decide(_:body:client:)`` got without waiting.
    private enum Decision {
        case decided(AdmissionResponse, DecisionOutcome?)
        /// Images wait for verifications: `evaluator` finishes `pending`.
        case evaluating(Evaluation, PolicyEvaluator, PendingEvaluation)
        /// An exception could apply through the object's owners: they are looked up first.
        case resolvingOwners(Prepared, any OwnerChainResolver, ControllerReference)
    }

    /// A request read and its images found, ready for the evaluator.
    private struct Prepared: Sendable {
        let uid: String
        var subject: AdmissionSubject
        let images: [ImageUse]
        let annotations: [String: String]
        let evaluator: PolicyEvaluator
        var notes: [String] = []
        var requirePinned = false
    }

    /// What the answer to an evaluated request needs besides the decision.
    private struct Evaluation: Sendable {
        let uid: String
        let subject: AdmissionSubject
        /// The revision of the policies that decided.
        let revision: String
        let annotations: [String: String]
        /// Said besides the decision's own warnings (why an owner chain was not followed).
        var notes: [String] = []
        /// What the evaluator did with images no policy covers.
        let noMatchAction: NoMatchAction
        /// The policies that decided (the verification metrics' formats come from them).
        let policies: PolicySet
        /// The evaluator that decided (whether an exempted image would have been pinned).
        let evaluator: PolicyEvaluator
        let source: SignatureVerificationMetrics.Source
        /// Verified images left named by tag are denied (``requirePinnedDigests``, for a request
        /// the mutating webhook pins).
        var requirePinned = false
    }

    private func decide(_ request: AdmissionRequest, body: [UInt8], client: AdmissionClient) -> Decision {
        if let response = SignetResourceAdmission(
            validator: resourceValidator, exceptionUsage: exceptionUsage, reservations: exceptionReservations, client: client
        ).respond(to: request, body: body) {
            return .decided(response, nil)
        }
        if let response = NamespaceOptOutAdmission(rule: namespaceOptOut, logger: logger).respond(to: request, body: body) {
            return .decided(response, nil)
        }
        let dryRun = request.dryRun ?? false
        var annotations: [String: String] = [:]
        if dryRun { annotations["dry-run"] = "true" }

        switch request.operation {
        case .delete, .connect:
            return .decided(AdmissionResponse(uid: request.uid, allowed: true), nil)
        case .create, .update:
            break
        }

        let kind = request.kind.kind
        let extraction: WorkloadImages.Extraction
        if let object = request.object {
            extraction = WorkloadImages.extract(from: object, kind: kind)
        } else {
            extraction = .malformed("request.object is missing")
        }

        var images: [ImageUse]
        switch extraction {
        case .noPodSpec:
            annotations["decision"] = "allowed"
            annotations["not-evaluated"] = "kind \(request.kind) has no pod spec"
            return .decided(AdmissionResponse(
                uid: request.uid, allowed: true, warnings: ["signet does not evaluate kind \(kind)"], auditAnnotations: annotations), nil)
        case .malformed(let reason):
            // An UPDATE that leaves such a spec as it was stored (a finalizer let go, a label, the
            // garbage collector) runs nothing new: denying it would only wedge the object.
            if request.operation == .update, Self.podSpecUnchanged(body: body, kind: kind) {
                annotations["decision"] = "allowed"
                annotations["not-evaluated"] = "the pod spec is unchanged by this update (\(reason))"
                return .decided(AdmissionResponse(uid: request.uid, allowed: true, auditAnnotations: annotations), nil)
            }
            annotations["decision"] = "denied"
            return .decided(AdmissionResponse(
                uid: request.uid, allowed: false,
                status: AdmissionStatus(code: 403, reason: "Forbidden", message: "signet denied \(kind): \(reason)"),
                auditAnnotations: annotations), nil)
        case .podSpec(_, let found):
            images = found
        }

        // An UPDATE that gives a pod controller a controller it did not have (adoption, or
        // someone writing an owner reference into a ReplicaSet) is decided whole: the images
        // it makes Pods of are unchanged, but what exempts them may not be. A Pod makes nothing,
        // and runs what it runs whatever the update: its adoption is not judged again.
        // So is one that changes the template of a pod controller an owner's exceptions reach,
        // sent by someone those exceptions do not believe: the Pods made from it would carry
        // another command or service account under the owner's exception for its images.
        let reparented = request.operation == .update && kind != "Pod"
            && (Self.gainsController(request) || editsTemplateUnbelieved(request, body: body, client: client))
        if request.operation == .update, !reparented, let oldObject = request.oldObject,
           case .podSpec(_, let previous) = WorkloadImages.extract(from: oldObject, kind: kind) {
            images = Self.changedImages(images, since: previous)
        }

        var subject = subject(of: request)
        // A scan's Pod names the tags it pinned to the digests the node runs.
        if source == .scan { subject.nodePinnedImages = nodePinnedImages }
        var evaluator = evaluator(for: client)
        // A scan reports a deny that hangs on transient errors apart from a certain one: it
        // waits for every authority that decides between them, whichever answers first.
        if source == .scan { evaluator.waitsPastTransientErrors = true }
        var prepared = Prepared(uid: request.uid, subject: subject, images: images, annotations: annotations, evaluator: evaluator)
        prepared.requirePinned = requirePinnedDigests && source == .admission && Self.isPinnable(request)
        if let ownerChainResolver, let controller = prepared.subject.controller, prepared.evaluator.needsOwnerChain(prepared.subject) {
            // A scan decides a Pod that runs: who made it is not in the review, and admission
            // already judged that.
            guard source != .scan, let refusal = ownerClaimRefusal(controller, user: request.userInfo?.username, client: client) else {
                return .resolvingOwners(prepared, ownerChainResolver, controller)
            }
            prepared.notes.append("exceptions for the controllers of this \(kind) were not applied: \(refusal)")
        }
        return evaluate(prepared)
    }

    /// The owner kind whose exceptions reach a pod controller of this kind when it has none yet
    /// (it may be adopted: a ReplicaSet by a Deployment, a Job by a CronJob).
    static let adoptingKind = ["ReplicaSet": "Deployment", "Job": "CronJob"]

    /// Whether an UPDATE changes the pod template (`spec.template`, or a CronJob's
    /// `spec.jobTemplate`, compared as canonical JSON) of a pod controller an owner's exceptions
    /// reach (its controller, before or after, one the owner chain follows; or, without one, the
    /// kind that adopts it, ``adoptingKind``), sent by a user who may not claim that owner
    /// (``ownerClaimRefusal(_:user:client:)``). Without the adopting kind, an owned ReplicaSet could be
    /// orphaned, edited, and adopted back.
    func editsTemplateUnbelieved(_ request: AdmissionRequest, body: [UInt8], client: AdmissionClient) -> Bool {
        let owner: ControllerReference
        if let controller = request.object?.references.controller ?? request.oldObject?.references.controller {
            guard controller.isFollowed else { return false }
            owner = controller
        } else if let kind = Self.adoptingKind[request.kind.kind] {
            owner = ControllerReference(apiVersion: ControllerReference.followedKinds[kind].map { "\($0)/v1" } ?? "v1", kind: kind, name: "", uid: "")
        } else {
            return false
        }
        return ownerClaimRefusal(owner, user: request.userInfo?.username, client: client) != nil && !Self.podSpecUnchanged(body: body, kind: request.kind.kind)
    }

    /// Whether the review's object and old object carry the same pod spec (`spec` of a Pod, a
    /// pod controller's `spec.template`, a CronJob's `spec.jobTemplate`), compared as canonical
    /// JSON; false when either is missing, and for any other kind (whose images
    /// ``WorkloadImages`` may look for elsewhere).
    static func podSpecUnchanged(body: [UInt8], kind: String) -> Bool {
        guard kind == "Pod" || ControllerReference.followedKinds[kind] != nil,
              case .success(let review) = AdmissionReviewObject.request(in: body) else { return false }
        func podSpec(_ object: Any?) -> Data? {
            guard let spec = (object as? [String: Any])?["spec"] else { return nil }
            let bearer: Any?
            if kind == "Pod" {
                bearer = spec
            } else {
                let fields = spec as? [String: Any]
                bearer = fields?["template"] ?? fields?["jobTemplate"]
            }
            guard let bearer, JSONSerialization.isValidJSONObject(bearer) else { return nil }
            return try? JSONSerialization.data(withJSONObject: bearer, options: [.sortedKeys])
        }
        guard let new = podSpec(review["object"]), let old = podSpec(review["oldObject"]) else { return false }
        return new == old
    }

    /// Whether the object has a controller reference the owner chain follows that its old object
    /// did not (another UID, kind or name, or none before).
    static func gainsController(_ request: AdmissionRequest) -> Bool {
        guard let controller = request.object?.references.controller, controller.isFollowed else { return false }
        return request.oldObject?.references.controller != controller
    }

    /// Why the owner reference `controller` of an object `user` makes is not followed, or nil
    /// when it is (``ControllerReference/mayBeClaimed(by:alsoTrusted:)``). A review not known to
    /// come from the API server (``AdmissionClient/fromAPIServer``) names whatever user it likes,
    /// and creates nothing: its claims are not followed, so it makes signet read nothing
    /// through the API server.
    func ownerClaimRefusal(_ controller: ControllerReference, user: String?, client: AdmissionClient) -> String? {
        guard client.fromAPIServer else {
            return "the review is not known to come from the API server (it came from \(client.address ?? "an unknown address")), "
                + "so signet reads none of the owners it claims"
        }
        guard !controller.mayBeClaimed(by: user, alsoTrusted: ownerReferenceWriters) else { return nil }
        let maker = ControllerReference.controllerUsers[controller.kind].map { "\($0) or \(ControllerReference.controllerManagerUser)" }
            ?? ControllerReference.controllerManagerUser
        // The names are the review's: printable and bounded, as a verdict's reason is.
        return UntrustedText.bounded(
            "it claims \(controller.kind) \"\(controller.name)\" as its controller, but was sent by \(user ?? "an unnamed user"), "
                + "not by the controller that makes such objects (\(maker)); anyone who may read the \(controller.kind) can copy its owner reference",
            limit: 1_024)
    }

    /// The owner chain above `subject`, read for exceptions that name its controllers; the
    /// same lookup for `/validate` and `/mutate`, so both see the same exceptions.
    static func owners(
        of subject: AdmissionSubject, images: [ImageUse], controller: ControllerReference, resolver: any OwnerChainResolver,
        deadline: ContinuousClock.Instant
    ) async -> OwnerChainResolution {
        let references = images.compactMap { try? ImageReference(parsing: $0.image) }
        return await resolver.resolve(controller, namespace: subject.namespace ?? "", images: references, deadline: deadline)
    }

    /// Evaluates the images of a prepared request, as far as it can without waiting.
    private func evaluate(_ prepared: Prepared) -> Decision {
        let evaluator = prepared.evaluator
        let subject = prepared.subject
        let evaluation = Evaluation(
            uid: prepared.uid, subject: subject, revision: evaluator.policies.revision, annotations: prepared.annotations,
            notes: prepared.notes, noMatchAction: evaluator.noMatchAction, policies: evaluator.policies, evaluator: evaluator, source: source,
            requirePinned: prepared.requirePinned)
        switch evaluator.begin(prepared.images, subject: subject) {
        case .decided(let decision):
            let (response, outcome) = Self.conclude(evaluation, with: decision)
            return .decided(response, outcome)
        case .verifying(let pending):
            return .evaluating(evaluation, evaluator, pending)
        }
    }

    /// What policies need to know of the object under admission.
    /// The kinds whose name alone sets them apart where a decision is read later (alerts,
    /// audit records, history), with the group each belongs to: signet's own resources and
    /// Namespaces, whose refused changes are attempts to switch signet off (their deny alerts
    /// are never limited).
    static let guardedKinds: [String: String] = [
        "ClusterImagePolicy": ClusterImagePolicy.group, "PolicyException": ClusterImagePolicy.group,
        "EmergencyBypass": ClusterImagePolicy.group, "Namespace": "",
    ]

    /// `kind`'s name as the subject carries it: the kind alone, but `Kind.group` (`.core` for
    /// the core group) for a guarded kind's name under another group. No API server sends
    /// that; a review made up to look like one (an `apps` "EmergencyBypass" carrying a pod
    /// spec, which is decided as a workload) would otherwise pass for it where the name alone
    /// is read, and its deny alerts go unlimited.
    static func subjectKind(_ kind: GroupVersionKind) -> String {
        guard let group = guardedKinds[kind.kind], group != kind.group else { return kind.kind }
        return "\(kind.kind).\(kind.group.isEmpty ? "core" : kind.group)"
    }

    /// The evaluator for a review from `client`. One not known to come from the API server
    /// (``AdmissionClient/fromAPIServer``) is verified with signet's own registry credentials
    /// only: the pull secrets it names, and its service account's, are a namespace's, whose
    /// share of secret reads it would spend and whose private registries it would reach. What
    /// is verified so is cached apart from what a namespace's credentials found.
    func evaluator(for client: AdmissionClient) -> PolicyEvaluator {
        var evaluator = evaluator()
        if !client.fromAPIServer { evaluator.credentialProvider = nil }
        return evaluator
    }

    func subject(of request: AdmissionRequest) -> AdmissionSubject {
        let references = request.object?.references ?? PodObjectReferences()
        var pullSecrets = references.imagePullSecrets
        if pullSecrets.count > 1 {
            let bounded = PullSecretNames.bounded(pullSecrets)
            pullSecrets = bounded.names
            if bounded.leftOut > 0 {
                logger.warning("an object names more image pull secrets than signet reads; the rest are not used", metadata: [
                    "uid": "\(request.uid)", "namespace": "\(request.namespace ?? "")", "name": "\(request.name ?? "")",
                    "read": "\(pullSecrets.count)", "not_read": "\(bounded.leftOut)",
                ])
            }
        }
        var labels: [String: String]?
        if let namespace = request.namespace, let namespaceLabels { labels = namespaceLabels(namespace) }
        // The name: the request's, else the object's (a validating call on CREATE of an object
        // named by generateName), else only the generateName prefix (the mutating call, before
        // the API server names the object), which name globs do not match.
        let named = request.name.flatMap { $0.isEmpty ? nil : $0 } ?? references.name
        return AdmissionSubject(
            namespace: request.namespace, name: named ?? references.generateName, nameIsGeneratePrefix: named == nil && references.generateName != nil,
            uid: references.uid, kind: Self.subjectKind(request.kind), operation: request.operation.rawValue,
            dryRun: request.dryRun ?? false, userName: request.userInfo?.username, namespaceLabels: labels,
            imagePullSecrets: pullSecrets, serviceAccountName: references.serviceAccountName,
            controller: references.controller)
    }

    /// The response and audit outcome of an evaluated request.
    private static func conclude(_ evaluation: Evaluation, with decision: AdmissionDecision) -> (AdmissionResponse, DecisionOutcome) {
        // Signatures are counted as verified before an unpinned image is denied: they were.
        SignatureVerificationMetrics.shared.count(decision, policies: evaluation.policies, source: evaluation.source)
        var decision = decision
        if evaluation.requirePinned { denyUnpinned(&decision, evaluator: evaluation.evaluator, subject: evaluation.subject) }
        if evaluation.source == .admission {
            // By index: reading a field, not copying each verdict.
            for index in decision.verdicts.indices {
                AdmissionMetrics.shared.verdicts(decision.verdicts[index].outcome).increment()
            }
        }
        var annotations = evaluation.annotations
        // Room for what follows (decision, images, policy revision, and a few more), so the
        // dictionary is not grown and rehashed member by member.
        annotations.reserveCapacity(annotations.count + 6)
        let revision = evaluation.revision
        annotations["decision"] = decision.allowed ? "allowed" : "denied"
        annotations["images"] = Self.summarise(decision.verdicts)
        if decision.verdicts.count > Self.maximumListedItems {
            annotations["images-not-listed"] = String(decision.verdicts.count - Self.maximumListedItems)
        }
        annotations["policy-revision"] = revision
        if !decision.auditFindings.isEmpty {
            annotations["audit-findings"] = decision.auditFindings.joined(separator: "; ")
        }
        Self.annotateExemptions(decision, into: &annotations)
        if decision.uncovered > 0 {
            if evaluation.source == .admission {
                AdmissionMetrics.shared.uncovered(evaluation.noMatchAction).increment(by: Int64(decision.uncovered))
            }
            annotations["uncovered-images"] = "\(decision.uncovered) (no-match action \(evaluation.noMatchAction.rawValue))"
        }
        if let optOut = decision.namespaceOptOut { annotations["namespace-opt-out"] = optOut }
        let outcome = DecisionOutcome(subject: evaluation.subject, decision: decision, revision: revision)
        return (AdmissionResponse(
            uid: evaluation.uid,
            allowed: decision.allowed,
            status: decision.allowed ? nil : AdmissionStatus(
                code: 403, reason: "Forbidden", message: Self.listed(decision.denials, more: "denials").joined(separator: "; ")),
            // Notes (why exemptions did not apply) first: they explain the rest, and are kept when warnings are cut.
            warnings: decision.warnings.isEmpty && evaluation.notes.isEmpty ? nil : Self.listed(evaluation.notes + decision.warnings, more: "warnings"),
            auditAnnotations: annotations), outcome)
    }

    /// The uses whose image is new or different from the same container (type and name) before:
    /// different bytes (``ExactText``), as the kubelet reads them, not merely text Swift finds
    /// canonically equivalent (an old image with U+212A KELVIN SIGN, which no runtime pulls, is
    /// not the image with the letter K an update puts in its place).
    static func changedImages(_ images: [ImageUse], since previous: [ImageUse]) -> [ImageUse] {
        struct Slot: Hashable {
            var type: ContainerType
            var name: ExactText
        }
        var before: [Slot: String] = [:]
        for use in previous {
            before[Slot(type: use.containerType, name: ExactText(use.container))] = use.image
        }
        return images.filter { use in
            guard let old = before[Slot(type: use.containerType, name: ExactText(use.container))] else { return true }
            return !old.isSameBytes(as: use.image)
        }
    }

    /// The most denials, warnings and images a response lists: Kubernetes limits neither the
    /// containers of a Pod nor the length of what they name, only the request's size, and a
    /// response of a Pod of ten thousand denied containers would otherwise carry megabytes of
    /// message for `kubectl` to print and the API server to log. Every image stays in the audit
    /// record.
    public static let maximumListedItems = 20

    /// `items`, or the first ``maximumListedItems`` less one and a last one counting the rest.
    static func listed(_ items: [String], more what: String) -> [String] {
        guard items.count > maximumListedItems else { return items }
        let keep = maximumListedItems - 1
        return Array(items.prefix(keep)) + ["and \(items.count - keep) more \(what) (every image's verdict is in signet's audit record)"]
    }

    /// A compact JSON array of the first ``maximumListedItems`` verdicts (`images-not-listed`
    /// counts the rest): `[{"container":"web","image":"…","outcome":"deny","policies":["p"]}]`;
    /// an image volume is named by `imageVolume` instead of `container` (a volume may share a
    /// container's name).
    static func summarise(_ verdicts: [ImageVerdict]) -> String {
        var writer = JSONWriter()
        writer.raw("[")
        for index in verdicts.indices.prefix(maximumListedItems) {
            writer.raw(index == 0 ? "{" : ",{")
            if verdicts[index].containerType == .imageVolume {
                writer.key("imageVolume", first: true)
            } else {
                writer.key("container", first: true)
            }
            writer.string(verdicts[index].container)
            writer.key("image")
            writer.string(verdicts[index].reference ?? verdicts[index].image)
            writer.key("outcome")
            writer.string(verdicts[index].outcome.rawValue)
            writer.key("policies")
            writer.stringArray(verdicts[index].policies)
            writer.raw("}")
        }
        writer.raw("]")
        // Straight from the writer's buffer: no intermediate array.
        return writer.withBytes { String(decoding: $0, as: UTF8.self) }
    }

    // MARK: - Before the policies are loaded

    /// The answer to a review that arrives before the policies are (a replica still reading them
    /// from the cluster, or unable to): `/validate` denies, naming why, whatever the no-match
    /// action, since an empty policy set would cover nothing; `/mutate` allows without a patch
    /// (its `/validate` decides). Deciding with no policies at all, a permissive no-match
    /// action admitted every image. Only the replica's own readiness (`/readyz`) kept reviews
    /// away, and a review that reaches the port directly does not ask it.
    public static func beforePoliciesAreLoaded(_ body: [UInt8], mutating: Bool, reason: String) -> AdmissionHTTPResult {
        let request: AdmissionRequest
        switch decodeRequest(body) {
        case .success(let decoded): request = decoded
        case .failure(let problem): return .badRequest(problem.message)
        }
        guard !mutating else { return http(AdmissionResponse(uid: request.uid, allowed: true)) }
        AdmissionMetrics.shared.countReview(allowed: false, kind: request.kind.kind, dryRun: request.dryRun ?? false)
        let object = [request.namespace, request.name].compactMap { $0 }.joined(separator: "/")
        let message = "signet denied \(request.kind.kind)\(object.isEmpty ? "" : " \"\(object)\""): \(reason); "
            + "nothing is admitted until it has them, so send the request again in a few seconds"
        let response = AdmissionResponse(
            uid: request.uid, allowed: false, status: AdmissionStatus(code: 503, reason: "ServiceUnavailable", message: message),
            auditAnnotations: ["decision": "denied", "not-evaluated": reason])
        return http(response)
    }

    // MARK: - Request validation

    struct BadRequest: Error {
        var message: String
    }

    /// Decodes and checks the envelope: JSON, an object, `admission.k8s.io/v1` `AdmissionReview`,
    /// with a `request` that has a `uid`.
    static func decodeRequest(_ body: [UInt8]) -> Result<AdmissionRequest, BadRequest> {
        var review: AdmissionReview
        do {
            review = try decodeReview(body)
        } catch let error as DecodingError {
            return .failure(BadRequest(message: describe(error)))
        } catch {
            return .failure(BadRequest(message: "request body is not JSON: \(error.localizedDescription)"))
        }
        guard review.apiVersion == AdmissionReview.apiVersion, review.kind == AdmissionReview.kind else {
            return .failure(BadRequest(message:
                "expected an \(AdmissionReview.apiVersion) AdmissionReview, got apiVersion \(review.apiVersion.map { "\"\($0)\"" } ?? "(none)"), kind \(review.kind.map { "\"\($0)\"" } ?? "(none)")"))
        }
        // Moved out, not copied: a request holds a few dozen strings.
        guard let request = review.request.take() else {
            return .failure(BadRequest(message: "the AdmissionReview has no request"))
        }
        guard !request.uid.isEmpty else {
            return .failure(BadRequest(message: "request.uid is empty"))
        }
        return .success(request)
    }

    /// The review in `body`: read directly by ``AdmissionReviewReader``, or, for anything it
    /// leaves to the general decoder, decoded with ``LazyJSONDecoder`` (same result, precise errors).
    static func decodeReview(_ body: [UInt8]) throws -> AdmissionReview {
        let document = try LazyJSONDecoder.document(body)
        if let review = AdmissionReviewReader.read(document) { return review }
        return try LazyJSONDecoder.decode(AdmissionReview.self, from: document)
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue { text += "[\(index)]" } else { text += text.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
            return text
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "request body is not JSON"
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            return "request body is not a JSON object (expected an AdmissionReview)"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing"
        case .valueNotFound(_, let context):
            return "\(path(context.codingPath)) is null"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)) has the wrong type (expected \(type))"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "malformed AdmissionReview"
        }
    }
}
