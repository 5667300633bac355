import Foundation
import Metrics
import SignetAdmission
import SignetKube
import SignetPolicy

/// Reports every emergency-bypass use as Kubernetes `v1` Events of type `Warning` and reason
/// `EmergencyBypassUsed` (issue 16, "Visible"): on the `EmergencyBypass` (stored in `default`,
/// as it is cluster-scoped) and on the admitted workload, so both
/// `kubectl describe emergencybypass <name>` and `kubectl describe <workload>` show it.
///
/// - On the bypass, every use counts: one Event per bypass, namespace of the workload and ten
///   minutes (per replica), whose `count` grows with each use and whose message names the latest
///   (``KubernetesEventRecorder/recordAggregated(_:key:)``); a rollout of a hundred Pods shows
///   "(x100 over 2m)". Per namespace, so uses repeated in one namespace cannot hide another's.
/// - On the workload, the same use (bypass, workload, user, images) is reported once per ten
///   minutes, and one namespace's uses make at most 25 reports at once and one more every 12
///   seconds (``EventSpamFilter``): a tenant repeating a create the API server then refuses
///   must not flood Events or push out other namespaces' Events. Every use is in the audit log
///   and the history.
struct BypassEventReporter: ExemptionEventSink {
    static let reason = "EmergencyBypassUsed"
    let recorder: KubernetesEventRecorder
    var filter = EventSpamFilter()

    func bypassUsed(_ use: BypassUse) {
        let (onBypass, onWorkload) = Self.events(for: use)
        recorder.recordAggregated(onBypass, key: [use.bypass.name, use.bypass.uid ?? "", use.namespace ?? ""].joined(separator: "\u{0}"))
        let key = [use.bypass.name, use.apiVersion, use.kind, use.namespace ?? "", use.name, use.user ?? ""].joined(separator: "\u{0}")
            + "\u{0}" + use.images.joined(separator: ",")
        guard filter.admit(key: key, group: use.namespace ?? "", now: use.time) else {
            Counter(label: "signet_emergency_bypass_events_held_back_total").increment()
            return
        }
        recorder.record(onWorkload)
    }

    /// The two events of `use`: on the bypass, and on the workload.
    static func events(for use: BypassUse) -> (onBypass: KubernetesEvent, onWorkload: KubernetesEvent) {
        let workload = "\(use.kind) \"\(use.namespace.map { "\($0)/" } ?? "")\(use.name)\""
        let images = use.images.joined(separator: ", ")
        let who = (use.user.map { " for \"\($0)\"" } ?? "") + (use.peer.map { " (review from \($0))" } ?? "")
        let creator = use.bypass.attribution.credit
        let onBypass = KubernetesEvent(
            object: .init(apiVersion: ClusterImagePolicy.apiVersion, kind: EmergencyBypass.kind, name: use.bypass.name, namespace: nil, uid: use.bypass.uid),
            reason: reason,
            message: "admitted \(workload)\(who) without signature verification (images: \(images)); expires at \(KubernetesTime.format(use.bypass.expiresAt))",
            time: use.time)
        let onWorkload = KubernetesEvent(
            object: .init(apiVersion: use.apiVersion, kind: use.kind, name: use.name, namespace: use.namespace, uid: use.uid),
            reason: reason,
            message: "admitted without signature verification by EmergencyBypass \"\(use.bypass.name)\" (expires at \(KubernetesTime.format(use.bypass.expiresAt))\(creator)): \(use.bypass.reason); images: \(images)",
            time: use.time)
        return (onBypass, onWorkload)
    }
}
