import Foundation
import SignetPolicy

/// Admission of signet's own resources (`signet.dev/v1alpha1` `ClusterImagePolicy`,
/// `PolicyException`, `EmergencyBypass`): the checks of ``SignetResourceValidator`` run on
/// `request.object` of a `CREATE` or `UPDATE`, so a bad exception or an open-ended bypass is
/// refused at `kubectl apply` time with the field and the reason (Kubernetes "Dynamic Admission
/// Control"; `metav1.Status` code 422 `Invalid`, as API validation answers).
///
/// `PolicyException` and `EmergencyBypass` objects must also carry the attribution signet's
/// `/mutate` stamped (see ``SignetResourceAdmission/attributionProblem(in:)``).
///
/// `DELETE` is always allowed, so an expired exception can be removed. An allowed object carries
/// ``SignetResourceValidator/warnings(_:)`` as admission warnings.
struct SignetResourceAdmission: Sendable {
    var validator: SignetResourceValidator
    /// What the PolicyExceptions of a namespace within its budget take, when known (the
    /// in-cluster policy source): a new one, or a larger spec, beyond the budget is refused
    /// (``ExemptionLimits/namespaceBudgetRefusal(adding:to:namespace:)``).
    var exceptionUsage: (@Sendable (String) -> ExemptionLimits.NamespaceUsage)? = nil
    /// The exceptions admitted here that the source's view may not count yet.
    var reservations: ExceptionReservations? = nil
    /// Who sent the review, for ``reservations`` (``ExceptionReservations/caller(of:)``).
    var client = AdmissionClient()

    /// The response for a signet.dev request, or `nil` when `request` is of another group.
    func respond(to request: AdmissionRequest, body: [UInt8]) -> AdmissionResponse? {
        guard request.kind.group == ClusterImagePolicy.group else { return nil }
        var annotations: [String: String] = [:]
        if request.dryRun ?? false { annotations["dry-run"] = "true" }
        guard request.operation == .create || request.operation == .update else {
            return AdmissionResponse(uid: request.uid, allowed: true, auditAnnotations: annotations.isEmpty ? nil : annotations)
        }
        let label = "\(request.kind.kind) \"\(request.namespace.map { "\($0)/" } ?? "")\(request.name ?? "")\""
        let review: [String: Any]
        switch AdmissionReviewObject.request(in: body) {
        case .success(let read): review = read
        case .failure(let problem): return deny(request, "signet denied \(label): \(problem.message)", annotations)
        }
        let oldObject = review["oldObject"] as? [String: Any]
        guard var object = review["object"] as? [String: Any] else {
            return deny(request, "signet denied \(label): request.object is missing or not an object", annotations)
        }
        if let namespace = request.namespace, var metadata = object["metadata"] as? [String: Any], metadata["namespace"] == nil {
            metadata["namespace"] = namespace
            object["metadata"] = metadata
        }
        guard let bytes = try? JSONSerialization.data(withJSONObject: object) else {
            return deny(request, "signet denied \(label): request.object cannot be read", annotations)
        }
        if request.operation == .update, (object["metadata"] as? [String: Any])?["deletionTimestamp"] != nil {
            // Being deleted: never in force again (see the policy source), and a finalizer's
            // holder must be able to let it go, expired or not.
            annotations["decision"] = "allowed"
            return AdmissionResponse(uid: request.uid, allowed: true, auditAnnotations: annotations)
        }
        // An UPDATE that leaves the spec as stored (labels, annotations, finalizers) is checked
        // for attribution only: an expired exception can still be relabelled or let go.
        let specUnchanged = request.operation == .update && Self.sameSpec(object, oldObject)
        let problems = specUnchanged ? [] : validator.validate(PolicySourceFile(name: label, bytes: Array(bytes)))
        if problems.isEmpty, Self.isAttributed(request), let problem = Self.attributionProblem(in: body) {
            return deny(request, "signet denied \(label): \(problem)", annotations)
        }
        if problems.isEmpty, request.kind.kind == "PolicyException", let namespace = request.namespace,
           let refusal = budgetRefusal(namespace: namespace, object: object, oldObject: oldObject, dryRun: request.dryRun ?? false) {
            return deny(request, "signet denied \(label): \(refusal)", annotations)
        }
        if problems.isEmpty {
            annotations["decision"] = "allowed"
            // What is valid but likely not meant, shown by kubectl as `Warning:` lines (also on
            // `--dry-run=server`); a spec left as stored was warned about when it was written.
            let warnings = specUnchanged ? [] : validator.warnings(PolicySourceFile(name: label, bytes: Array(bytes)))
                .map { "\(label): \(Self.describe($0))" }
            return AdmissionResponse(
                uid: request.uid, allowed: true, warnings: warnings.isEmpty ? nil : warnings, auditAnnotations: annotations)
        }
        let message = problems.map { Self.describe($0) }.joined(separator: "; ")
        return deny(request, "signet denied \(label): \(message)", annotations)
    }

