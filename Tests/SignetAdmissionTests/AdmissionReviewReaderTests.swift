import Foundation
import SignetPolicy
import Testing

@testable import SignetAdmission

/// The direct reader against the Codable decoder (`AdmissionReview(from:)` over the lazy
/// decoder): for every review it reads it must give the same request, object and references,
/// and every shape it leaves to the decoder must be one the decoder rejects or that holds a
/// member the reader does not handle.
struct AdmissionReviewReaderTests {
    /// Reads `body` both ways; `nil` from the reader means "left to the decoder".
    static func bothWays(_ body: [UInt8]) throws -> (direct: AdmissionReview?, decoded: Result<AdmissionReview, any Error>) {
        let document = try JSONDocument(validating: body)
        let direct = AdmissionReviewReader.read(document)
        let decoded = Result<AdmissionReview, any Error> { try LazyJSONDecoder.decode(AdmissionReview.self, from: body) }
        return (direct, decoded)
    }

    static func expectSame(_ direct: AdmissionReview, _ decoded: AdmissionReview, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(direct.apiVersion == decoded.apiVersion, sourceLocation: sourceLocation)
        #expect(direct.kind == decoded.kind, sourceLocation: sourceLocation)
        #expect(direct.response == decoded.response, sourceLocation: sourceLocation)
        #expect((direct.request == nil) == (decoded.request == nil), sourceLocation: sourceLocation)
        guard let a = direct.request, let b = decoded.request else { return }
        #expect(a.uid == b.uid, sourceLocation: sourceLocation)
        #expect(a.kind == b.kind, sourceLocation: sourceLocation)
        #expect(a.resource == b.resource, sourceLocation: sourceLocation)
        #expect(a.subResource == b.subResource, sourceLocation: sourceLocation)
        #expect(a.name == b.name, sourceLocation: sourceLocation)
        #expect(a.namespace == b.namespace, sourceLocation: sourceLocation)
        #expect(a.operation == b.operation, sourceLocation: sourceLocation)
        #expect(a.userInfo == b.userInfo, sourceLocation: sourceLocation)
        #expect(a.dryRun == b.dryRun, sourceLocation: sourceLocation)
        #expect(a.object == b.object, sourceLocation: sourceLocation)
        #expect(a.oldObject == b.oldObject, sourceLocation: sourceLocation)
    }

