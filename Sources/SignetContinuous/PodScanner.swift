import Foundation
import Logging
import NIOConcurrencyHelpers
import SignetAdmission
import SignetPolicy

/// Decides the running images of Pods exactly as the admission webhook would decide a `CREATE`
/// of each Pod now: the same ``AdmissionResponder`` (policies, exceptions, owner-chain
/// exemptions, emergency bypasses, namespace opt-out, `Enforce`/`Warn`/`Audit` modes, the
/// no-match action, the engine and its cache), fed a dry-run review of the Pod with its images
/// pinned to the running digests (see ``RunningPod``).
///
/// At most ``concurrency`` Pods are decided at once; each gets ``deadline`` to finish, as one
/// admission would.
public struct PodScanner: Sendable {
    /// The responder that decides; its audit and event sinks are not used.
    public var responder: AdmissionResponder
    /// Pods decided at once.
    public var concurrency: Int
    /// Time one Pod's decision may take.
    public var deadline: Duration
    /// The authority kinds (`key`, `keyless`, ...) of a policy, by name.
    public var formats: @Sendable (String) -> [String]
    /// Namespaces the webhook configuration leaves out (its `namespaceSelector`: the chart's
    /// kube-system, its own namespace, `webhook.excludeNamespaces`): the API server never asks
    /// signet about their Pods. They are still decided, since a scan is the only check they get,
    /// but an image admission would deny there is reported `warn`, saying so, not `fail` (nor
    /// `error`): no
    /// admission enforces it, and an alert at every scan for it would teach people to mute the
    /// alerts.
    public var unreviewedNamespaces: Set<String> = []

    public init(
        responder: AdmissionResponder, concurrency: Int = 8, deadline: Duration = .seconds(28),
        formats: @escaping @Sendable (String) -> [String] = { _ in [] }
    ) {
        self.responder = responder
        self.concurrency = max(1, concurrency)
        self.deadline = deadline
        self.formats = formats
    }

    /// The findings of every active Pod of `pods`, in the order of `pods` and their containers.
    public func scan(_ pods: [RunningPod]) async -> [ImageFinding] {
        let active = pods.filter(\.isActive)
        var results = [[ImageFinding]](repeating: [], count: active.count)
        await withTaskGroup(of: (Int, [ImageFinding]).self) { group in
            var next = 0
            func addNext() {
                guard next < active.count else { return }
                let index = next
                next += 1
                group.addTask { (index, await scan(active[index])) }
            }
            for _ in 0..<min(concurrency, active.count) { addNext() }
            for await (index, findings) in group {
                results[index] = findings
                addNext()
            }
        }
        return results.flatMap { $0 }
    }

    /// The findings of one Pod, one per container.
    public func scan(_ pod: RunningPod) async -> [ImageFinding] {
        let findings = await decide(pod)
        guard unreviewedNamespaces.contains(pod.namespace) else { return findings }
        return findings.map { finding in
            guard finding.result == .fail || finding.result == .error else { return finding }
            var unenforced = finding
            unenforced.result = .warn
            unenforced.reason = "namespace \(pod.namespace) is not sent to the webhook (its configuration leaves it out), so no admission enforces this: \(finding.reason)"
            return unenforced
        }
    }

    private func decide(_ pod: RunningPod) async -> [ImageFinding] {
        let body: [UInt8]
        do {
            body = try AdmissionReview.makeSynthetic(objectJSON: pod.objectJSON, namespace: pod.namespace, userName: "signet-scan")
        } catch {
            return pod.containers.map { failed($0, pod: pod, reason: "signet cannot decide this pod: \(error)") }
        }
        let capture = AdmissionRecordCapture()
        var responder = responder
        responder.auditSink = capture
        responder.eventSink = nil
        responder.source = .scan
        responder.nodePinnedImages = pod.nodePinnedImages
        let answer = await responder.respond(to: body, deadline: .now + deadline)
        guard let record = capture.admission else {
            return pod.containers.map { failed($0, pod: pod, reason: "signet gave no decision for this pod (HTTP \(answer.status))") }
        }
        if record.verdicts.isEmpty {
            if record.allowed {
                let why = record.namespaceOptOut.map { "namespace \(pod.namespace) opted out (\($0))" } ?? "admitted unevaluated"
                return pod.containers.map { ImageFinding(unevaluated: $0, pod: pod, reason: why) }
            }
            return pod.containers.map { failed($0, pod: pod, reason: record.reason ?? "denied") }
        }
        let unknownVolumes = Set(pod.containers.filter { $0.isImageVolume && $0.hasUnknownDigest }.map(\.name))
        return record.images.map { image in
            var finding = ImageFinding(verdict: image, pod: pod, formats: Array(Set(image.policies.flatMap(formats))).sorted())
            if finding.isImageVolume, finding.result == .pass, unknownVolumes.contains(finding.container) {
                // The tag's digest now passed; what the node mounted may have been another
                // (a tag moved since), so it is not reported as passing.
                finding.result = .warn
                finding.reason = "the digest this image volume was mounted as is not reported (Kubernetes reports it from 1.35 with the "
                    + "ImageVolumeWithDigest feature), so what is mounted is unknown; its tag resolves now to a digest that passes: \(finding.reason)"
            }
            return finding
        }
    }

    private func failed(_ container: RunningPod.Container, pod: RunningPod, reason: String) -> ImageFinding {
        var finding = ImageFinding(unevaluated: container, pod: pod, reason: reason)
        finding.result = .fail
        return finding
    }
}

/// Keeps the `admission` audit record of one decision.
final class AdmissionRecordCapture: AuditSink {
    private let records = NIOLockedValueBox<[AdmissionAuditRecord]>([])

    func record(_ record: AdmissionAuditRecord) { records.withLockedValue { $0.append(record) } }

    var admission: AdmissionAuditRecord? { records.withLockedValue { $0.first { $0.event == "admission" } } }
}
