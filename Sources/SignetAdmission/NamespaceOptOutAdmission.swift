import Foundation
import Logging
import SignetPolicy

/// Who may opt a namespace out of signet (issue 16, "Opt-out under control"): the label that
/// opts a namespace out, and the one group whose members may add, change or remove it.
///
/// Kubernetes authorises a label change with the `update` verb on the Namespace, so RBAC alone
/// lets every namespace admin (self-service tenants, Argo CD's `CreateNamespace`) switch signet
/// off; signet validates Namespace `CREATE` and `UPDATE` itself (Kubernetes "Dynamic Admission
/// Control", `request.userInfo.groups` as the API server authenticated them).
public struct NamespaceOptOutRule: Sendable, Hashable {
    /// The label that opts a namespace out when `"true"` (`signet.dev/exclude` by default).
    public var label: String
    /// The group allowed to add, change or remove the label (and the guarded labels); `nil`:
    /// nobody may.
    public var group: String?
    /// Namespace labels that `ClusterImagePolicy` namespace selectors read
    /// (`--guarded-namespace-labels`): whoever may change them may take a namespace out of a
    /// policy, so they are under the same rule as the opt-out label.
    public var guardedLabels: [String]

    public init(label: String = ExemptionConfiguration.defaultOptOutLabel, group: String? = nil, guardedLabels: [String] = []) {
        self.label = label
        self.group = group
        self.guardedLabels = guardedLabels
    }

    /// The opt-out label first, then each guarded label once.
    var labels: [String] {
        var labels = [label]
        for guarded in guardedLabels where !labels.contains(guarded) { labels.append(guarded) }
        return labels
    }
}

/// Admission of core `v1` `Namespace` objects under a ``NamespaceOptOutRule``: a `CREATE` or
/// `UPDATE` (any subresource) whose opt-out label, or one of its guarded labels, differs from the
/// stored object's (added, changed or removed) is allowed only when the user is in the rule's
/// group, and refused with 403 `Forbidden` naming the label, the group and the user otherwise.
/// Every other Namespace request is allowed untouched; `DELETE` always is.
struct NamespaceOptOutAdmission: Sendable {
    var rule: NamespaceOptOutRule
    var logger: Logger

    /// The response for a Namespace request, or `nil` when `request` is of another kind.
    func respond(to request: AdmissionRequest, body: [UInt8]) -> AdmissionResponse? {
        guard request.kind.group.isEmpty, request.kind.kind == "Namespace" else { return nil }
        var annotations: [String: String] = [:]
        if request.dryRun ?? false { annotations["dry-run"] = "true" }
        guard request.operation == .create || request.operation == .update else {
            return AdmissionResponse(uid: request.uid, allowed: true, auditAnnotations: annotations.isEmpty ? nil : annotations)
        }
        let name = request.name ?? ""
        let review: LabelReview
        switch Self.labelChanges(in: body, labels: rule.labels) {
        case .success(let read):
            review = read
        case .failure(let problem):
            annotations["decision"] = "denied"
            return AdmissionResponse(
                uid: request.uid, allowed: false,
                status: AdmissionStatus(code: 403, reason: "Forbidden", message: "signet denied Namespace \"\(name)\": \(problem.message)"),
                auditAnnotations: annotations)
        }
        let changes = review.changes.filter { $0.before != $0.after }
        guard let change = changes.first else {
            return AdmissionResponse(uid: request.uid, allowed: true, auditAnnotations: annotations.isEmpty ? nil : annotations)
        }
        let what = changes.map { Self.describe($0, optOutLabel: rule.label) }.joined(separator: "; ")
        let optOut = change.label == rule.label
        let user = review.user ?? request.userInfo?.username ?? "(unknown)"
        annotations[optOut ? "namespace-opt-out-change" : "namespace-guarded-label-change"] = what
        let metadata: Logger.Metadata = [
            "uid": "\(request.uid)", "namespace": "\(name)", "user": "\(user)", "groups": "\(review.groups.joined(separator: ","))",
            "label": "\(change.label)", "before": "\(change.before ?? "")", "after": "\(change.after ?? "")",
            "operation": "\(request.operation.rawValue)", "dry_run": "\(request.dryRun ?? false)",
        ]
        if let group = rule.group, review.groups.contains(group) {
            annotations["decision"] = "allowed"
            logger.notice(optOut ? "namespace opt-out label changed" : "namespace guarded label changed", metadata: metadata)
            let consequence = optOut
                ? "admissions there are counted, logged and audited but not checked"
                : "the policies whose namespace selectors read it apply to the namespace as its new labels say"
            let message = "signet allowed Namespace \"\(name)\": \(what) by \"\(user)\", a member of \"\(group)\"; \(consequence)"
            return AdmissionResponse(
                uid: request.uid, allowed: true, status: AdmissionStatus(code: 200, reason: nil, message: message),
                warnings: [message], auditAnnotations: annotations)
        }
        annotations["decision"] = "denied"
        logger.warning(optOut ? "namespace opt-out label change refused" : "namespace guarded label change refused", metadata: metadata)
        let who: String
        if let group = rule.group {
            who = "is allowed only to members of the group \"\(group)\" (--namespace-opt-out-group); user \"\(user)\" is not one"
        } else {
            who = "is allowed to no one: no group is configured (--namespace-opt-out-group)"
        }
        return AdmissionResponse(
            uid: request.uid, allowed: false,
            status: AdmissionStatus(code: 403, reason: "Forbidden", message: "signet denied Namespace \"\(name)\": \(what) \(who)"),
            auditAnnotations: annotations)
    }