    /// Objects as the API server sends them, and the odd shapes the lenient reading must keep.
    static let objects: [String] = WorkloadFixture.all.flatMap { fixture in
        [
            fixture.wrap(podSpec(containers: [("web", allowedImage), ("proxy", deniedImage)])),
            fixture.wrap(podSpec(containers: [("web", allowedImage)], initContainers: [("setup", deniedImage)], ephemeral: [("debug", "busybox")])),
            fixture.wrap(podSpec(containers: [("web", allowedImage)], imageVolumes: [("models", deniedImage), ("data", allowedImage)])),
        ]
    } + [
        #"{"kind":"Pod","spec":{"containers":{"name":"web","image":"a"}}}"#,
        #"{"kind":"Pod","spec":{"containers":[{"name":"web"},{"name":7,"image":"b"},null,"x",{"image":null,"name":null}]}}"#,
        #"{"kind":"Pod","spec":"spec"}"#,
        #"{"kind":"Pod","spec":{"containers":[],"volumes":[{"name":"a","image":{"reference":"r"}},null,7,{"image":"x"},{"name":[],"image":{"reference":5}},{"image":{}},{"image":null,"name":"e"}]}}"#,
        #"{"kind":"Pod","spec":{"containers":[],"volumes":{"name":"a"}}}"#,
        #"{"kind":"Pod","spec":{"containers":[],"volumes":[{"image":{"reference":"first","reference":"last wins"}}]}}"#,
        #"{"spec":{"template":{"spec":{"volumes":[{"n\u0061me":"esc","im\u0061ge":{"refer\u0065nce":"img"}}]}}}}"#,
        #"{"kind":5,"spec":null,"template":{"spec":{"containers":[{"name":"t","image":"i"}]}}}"#,
        #"{"kind":"PodTemplate","template":[]}"#,
        #"{"ephemeralContainers":[{"name":"e","image":"busybox"}],"ephemeralContainers":"last wins"}"#,
        #"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i"}],"imagePullSecrets":[{"name":"x"}]}}}}}}"#,
        #"{"spec":{"containers":[{"n\u0061me":"escaped","\u0069mage":"img\"q"}],"serviceAccountName":"sa","imagePullSecrets":[{"name":""},{},{"name":"r"}]}}"#,
        #"{"metadata":{"generateName":"web-"},"spec":{"containers":[],"imagePullSecrets":[null]}}"#,
        #"{"metadata":{"generateName":5},"spec":{"containers":[],"serviceAccountName":"sa"}}"#,
        #"{"metadata":[],"spec":{"containers":[],"imagePullSecrets":"x"}}"#,
        #"{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-1","uid":"u1","controller":false},{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-2","uid":"u2","controller":true}]},"spec":{"containers":[]}}"#,
        #"{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-1","controller":true}]},"spec":{"containers":[]}}"#,
        #"{"metadata":{"ownerReferences":[{"kind":"ReplicaSet","name":"web-1","uid":"u","controller":"true"}]},"spec":{"serviceAccountName":"sa"}}"#,
        #"{"metadata":{"ownerReferences":[null]},"spec":{"serviceAccountName":"sa"}}"#,
        #"{"metadata":{"ownerReferences":{}},"spec":{"serviceAccountName":"sa"}}"#,
        #"{"metadata":{"ownerReferences":null,"generateName":"g-"},"spec":{"containers":[]}}"#,
        #"{"spec":{"containers":[],"template":{"spec":{"serviceAccountName":"inner","template":7}}}}"#,
        #"{"spec":{"containers":[],"jobTemplate":{"spec":[]}},"template":{"spec":{"serviceAccountName":"pt"}}}"#,
        "{}",
    ]

    @Test(arguments: objects)
    func readsObjectsAsTheDecoderDoes(_ object: String) throws {
        for body in [
            review(kind: "Pod", resource: "pods", object: object),
            review(kind: "Deployment", group: "apps", resource: "deployments", operation: "UPDATE", object: object, oldObject: object),
        ] {
            let (direct, decoded) = try Self.bothWays(body)
            let reference = try decoded.get()
            let read = try #require(direct)
            Self.expectSame(read, reference)
            #expect(read.request?.object?.references == reference.request?.object?.references)
            // A document too large for an end index (8 MiB may come) is walked by its spans and
            // scans: the same review.
            let unindexed = try #require(AdmissionReviewReader.read(try JSONDocument(validating: body, endIndexLimit: 0)))
            Self.expectSame(unindexed, reference)
            #expect(unindexed.request?.object?.references == reference.request?.object?.references)
        }
    }

    @Test func theControllerIsTheOwnerReferenceMarkedController() throws {
        let object = Self.objects.first { $0.contains("web-2") }!
        let (direct, _) = try Self.bothWays(review(kind: "Pod", resource: "pods", object: object))
        let controller = try #require(direct?.request?.object?.references.controller)
        #expect(controller == ControllerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-2", uid: "u2"))
        #expect(controller.isFollowed)
        #expect(!ControllerReference(apiVersion: "evil.example/v1", kind: "Deployment", name: "web", uid: "u").isFollowed)
    }

    /// Envelopes: absent and null members, duplicates (the last wins), escaped names.
    static let envelopes: [String] = [
        #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"kind":"Pod"},"operation":"DELETE"}}"#,
        #"{"apiVersion":null,"kind":null,"request":null}"#,
        #"{}"#,
        #"{"apiVersion":"x","apiVersion":"admission.k8s.io/v1","request":{"uid":"a","uid":"b","kind":{"group":null,"version":"v1","kind":"Pod"},"operation":"CONNECT","dryRun":null,"userInfo":null,"resource":null,"name":null}}"#,
        #"{"\u0061piVersion":"admission.k8s.io/v1","request":{"\u0075id":"u","k\u0069nd":{"kind":"Pod"},"operation":"CREATE","userInfo":{"username":"me","groups":[]},"dryRun":true,"subResource":"status","namespace":"ns","object":{"spec":{}}}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":"UPDATE","resource":{"resource":"pods"},"userInfo":{},"dryRun":false,"response":5},"response":null}"#,
    ]