    private func deny(_ request: AdmissionRequest, _ message: String, _ annotations: [String: String]) -> AdmissionResponse {
        var annotations = annotations
        annotations["decision"] = "denied"
        return AdmissionResponse(
            uid: request.uid, allowed: false, status: AdmissionStatus(code: 422, reason: "Invalid", message: message),
            auditAnnotations: annotations)
    }

    /// Why `object` (``ExemptionLimits/measuredBytes(_:)``: labels and annotations count as the
    /// spec does) does not fit its namespace's exception budget beside the others; nil when it
    /// fits or the usage is not known. An UPDATE gives back the room its name held, when it was
    /// counted, and one that does not grow the object (`oldObject`) is never refused, so an
    /// expired exception can still be relabelled or let go. The usage is the policy source's
    /// last view with what this replica admitted since (``ExceptionReservations``), so
    /// exceptions made at the same moment are not each judged without the others.
    private func budgetRefusal(namespace: String, object: [String: Any], oldObject: [String: Any]?, dryRun: Bool) -> String? {
        guard let exceptionUsage else { return nil }
        let bytes = ExemptionLimits.measuredBytes(object)
        if let oldObject, bytes <= ExemptionLimits.measuredBytes(oldObject) { return nil }
        var usage = exceptionUsage(namespace)
        // A review known not to come from the API server creates nothing: it reserves nothing.
        let caller = ExceptionReservations.caller(of: client)
        if let reservations, let caller {
            guard let reserved = reservations.usage(usage, namespace: namespace, caller: caller) else {
                return "signet admitted more PolicyExceptions in the last \(reservations.lifetime) than it keeps track of; retry in a moment"
            }
            usage = reserved
        }
        let name = (object["metadata"] as? [String: Any])?["name"] as? String
        if oldObject != nil, let name { usage.remove(name) }
        if let refusal = ExemptionLimits.namespaceBudgetRefusal(adding: bytes, to: usage, namespace: namespace) { return refusal }
        if !dryRun, let name, let caller { reservations?.reserve(namespace: namespace, name: name, bytes: bytes, caller: caller) }
        return nil
    }

    /// `spec.validUntil: …` (the source label is already in the message's prefix).
    private static func describe(_ problem: PolicyLoadError) -> String {
        if let path = problem.fieldPath, !path.isEmpty { return "\(path): \(problem.message)" }
        return problem.message
    }

    /// Whether both objects carry the same `spec` (compared as canonical JSON).
    private static func sameSpec(_ object: [String: Any], _ old: [String: Any]?) -> Bool {
        guard let old, let new = object["spec"], let before = old["spec"],
              let a = try? JSONSerialization.data(withJSONObject: new, options: [.sortedKeys]),
              let b = try? JSONSerialization.data(withJSONObject: before, options: [.sortedKeys]) else { return false }
        return a == b
    }

}