    /// One label's value before and after.
    struct LabelChange: Equatable {
        var label: String
        var before: String?
        var after: String?
    }

    /// The labels' values before and after, and who asks, read from the review body.
    struct LabelReview: Equatable {
        var changes: [LabelChange]
        var user: String?
        var groups: [String]
    }

    /// A problem when the body cannot be read or has no object.
    static func labelChanges(in body: [UInt8], labels watched: [String]) -> Result<LabelReview, AdmissionReviewObject.Problem> {
        let request: [String: Any]
        switch AdmissionReviewObject.request(in: body) {
        case .success(let read): request = read
        case .failure(let problem): return .failure(problem)
        }
        guard let object = request["object"] as? [String: Any] else {
            return .failure(AdmissionReviewObject.Problem(message: "request.object is missing or not an object"))
        }
        func labels(_ object: Any?) -> [String: Any] {
            ((object as? [String: Any])?["metadata"] as? [String: Any])?["labels"] as? [String: Any] ?? [:]
        }
        // Labels are strings; anything else is recorded as written rather than dropped.
        func text(_ value: Any?) -> String? { value.map { $0 as? String ?? "\($0)" } }
        let before = labels(request["oldObject"]), after = labels(object)
        let userInfo = request["userInfo"] as? [String: Any]
        return .success(LabelReview(
            changes: watched.map { LabelChange(label: $0, before: text(before[$0]), after: text(after[$0])) },
            user: userInfo?["username"] as? String, groups: userInfo?["groups"] as? [String] ?? []))
    }

    /// `adding the label signet.dev/exclude="true" (which opts the namespace out of image
    /// signature checks)`, `removing …`, `changing … from "x" to "y"`; a guarded label is said to
    /// be read by policies' namespace selectors.
    static func describe(_ change: LabelChange, optOutLabel: String) -> String {
        let label = change.label
        let meaning = label == optOutLabel
            ? "(which opts the namespace out of image signature checks)"
            : "(which ClusterImagePolicy namespace selectors read; guarded by --guarded-namespace-labels)"
        switch (change.before, change.after) {
        case (nil, let after?): return "adding the label \(label)=\"\(after)\" \(meaning)"
        case (let before?, nil): return "removing the label \(label)=\"\(before)\" \(meaning)"
        case (let before?, let after?): return "changing the label \(label) \(meaning) from \"\(before)\" to \"\(after)\""
        case (nil, nil): return "leaving the label \(label) unset"
        }
    }
}