    @Test(arguments: envelopes)
    func readsEnvelopesAsTheDecoderDoes(_ json: String) throws {
        let (direct, decoded) = try Self.bothWays(Array(json.utf8))
        Self.expectSame(try #require(direct), try decoded.get())
    }

    /// Shapes the decoder rejects or that carry a `response`: the reader must leave them to it.
    static let leftToTheDecoder: [String] = [
        "[]", #""text""#, "5",
        #"{"apiVersion":5}"#,
        #"{"kind":true}"#,
        #"{"request":[]}"#,
        #"{"request":{"kind":{"kind":"Pod"},"operation":"CREATE"}}"#,
        #"{"request":{"uid":null,"kind":{"kind":"Pod"},"operation":"CREATE"}}"#,
        #"{"request":{"uid":7,"kind":{"kind":"Pod"},"operation":"CREATE"}}"#,
        #"{"request":{"uid":"u","operation":"CREATE"}}"#,
        #"{"request":{"uid":"u","kind":"Pod","operation":"CREATE"}}"#,
        #"{"request":{"uid":"u","kind":{"group":"apps"},"operation":"CREATE"}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod","version":1},"operation":"CREATE"}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"}}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":"PATCH"}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":1}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","resource":"pods"}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","resource":{"group":1}}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","name":5}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","userInfo":"me"}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","userInfo":{"username":1}}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","dryRun":"yes"}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","object":[1]}}"#,
        #"{"request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","oldObject":"x"}}"#,
        #"{"response":{"uid":"u","allowed":true}}"#,
        #"{"response":{}}"#,
    ]

    @Test(arguments: leftToTheDecoder)
    func leavesOtherShapesToTheDecoder(_ json: String) throws {
        let body = Array(json.utf8)
        let (direct, decoded) = try Self.bothWays(body)
        #expect(direct == nil)
        // The responder's answer is the decoder's: its review or its error.
        switch (decoded, Result { try AdmissionResponder.decodeReview(body) }) {
        case (.success(let reference), .success(let answered)):
            Self.expectSame(answered, reference)
        case (.failure(let expected), .failure(let actual)):
            #expect(String(describing: expected) == String(describing: actual))
        default:
            Issue.record("the responder and the decoder disagree on \(json)")
        }
    }

    @Test func readsTheBenchmarkDeployment() throws {
        let containers = (0..<3).map { index in
            #"{"name":"c\#(index)","image":"ghcr.io/signet-bench/c\#(index):1.4.2","env":[\#((0..<12).map { #"{"name":"E\#($0)","value":"\#(String(repeating: "x", count: 40))"}"# }.joined(separator: ","))],"ports":[{"containerPort":8080}]}"#
        }.joined(separator: ",")
        let object = #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"shop","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}\#(String(repeating: " ", count: 1500))"}},"spec":{"replicas":3,"template":{"metadata":{"labels":{"app":"shop"}},"spec":{"serviceAccountName":"shop","containers":[\#(containers)],"volumes":[{"name":"config","configMap":{"name":"shop-config"}}]}}}}"#
        let body = review(kind: "Deployment", group: "apps", resource: "deployments", object: object)
        let (direct, decoded) = try Self.bothWays(body)
        let read = try #require(direct)
        Self.expectSame(read, try decoded.get())
        guard case .podSpec(_, let images) = WorkloadImages.extract(from: try #require(read.request?.object), kind: "Deployment") else {
            Issue.record("no pod spec")
            return
        }
        #expect(images.map(\.image) == ["ghcr.io/signet-bench/c0:1.4.2", "ghcr.io/signet-bench/c1:1.4.2", "ghcr.io/signet-bench/c2:1.4.2"])
        #expect(read.request?.object?.references.serviceAccountName == "shop")
    }
}
