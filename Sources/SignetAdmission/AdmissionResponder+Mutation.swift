import Foundation
import Metrics
import SignetPolicy
import SignetRegistry

/// The mutating webhook (`POST /mutate`): pins every image a Pod names by tag to the digest
/// signet verified, so that what runs is what was verified, whatever the tag points to later
/// (kubelet pulls on restarts, new nodes, `imagePullPolicy: Always`).
///
/// Kubernetes "Dynamic Admission Control" (`admission.k8s.io/v1`, mutating webhooks): the answer
/// carries a JSON Patch (RFC 6902) with `patchType: JSONPatch`. For each container (`containers`,
/// `initContainers`, `ephemeralContainers`, also through the `pods/ephemeralcontainers`
/// subresource) and each image volume (`volumes[].image.reference`) whose image has no digest
/// and whose passing signature authorities verified one, a `test` of the image as admitted and a
/// `replace` with `<image as written>@<digest>`.
///
/// The decision is the one `/validate` makes, from the same evaluator and the same verification
/// cache, so an image is verified once for both. `/mutate` never denies: a Pod that should be
/// refused is refused by `/validate` (the one place that audits and counts decisions), which then
/// sees the pinned digest and verifies exactly that. Images allowed without a verified digest
/// (static authorities, the no-match action) or admitted by an exception or bypass are left as
/// written; exceptions for a Pod's controllers are found through its owner chain, as `/validate`
/// finds them.
/// Objects other than Pods are never mutated, so controllers managed by GitOps tools do not drift,
/// with one exception of signet's own: a `PolicyException` or `EmergencyBypass` gets the
/// annotations that record who created and last changed it (see ``SignetResourceAdmission``).
extension AdmissionResponder {
    /// Decides one `/mutate` request body from `client` as far as it can without waiting (see
    /// ``begin(_:deadline:client:)``).
    public func beginMutation(_ body: [UInt8], deadline: ContinuousClock.Instant, client: AdmissionClient = AdmissionClient()) -> Beginning {
        let request: AdmissionRequest
        switch Self.decodeRequest(body) {
        case .success(let decoded):
            request = decoded
        case .failure(let problem):
            AdmissionMetrics.shared.badRequests.increment()
            logger.warning("bad admission request", metadata: ["error": "\(problem.message)", "path": "/mutate"])
            return .answered(.badRequest(problem.message))
        }
        let allowUnchanged = AdmissionResponse(uid: request.uid, allowed: true)
        if SignetResourceAdmission.isAttributed(request) {
            guard let patch = SignetResourceAdmission.attributionPatch(for: body) else { return .answered(Self.http(allowUnchanged)) }
            return .answered(Self.http(AdmissionResponse(
                uid: request.uid, allowed: true, auditAnnotations: ["attributed": request.userInfo?.username ?? ""], patch: patch)))
        }
        guard Self.isPinnable(request), let object = request.object,
              case .podSpec(_, let all) = WorkloadImages.extract(from: object, kind: "Pod") else {
            return .answered(Self.http(allowUnchanged))
        }
        var images = all
        if request.operation == .update, let oldObject = request.oldObject,
           case .podSpec(_, let previous) = WorkloadImages.extract(from: oldObject, kind: "Pod") {
            images = Self.changedImages(images, since: previous)
        }
        images.removeAll { $0.image.contains("@") || $0.position == nil }
        guard !images.isEmpty else { return .answered(Self.http(allowUnchanged)) }

        let evaluator = evaluator(for: client)
        let subject = subject(of: request)
        // An exception for the Pod's controller admits its images as the template names them, so
        // `/mutate` must see that exception as `/validate` will, and leave those images as written.
        if let ownerChainResolver, let controller = subject.controller, evaluator.needsOwnerChain(subject),
           ownerClaimRefusal(controller, user: request.userInfo?.username, client: client) == nil {
            let (unresolved, unpinned) = (subject, images)
            return .waiting {
                var subject = unresolved
                subject.owners = await Self.owners(
                    of: subject, images: unpinned, controller: controller, resolver: ownerChainResolver, deadline: deadline).owners
                return await Self.pinning(unpinned, subject: subject, evaluator: evaluator, uid: request.uid, deadline: deadline)
            }
        }
        let decided = subject
        switch evaluator.begin(images, subject: decided) {
        case .decided(let decision):
            return .answered(Self.http(Self.pinning(decision, evaluator: evaluator, subject: decided, uid: request.uid)))
        case .verifying(let pending):
            return .waiting {
                let decision = await evaluator.finish(pending, deadline: deadline)
                return Self.http(Self.pinning(decision, evaluator: evaluator, subject: decided, uid: request.uid))
            }
        }
    }

