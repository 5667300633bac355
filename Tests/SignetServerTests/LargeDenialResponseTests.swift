import Foundation
import SignetAdmission
import SignetPolicy
import SignetTestSupport
import Testing

/// A Pod of hundreds of denied containers (Kubernetes limits only the request's size): the
/// answer lists the first denials and images and counts the rest, so `kubectl` prints a
/// readable message and the API server logs kilobytes, not megabytes; the audit record keeps
/// every image.
struct LargeDenialResponseTests {
    final class Records: AuditSink, @unchecked Sendable {
        var records: [AdmissionAuditRecord] = []
        func record(_ record: AdmissionAuditRecord) { records.append(record) }
    }

    @Test func aDenialOfManyImagesListsTheFirstAndCountsTheRest() async throws {
        let policies = try LivePolicies.makeDirectory()
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: try PolicyLoader().load(directory: policies.path)))
        let records = Records()
        responder.auditSink = records
        let containers = 500
        let images = (0..<containers).map { ("c\($0)", "docker.io/library/app-\($0):1.0") }
        let result = await responder.respond(to: ReviewBodies.make(kind: "Pod", images: images), deadline: .now + .seconds(30))
        #expect(result.status == 200)
        #expect(result.body.count < 64 * 1024, "a response of \(result.body.count) bytes")
        let response = try admissionResponse(String(decoding: result.body, as: UTF8.self))
        #expect(response["allowed"] as? Bool == false)
        let message = try #require((response["status"] as? [String: Any])?["message"] as? String)
        let listed = AdmissionResponder.maximumListedItems
        #expect(message.contains("docker.io/library/app-0:1.0"))
        #expect(!message.contains("docker.io/library/app-\(listed):1.0"))
        #expect(message.hasSuffix("and \(containers - listed + 1) more denials (every image's verdict is in signet's audit record)"), "\(message.suffix(200))")
        let annotations = try #require(response["auditAnnotations"] as? [String: String])
        let summary = try #require(annotations["images"])
        let listedImages = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [[String: Any]])
        #expect(listedImages.count == listed)
        #expect(annotations["images-not-listed"] == "\(containers - listed)")
        let record = try #require(records.records.first)
        #expect(record.verdicts.count == containers)
        #expect(record.reason == message)

        // A few images: every one listed, nothing counted.
        let few = await responder.respond(
            to: ReviewBodies.make(kind: "Pod", images: [("web", "docker.io/library/nginx:1.27")]), deadline: .now + .seconds(30))
        let fewResponse = try admissionResponse(String(decoding: few.body, as: UTF8.self))
        #expect((fewResponse["auditAnnotations"] as? [String: String])?["images-not-listed"] == nil)
        #expect(((fewResponse["status"] as? [String: Any])?["message"] as? String)?.contains("more denials") == false)
    }
}
