import Foundation
import Testing
@testable import SignetAdmission
@testable import SignetPolicy

/// `noMatchAction: warn` at admission (issue 16, "Safe defaults"): an image no policy covers is
/// admitted with a warning the client sees, naming the image, and the audit trail says so.
@Suite("No-match action warn")
struct NoMatchWarnTests {
    static func responder(_ action: NoMatchAction, sink: MemoryAuditSink) throws -> AdmissionResponder {
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: try testPolicies(), noMatchAction: action))
        responder.auditSink = sink
        return responder
    }

    @Test func anUncoveredImageIsAdmittedWithAWarningAndAudited() async throws {
        let sink = MemoryAuditSink()
        let pod = WorkloadFixture.all[0].wrap(podSpec(containers: [("controller", "quay.io/jetstack/cert-manager-controller:v1.16.1")]))
        let response = try decodeResponse(await Self.responder(.warn, sink: sink).respond(
            to: review(kind: "Pod", resource: "pods", object: pod), deadline: farDeadline))
        #expect(response.allowed)
        let warnings = try #require(response.warnings)
        #expect(warnings.count == 1)
        #expect(warnings[0].contains(#"image "quay.io/jetstack/cert-manager-controller:v1.16.1" (container "controller")"#))
        #expect(warnings[0].contains("is not covered by any ClusterImagePolicy"))
        #expect(response.auditAnnotations?["uncovered-images"] == "1 (no-match action warn)")
        #expect(response.auditAnnotations?["images"]?.contains(#""outcome":"warn""#) == true)

        let record = try #require(sink.all.first)
        #expect(record.allowed)
        #expect(record.images.map(\.verdict) == ["warn"])
        #expect(record.images.first?.reason.contains("no-match action is warn") == true)
    }

    /// The same pod under `deny` (the binary's default) is refused: `warn` is what made the difference.
    @Test func theSamePodIsDeniedUnderDeny() async throws {
        let sink = MemoryAuditSink()
        let pod = WorkloadFixture.all[0].wrap(podSpec(containers: [("controller", "quay.io/jetstack/cert-manager-controller:v1.16.1")]))
        let response = try decodeResponse(await Self.responder(.deny, sink: sink).respond(
            to: review(kind: "Pod", resource: "pods", object: pod), deadline: farDeadline))
        #expect(!response.allowed)
        #expect(response.warnings == nil)
        #expect(response.auditAnnotations?["uncovered-images"] == "1 (no-match action deny)")
    }

    /// `warn` never softens a policy that covers the image: the denied image of an Enforce policy
    /// next to an uncovered one still denies the pod.
    @Test func warnDoesNotSoftenCoveredImages() async throws {
        let sink = MemoryAuditSink()
        let pod = WorkloadFixture.all[0].wrap(podSpec(containers: [("web", deniedImage), ("sidecar", "quay.io/x/y:1")]))
        let response = try decodeResponse(await Self.responder(.warn, sink: sink).respond(
            to: review(kind: "Pod", resource: "pods", object: pod), deadline: farDeadline))
        #expect(!response.allowed)
        #expect(response.status?.message?.contains(#"image "docker.io/library/nginx:1.25" (container "web") denied by policy "deny-untrusted""#) == true)
        #expect(response.warnings?.first?.contains(#"image "quay.io/x/y:1" (container "sidecar")"#) == true)
    }
}