    /// The `/mutate` answer for `images` of `subject`, verifications waited for.
    private static func pinning(
        _ images: [ImageUse], subject: AdmissionSubject, evaluator: PolicyEvaluator, uid: String, deadline: ContinuousClock.Instant
    ) async -> AdmissionHTTPResult {
        switch evaluator.begin(images, subject: subject) {
        case .decided(let decision):
            return http(pinning(decision, evaluator: evaluator, subject: subject, uid: uid))
        case .verifying(let pending):
            return http(pinning(await evaluator.finish(pending, deadline: deadline), evaluator: evaluator, subject: subject, uid: uid))
        }
    }

    /// ``beginMutation(_:deadline:client:)`` to the end.
    public func respondToMutation(
        _ body: [UInt8], deadline: ContinuousClock.Instant, client: AdmissionClient = AdmissionClient()
    ) async -> AdmissionHTTPResult {
        switch beginMutation(body, deadline: deadline, client: client) {
        case .answered(let result): return result
        case .waiting(let rest): return await rest()
        }
    }

    /// A Pod created or updated, directly or through its `ephemeralcontainers` subresource.
    static func isPinnable(_ request: AdmissionRequest) -> Bool {
        guard request.operation == .create || request.operation == .update else { return false }
        guard request.kind.group.isEmpty, request.kind.kind == "Pod" else { return false }
        if let resource = request.resource, resource.resource != "pods" { return false }
        return request.subResource == nil || request.subResource == "" || request.subResource == "ephemeralcontainers"
    }

    /// The allowed response with the patch that pins each verified image, and an audit
    /// annotation `pinned` naming them.
    static func pinning(_ decision: AdmissionDecision, evaluator: PolicyEvaluator, subject: AdmissionSubject, uid: String) -> AdmissionResponse {
        let pins = pins(in: decision, evaluator: evaluator, subject: subject)
        guard !pins.isEmpty else { return AdmissionResponse(uid: uid, allowed: true) }
        Counter(label: "signet_admission_images_pinned_total").increment(by: pins.count)
        let summary = pins.map { "\($0.containerType.describe($0.container)): \($0.value)" }.joined(separator: "; ")
        return AdmissionResponse(uid: uid, allowed: true, auditAnnotations: ["pinned": summary], patch: jsonPatch(pins))
    }

    /// One image to pin: where it is in the pod spec, as admitted, and the pinned value.
    struct Pin: Sendable, Hashable {
        var containerType: ContainerType
        var container: String
        var path: String
        var original: String
        var value: String
    }

    /// The images of `decision` that name no digest and had one verified, each once; denied ones
    /// too, so that a policy with `requireDigest`, which fails an image named by tag alone, passes
    /// the pinned image at `/validate`. An image an exception or bypass admits is pinned only when
    /// the same exemptions take in its pinned form (``pinnable(_:evaluator:subject:)``).
    static func pins(in decision: AdmissionDecision, evaluator: PolicyEvaluator, subject: AdmissionSubject) -> [Pin] {
        var pins: [Pin] = []
        var seen: Set<String> = []
        for verdict in decision.verdicts {
            guard let digest = verdict.verifiedDigest, let position = verdict.position, !verdict.image.contains("@"),
                  pinnable(verdict, evaluator: evaluator, subject: subject) else { continue }
            let path = "/spec/\(verdict.containerType.podSpecField)/\(position)/\(verdict.containerType.imagePointerInEntry)"
            guard seen.insert(path).inserted else { continue }
            pins.append(Pin(
                containerType: verdict.containerType, container: verdict.container, path: path, original: verdict.image,
                value: "\(verdict.image)@\(digest)"))
        }
        return pins
    }

