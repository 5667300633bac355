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
    /// The group allowed to add, change or remove the label; `nil`: nobody may.
    public var group: String?

    public init(label: String = ExemptionConfiguration.defaultOptOutLabel, group: String? = nil) {
        self.label = label
        self.group = group
    }
}

/// Admission of core `v1` `Namespace` objects under a ``NamespaceOptOutRule``: a `CREATE` or
/// `UPDATE` (any subresource) whose opt-out label differs from the stored object's (added,
/// changed or removed) is allowed only when the user is in the rule's group, and refused with
/// 403 `Forbidden` naming the label, the group and the user otherwise. Every other Namespace
/// request is allowed untouched; `DELETE` always is.
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
        guard let change = Self.labelChange(in: body, label: rule.label) else {
            annotations["decision"] = "denied"
            return AdmissionResponse(
                uid: request.uid, allowed: false,
                status: AdmissionStatus(code: 403, reason: "Forbidden", message: "signet denied Namespace \"\(name)\": request.object is missing or not an object"),
                auditAnnotations: annotations)
        }
        guard change.before != change.after else {
            return AdmissionResponse(uid: request.uid, allowed: true, auditAnnotations: annotations.isEmpty ? nil : annotations)
        }
        let what = Self.describe(change, label: rule.label)
        let user = change.user ?? request.userInfo?.username ?? "(unknown)"
        annotations["namespace-opt-out-change"] = what
        let metadata: Logger.Metadata = [
            "uid": "\(request.uid)", "namespace": "\(name)", "user": "\(user)", "groups": "\(change.groups.joined(separator: ","))",
            "label": "\(rule.label)", "before": "\(change.before ?? "")", "after": "\(change.after ?? "")",
            "operation": "\(request.operation.rawValue)", "dry_run": "\(request.dryRun ?? false)",
        ]
        if let group = rule.group, change.groups.contains(group) {
            annotations["decision"] = "allowed"
            logger.notice("namespace opt-out label changed", metadata: metadata)
            let message = "signet allowed Namespace \"\(name)\": \(what) by \"\(user)\", a member of \"\(group)\"; admissions there are counted, logged and audited but not checked"
            return AdmissionResponse(
                uid: request.uid, allowed: true, status: AdmissionStatus(code: 200, reason: nil, message: message),
                warnings: [message], auditAnnotations: annotations)
        }
        annotations["decision"] = "denied"
        logger.warning("namespace opt-out label change refused", metadata: metadata)
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

    /// The label's value before and after, and who asks, read from the review body.
    struct LabelChange: Equatable {
        var before: String?
        var after: String?
        var user: String?
        var groups: [String]
    }

    /// `nil` when the body has no object.
    static func labelChange(in body: [UInt8], label: String) -> LabelChange? {
        guard let review = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let request = review["request"] as? [String: Any],
              let object = request["object"] as? [String: Any] else { return nil }
        func value(_ object: Any?) -> String? {
            guard let metadata = (object as? [String: Any])?["metadata"] as? [String: Any],
                  let labels = metadata["labels"] as? [String: Any], let value = labels[label] else { return nil }
            // Labels are strings; anything else is recorded as written rather than dropped.
            return value as? String ?? "\(value)"
        }
        let userInfo = request["userInfo"] as? [String: Any]
        return LabelChange(
            before: value(request["oldObject"]), after: value(object),
            user: userInfo?["username"] as? String, groups: userInfo?["groups"] as? [String] ?? [])
    }

    /// `adding the label signet.dev/exclude="true" (which opts the namespace out of image
    /// signature checks)`, `removing …`, `changing … from "x" to "y"`.
    static func describe(_ change: LabelChange, label: String) -> String {
        let meaning = "(which opts the namespace out of image signature checks)"
        switch (change.before, change.after) {
        case (nil, let after?): return "adding the label \(label)=\"\(after)\" \(meaning)"
        case (let before?, nil): return "removing the label \(label)=\"\(before)\" \(meaning)"
        case (let before?, let after?): return "changing the label \(label) \(meaning) from \"\(before)\" to \"\(after)\""
        case (nil, nil): return "leaving the label \(label) unset"
        }
    }
}