    /// Whether `verdict`'s image may be pinned to its verified digest: always, unless an
    /// exemption admitted it that matches the image as written (an exception's tag-limited
    /// `images` entry, a controller's template naming the tag) and the tag is not known to name
    /// the digest (``PolicyEvaluator/TagKnowledge``): pinned, the image would then no longer be
    /// the one excepted, and `/validate` would deny it. Such an image keeps its tag, as the
    /// exception that admits it does.
    static func pinnable(_ verdict: ImageVerdict, evaluator: PolicyEvaluator, subject: AdmissionSubject) -> Bool {
        guard !verdict.exemptions.isEmpty else { return true }
        guard let digest = verdict.verifiedDigest else { return false }
        return evaluator.exemptsAlike(verdict.image, pinned: "\(verdict.image)@\(digest)", subject: subject)
    }

    /// RFC 6902: a `test` that the image is still what was verified, then the `replace`.
    static func jsonPatch(_ pins: [Pin]) -> Data {
        var writer = JSONWriter(capacity: 256 * pins.count)
        writer.raw("[")
        for (index, pin) in pins.enumerated() {
            if index > 0 { writer.raw(",") }
            writer.raw(#"{"op":"test","path":"#)
            writer.string(pin.path)
            writer.raw(#","value":"#)
            writer.string(pin.original)
            writer.raw(#"},{"op":"replace","path":"#)
            writer.string(pin.path)
            writer.raw(#","value":"#)
            writer.string(pin.value)
            writer.raw("}")
        }
        writer.raw("]")
        return Data(writer.bytes)
    }

    /// With ``requirePinnedDigests``: each verdict `/mutate` pins (a digest verified, named by
    /// tag alone, at a known position, ``pinnable(_:evaluator:subject:)``) that is admitted
    /// (allowed, or allowed with a `Warn` or `Audit` policy failing beside), with the digest
    /// verified by a passing `Enforce` policy, becomes a denial that says so, since this object
    /// reached `/validate` without the pin. What only `Warn` or `Audit` policies vouch for never
    /// denies, nor an image an exemption admits as written (``pins(in:evaluator:subject:)``
    /// leaves it so).
    static func denyUnpinned(_ decision: inout AdmissionDecision, evaluator: PolicyEvaluator, subject: AdmissionSubject) {
        // By index: the common verdict (nothing to deny) is read in place, not copied.
        for index in decision.verdicts.indices {
            guard decision.verdicts[index].outcome != .deny,
                  let digest = decision.verdicts[index].verifiedDigest, decision.verdicts[index].position != nil,
                  !decision.verdicts[index].image.contains("@"),
                  pinnable(decision.verdicts[index], evaluator: evaluator, subject: subject) else { continue }
            let verdict = decision.verdicts[index]
            let enforcing = verdict.results.filter { result in
                result.mode == .enforce && result.passed && result.authorities.contains { $0.status == .passed && $0.digest == digest }
            }
            guard !enforcing.isEmpty else { continue }
            let shown = verdict.reference ?? verdict.image
            let policies = (enforcing.count == 1 ? "policy " : "policies ") + enforcing.map { "\"\($0.policy)\"" }.joined(separator: ", ")
            let reason = "image \"\(shown)\" (\(verdict.containerType.describe(verdict.container))) is named by tag alone: "
                + "\(policies) verified it as \(digest), and signet's mutating webhook pins such an image to its digest "
                + "(--require-pinned-digests), but this request reached validation unpinned (the mutating webhook ran out of "
                + "time, was skipped, or a later webhook changed the image back); send the request again (the verification is "
                + "usually cached by now) or name the image as \(verdict.image)@\(digest)"
            decision.verdicts[index].outcome = .deny
            decision.verdicts[index].reason = reason
            decision.denials.append(reason)
            decision.allowed = false
        }
    }

    static func http(_ response: AdmissionResponse) -> AdmissionHTTPResult {
        AdmissionHTTPResult(status: 200, contentType: "application/json", body: AdmissionReview.responseJSON(response))
    }
}
