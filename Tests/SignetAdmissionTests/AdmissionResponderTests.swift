import Foundation
import NIOConcurrencyHelpers
import SignetAdmission
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import Testing

@Suite("Admission responder")
struct AdmissionResponderTests {
    @Test("every workload kind: allowed and denied", arguments: WorkloadFixture.all)
    func workloadKinds(_ fixture: WorkloadFixture) async throws {
        let responder = try makeResponder()
        let allowed = fixture.wrap(podSpec(containers: [("web", allowedImage)], initContainers: [("setup", allowedImage)]))
        let result = await responder.respond(
            to: review(kind: fixture.kind, group: fixture.group, resource: fixture.resource, object: allowed), deadline: farDeadline)
        #expect(result.status == 200)
        #expect(result.contentType == "application/json")
        let response = try decodeResponse(result)
        #expect(response.uid == "705ab4f5-6393-11e8-b7cc-42010a800002")
        #expect(response.allowed)
        #expect(response.status == nil)
        #expect(response.auditAnnotations?["decision"] == "allowed")
        #expect(response.auditAnnotations?["dry-run"] == nil)

        let denied = fixture.wrap(podSpec(containers: [("web", allowedImage)], initContainers: [("setup", deniedImage)]))
        let deniedResponse = try decodeResponse(await responder.respond(
            to: review(kind: fixture.kind, group: fixture.group, resource: fixture.resource, object: denied), deadline: farDeadline))
        #expect(!deniedResponse.allowed)
        #expect(deniedResponse.status?.code == 403)
        #expect(deniedResponse.status?.reason == "Forbidden")
        #expect(deniedResponse.status?.message == #"image "docker.io/library/nginx:1.25" (init container "setup") denied by policy "deny-untrusted", authority "block": Docker Hub images are not signed by a trusted key"#)
        #expect(deniedResponse.auditAnnotations?["decision"] == "denied")
        let images = try #require(deniedResponse.auditAnnotations?["images"])
        #expect(images.contains(#""outcome":"deny""#))
        #expect(images.contains(#""image":"docker.io/library/nginx:1.25""#))
    }

    /// An image volume (`volumes[].image.reference`) is an image the pod pulls: judged as a
    /// container's image is, in every kind that holds a pod spec, and named in the denial.
    @Test("every workload kind: image volumes", arguments: WorkloadFixture.all)
    func imageVolumes(_ fixture: WorkloadFixture) async throws {
        let responder = try makeResponder()
        let allowed = fixture.wrap(podSpec(containers: [("web", allowedImage)], imageVolumes: [("models", allowedImage)]))
        let allowedResponse = try decodeResponse(await responder.respond(
            to: review(kind: fixture.kind, group: fixture.group, resource: fixture.resource, object: allowed), deadline: farDeadline))
        #expect(allowedResponse.allowed)
        let images = try #require(allowedResponse.auditAnnotations?["images"])
        #expect(images.contains(#"{"imageVolume":"models","image":"ghcr.io/signet-demo/app:v1","outcome":"allow""#), "\(images)")

        let denied = fixture.wrap(podSpec(containers: [("web", allowedImage)], imageVolumes: [("models", deniedImage)]))
        let deniedResponse = try decodeResponse(await responder.respond(
            to: review(kind: fixture.kind, group: fixture.group, resource: fixture.resource, object: denied), deadline: farDeadline))
        #expect(!deniedResponse.allowed)
        #expect(deniedResponse.status?.message == #"image "docker.io/library/nginx:1.25" (image volume "models") denied by policy "deny-untrusted", authority "block": Docker Hub images are not signed by a trusted key"#)
    }

    @Test func severalDenialsAreJoined() async throws {
        let pod = WorkloadFixture.all[0].wrap(podSpec(containers: [("web", deniedImage), ("sidecar", "quay.io/x/y:1")]))
        let response = try decodeResponse(await makeResponder().respond(to: review(kind: "Pod", resource: "pods", object: pod), deadline: farDeadline))
        #expect(!response.allowed)
        #expect(response.status?.message == [
            #"image "docker.io/library/nginx:1.25" (container "web") denied by policy "deny-untrusted", authority "block": Docker Hub images are not signed by a trusted key"#,
            #"image "quay.io/x/y:1" (container "sidecar") is not covered by any ClusterImagePolicy and the no-match action is deny"#,
        ].joined(separator: "; "))
    }

    @Test func ephemeralContainersSubresource() async throws {
        let responder = try makeResponder()
        let pod = WorkloadFixture.all[0].wrap
        let old = pod(podSpec(containers: [("web", deniedImage)]))
        // The running pod's image was admitted before (e.g. before the policy); only the new
        // ephemeral container is judged.
        let allowed = pod(podSpec(containers: [("web", deniedImage)], ephemeral: [("debugger", allowedImage)]))
        let allowedResponse = try decodeResponse(await responder.respond(
            to: review(kind: "Pod", resource: "pods", subResource: "ephemeralcontainers", operation: "UPDATE", object: allowed, oldObject: old),
            deadline: farDeadline))
        #expect(allowedResponse.allowed)

        let denied = pod(podSpec(containers: [("web", deniedImage)], ephemeral: [("debugger", "busybox:1.36")]))
        let deniedResponse = try decodeResponse(await responder.respond(
            to: review(kind: "Pod", resource: "pods", subResource: "ephemeralcontainers", operation: "UPDATE", object: denied, oldObject: old),
            deadline: farDeadline))
        #expect(!deniedResponse.allowed)
        #expect(deniedResponse.status?.message?.contains(#"(ephemeral container "debugger")"#) == true)
        #expect(deniedResponse.status?.message?.contains(#"container "web""#) == false)

        // Older API servers send an EphemeralContainers object.
        let legacy = #"{"kind":"EphemeralContainers","apiVersion":"v1","metadata":{"name":"web","namespace":"team"},"ephemeralContainers":[{"name":"debugger","image":"busybox","targetContainerName":"web"}]}"#
        let legacyResponse = try decodeResponse(await responder.respond(
            to: review(kind: "EphemeralContainers", resource: "pods", subResource: "ephemeralcontainers", operation: "UPDATE", object: legacy),
            deadline: farDeadline))
        #expect(!legacyResponse.allowed)
        #expect(legacyResponse.status?.message?.contains(#"image "docker.io/library/busybox:latest" (ephemeral container "debugger")"#) == true)
    }

    @Test func updateEvaluatesOnlyNewOrChangedImages() async throws {
        let responder = try makeResponder()
        let deployment = WorkloadFixture.all[1].wrap
        let old = deployment(podSpec(containers: [("web", deniedImage)]))

        // Scaling: same images → allowed without verdicts.
        let scaled = deployment(podSpec(containers: [("web", deniedImage)])).replacingOccurrences(of: #""replicas":2"#, with: #""replicas":5"#)
        let scaledResponse = try decodeResponse(await responder.respond(
            to: review(kind: "Deployment", group: "apps", resource: "deployments", operation: "UPDATE", object: scaled, oldObject: old),
            deadline: farDeadline))
        #expect(scaledResponse.allowed)
        #expect(scaledResponse.auditAnnotations?["images"] == "[]")

        // A new container with an allowed image: only it is judged.
        let added = deployment(podSpec(containers: [("web", deniedImage), ("proxy", allowedImage)]))
        let addedResponse = try decodeResponse(await responder.respond(
            to: review(kind: "Deployment", group: "apps", resource: "deployments", operation: "UPDATE", object: added, oldObject: old),
            deadline: farDeadline))
        #expect(addedResponse.allowed)
        #expect(addedResponse.auditAnnotations?["images"]?.contains("proxy") == true)
        #expect(addedResponse.auditAnnotations?["images"]?.contains(#""container":"web""#) == false)

        // A changed image is judged.
        let changed = deployment(podSpec(containers: [("web", "nginx:1.26")]))
        let changedResponse = try decodeResponse(await responder.respond(
            to: review(kind: "Deployment", group: "apps", resource: "deployments", operation: "UPDATE", object: changed, oldObject: old),
            deadline: farDeadline))
        #expect(!changedResponse.allowed)
        #expect(changedResponse.status?.message?.contains("nginx:1.26") == true)

        // The same image moved from an init container to a container is new in its slot.
        let moved = deployment(podSpec(containers: [("web", allowedImage)], initContainers: [("web", deniedImage)]))
        let movedResponse = try decodeResponse(await responder.respond(
            to: review(kind: "Deployment", group: "apps", resource: "deployments", operation: "UPDATE", object: moved, oldObject: old),
            deadline: farDeadline))
        #expect(!movedResponse.allowed)
    }

    /// An image is unchanged by an update only when its bytes are: Swift finds `nginx:K` with
    /// U+212A KELVIN SIGN equal to `nginx:K` with the letter, but no runtime pulls the first and
    /// the kubelet pulls the second. A Pod let in unevaluated with the first (an opted-out
    /// namespace, a Pod older than signet) must not get the second by an update unchecked.
    @Test func anUpdateToACanonicallyEquivalentImageIsJudged() async throws {
        let responder = try makeResponder()
        let pod = WorkloadFixture.all[0].wrap
        let kelvin = "docker.io/library/nginx:1.25-\u{212A}"
        let letter = "docker.io/library/nginx:1.25-K"
        #expect(kelvin == letter, "Swift's String equality is canonical equivalence")
        let old = pod(podSpec(containers: [("web", kelvin)]))
        let updated = pod(podSpec(containers: [("web", letter)]))
        let response = try decodeResponse(await responder.respond(
            to: review(kind: "Pod", resource: "pods", operation: "UPDATE", object: updated, oldObject: old), deadline: farDeadline))
        #expect(!response.allowed)
        #expect(response.status?.message?.contains(#"image "docker.io/library/nginx:1.25-K" (container "web") denied"#) == true,
                "\(response.status?.message ?? "allowed")")
        // The same bytes again: unchanged, not judged.
        let same = try decodeResponse(await responder.respond(
            to: review(kind: "Pod", resource: "pods", operation: "UPDATE", object: old, oldObject: old), deadline: farDeadline))
        #expect(same.allowed)
    }

    @Test(arguments: ["DELETE", "CONNECT"])
    func deleteAndConnectAreAllowedUntouched(_ operation: String) async throws {
        let pod = WorkloadFixture.all[0].wrap(podSpec(containers: [("web", deniedImage)]))
        let body = operation == "DELETE"
            ? review(kind: "Pod", resource: "pods", operation: operation, object: nil, oldObject: pod)
            : review(kind: "PodExecOptions", resource: "pods", subResource: "exec", operation: operation,
                     object: #"{"kind":"PodExecOptions","apiVersion":"v1","stdin":true,"command":["sh"]}"#)
        let response = try decodeResponse(await makeResponder().respond(to: body, deadline: farDeadline))
        #expect(response.allowed)
        #expect(response.warnings == nil)
        #expect(response.status == nil)
    }

    @Test func dryRunIsMarkedAndDecidedTheSame() async throws {
        let pod = WorkloadFixture.all[0].wrap(podSpec(containers: [("web", deniedImage)]))
        let response = try decodeResponse(await makeResponder().respond(
            to: review(kind: "Pod", resource: "pods", object: pod, dryRun: true), deadline: farDeadline))
        #expect(!response.allowed)
        #expect(response.auditAnnotations?["dry-run"] == "true")
        #expect(response.auditAnnotations?["decision"] == "denied")
    }

    @Test func warnModeBecomesWarnings() async throws {
        let pod = WorkloadFixture.all[0].wrap(podSpec(containers: [("web", "quay.io/warn/app:2")]))
        let response = try decodeResponse(await makeResponder().respond(to: review(kind: "Pod", resource: "pods", object: pod), deadline: farDeadline))
        #expect(response.allowed)
        #expect(response.warnings == [#"image "quay.io/warn/app:2" (container "web") would be denied by policy "warn-quay" (mode Warn), authority "authority-0": unsigned"#])
        #expect(response.auditAnnotations?["images"]?.contains(#""outcome":"warn""#) == true)
    }

    @Test func unknownKindWithoutPodSpecIsAllowedWithWarning() async throws {
        let configMap = #"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cfg","namespace":"team"},"data":{"image":"nginx"}}"#
        let response = try decodeResponse(await makeResponder().respond(
            to: review(kind: "ConfigMap", resource: "configmaps", object: configMap), deadline: farDeadline))
        #expect(response.allowed)
        #expect(response.warnings == ["signet does not evaluate kind ConfigMap"])
        #expect(response.auditAnnotations?["not-evaluated"] == "kind v1 ConfigMap has no pod spec")
    }

    @Test func unknownKindWithPodTemplateIsEvaluated() async throws {
        let rollout = #"{"kind":"Rollout","apiVersion":"argoproj.io/v1alpha1","metadata":{"name":"web","namespace":"team"},"spec":{"replicas":3,"template":\#(WorkloadFixture.template(podSpec(containers: [("web", deniedImage)])))}}"#
        let response = try decodeResponse(await makeResponder().respond(
            to: review(kind: "Rollout", group: "argoproj.io", version: "v1alpha1", resource: "rollouts", object: rollout), deadline: farDeadline))
        #expect(!response.allowed)
        #expect(response.warnings == nil)
    }

    @Test func podTemplateKind() async throws {
        let template = #"{"kind":"PodTemplate","apiVersion":"v1","metadata":{"name":"t","namespace":"team"},"template":\#(WorkloadFixture.template(podSpec(containers: [("web", deniedImage)])))}"#
        let response = try decodeResponse(await makeResponder().respond(
            to: review(kind: "PodTemplate", resource: "podtemplates", object: template), deadline: farDeadline))
        #expect(!response.allowed)
    }

    // MARK: - Malformed requests

    struct BadBody: Sendable, CustomStringConvertible {
        var label: String
        var body: String
        var message: String
        var description: String { label }
    }

    static let badBodies: [BadBody] = [
        BadBody(label: "not JSON", body: "<html>", message: "request body is not JSON"),
        BadBody(label: "empty", body: "", message: "request body is not JSON"),
        BadBody(label: "JSON array", body: "[]", message: "not a JSON object"),
        BadBody(label: "JSON string", body: #""AdmissionReview""#, message: "not a JSON object"),
        BadBody(label: "v1beta1", body: #"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE"}}"#,
                message: #"expected an admission.k8s.io/v1 AdmissionReview, got apiVersion "admission.k8s.io/v1beta1""#),
        BadBody(label: "wrong kind", body: #"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#, message: "expected an admission.k8s.io/v1 AdmissionReview"),
        BadBody(label: "no request", body: #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, message: "has no request"),
        BadBody(label: "missing uid", body: #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE"}}"#,
                message: "request.uid is missing"),
        BadBody(label: "empty uid", body: #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE"}}"#,
                message: "request.uid is empty"),
        BadBody(label: "unknown operation", body: #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"PATCH"}}"#,
                message: "request.operation"),
        BadBody(label: "object not an object", body: #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":[1]}}"#,
                message: "request.object"),
    ]

    @Test(arguments: badBodies)
    func badRequestsGet400(_ bad: BadBody) async throws {
        let result = try await makeResponder().respond(to: Array(bad.body.utf8), deadline: farDeadline)
        #expect(result.status == 400)
        #expect(result.contentType.hasPrefix("text/plain"))
        let text = String(decoding: result.body, as: UTF8.self)
        #expect(text.contains(bad.message), "\(text)")
    }

    struct MalformedPod: Sendable, CustomStringConvertible {
        var label: String
        var spec: String
        var reason: String
        var description: String { label }
    }

    static let malformedPods: [MalformedPod] = [
        MalformedPod(label: "containers not an array", spec: #"{"containers":{"name":"web","image":"ghcr.io/signet-demo/app"}}"#,
                     reason: "spec.containers is not an array"),
        MalformedPod(label: "container without image", spec: #"{"containers":[{"name":"ok","image":"ghcr.io/signet-demo/app"},{"name":"web"}]}"#,
                     reason: #"spec.containers[1] (container "web") has no image"#),
        MalformedPod(label: "empty image", spec: #"{"containers":[{"name":"web","image":""}]}"#,
                     reason: #"spec.containers[0] (container "web") has no image"#),
        MalformedPod(label: "image not a string", spec: #"{"containers":[{"name":"web","image":42}]}"#,
                     reason: #"spec.containers[0].image (container "web") is not a string"#),
        MalformedPod(label: "container not an object", spec: #"{"containers":["ghcr.io/signet-demo/app"]}"#,
                     reason: "spec.containers[0] is not an object"),
        MalformedPod(label: "init containers wrong type", spec: #"{"containers":[{"name":"web","image":"ghcr.io/signet-demo/app"}],"initContainers":"x"}"#,
                     reason: "spec.initContainers is not an array"),
        MalformedPod(label: "no containers", spec: #"{"restartPolicy":"Always"}"#, reason: "Pod has no containers at spec.containers"),
        MalformedPod(label: "volumes not an array", spec: #"{"containers":[{"name":"web","image":"ghcr.io/signet-demo/app"}],"volumes":{"name":"v"}}"#,
                     reason: "spec.volumes is not an array"),
        MalformedPod(label: "volume not an object", spec: #"{"containers":[{"name":"web","image":"ghcr.io/signet-demo/app"}],"volumes":[{"name":"a","emptyDir":{}},"nginx"]}"#,
                     reason: "spec.volumes[1] is not an object"),
        MalformedPod(label: "image volume source not an object", spec: #"{"containers":[{"name":"web","image":"ghcr.io/signet-demo/app"}],"volumes":[{"name":"m","image":"nginx"}]}"#,
                     reason: "spec.volumes[0].image is not an object"),
        MalformedPod(label: "image volume without reference", spec: #"{"containers":[{"name":"web","image":"ghcr.io/signet-demo/app"}],"volumes":[{"name":"m","image":{"pullPolicy":"Always"}}]}"#,
                     reason: #"spec.volumes[0].image (image volume "m") has no reference"#),
        MalformedPod(label: "image volume with an empty reference", spec: #"{"containers":[{"name":"web","image":"ghcr.io/signet-demo/app"}],"volumes":[{"name":"m","image":{"reference":""}}]}"#,
                     reason: #"spec.volumes[0].image (image volume "m") has no reference"#),
        MalformedPod(label: "image volume reference not a string", spec: #"{"containers":[{"name":"web","image":"ghcr.io/signet-demo/app"}],"volumes":[{"name":"m","image":{"reference":["nginx"]}}]}"#,
                     reason: #"spec.volumes[0].image.reference (image volume "m") is not a string"#),
        MalformedPod(label: "image volume name not a string", spec: #"{"containers":[{"name":"web","image":"ghcr.io/signet-demo/app"}],"volumes":[{"name":1,"image":{"reference":"nginx"}}]}"#,
                     reason: "spec.volumes[0].name is not a string"),
        MalformedPod(label: "spec not an object", spec: #""spec""#, reason: "spec (or a field on the way to it) is not an object"),
    ]

    @Test(arguments: malformedPods)
    func malformedPodSpecsAreDenied(_ bad: MalformedPod) async throws {
        let pod = #"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web","namespace":"team"},"spec":\#(bad.spec)}"#
        let result = try await makeResponder().respond(to: review(kind: "Pod", resource: "pods", object: pod), deadline: farDeadline)
        #expect(result.status == 200)
        let response = try decodeResponse(result)
        #expect(!response.allowed)
        #expect(response.status?.code == 403)
        #expect(response.status?.message?.contains(bad.reason) == true, "\(response.status?.message ?? "")")
    }

    /// A stored object whose pod spec signet cannot read (an image volume without a reference,
    /// which a template may carry) must still let go of a finalizer or take a label: an UPDATE
    /// that leaves its pod spec as it was is allowed, one that changes the pod spec is not.
    @Test func anUpdateThatLeavesAnUnreadablePodSpecAsItWasIsAllowed() async throws {
        let bad = #"{"containers":[{"name":"web","image":"ghcr.io/signet-demo/app"}],"volumes":[{"name":"m","image":{"pullPolicy":"Always"}}]}"#
        func deployment(_ spec: String, finalizers: String = "[]") -> String {
            #"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","namespace":"team","finalizers":\#(finalizers)},"spec":{"replicas":1,"template":{"spec":\#(spec)}}}"#
        }
        func update(_ object: String, _ old: String) async throws -> AdmissionResponse {
            try decodeResponse(await makeResponder().respond(
                to: review(kind: "Deployment", group: "apps", resource: "deployments", operation: "UPDATE", object: object, oldObject: old),
                deadline: farDeadline))
        }
        let letGo = try await update(deployment(bad), deployment(bad, finalizers: #"["example.com/cleanup"]"#))
        #expect(letGo.allowed, "\(letGo.status?.message ?? "")")
        let changed = bad.replacingOccurrences(of: #""name":"web","image":"ghcr.io/signet-demo/app""#, with: #""name":"web","image":"ghcr.io/signet-demo/app","command":["sh"]"#)
        let edited = try await update(deployment(changed), deployment(bad))
        #expect(!edited.allowed)
        #expect(edited.status?.message?.contains("has no reference") == true, "\(edited.status?.message ?? "")")
        let created = try decodeResponse(await makeResponder().respond(
            to: review(kind: "Deployment", group: "apps", resource: "deployments", object: deployment(bad)), deadline: farDeadline))
        #expect(!created.allowed, "a CREATE is not an unchanged update")
    }

    @Test func deploymentWithoutTemplateIsDenied() async throws {
        let deployment = #"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web"},"spec":{"replicas":1}}"#
        let response = try decodeResponse(await makeResponder().respond(
            to: review(kind: "Deployment", group: "apps", resource: "deployments", object: deployment), deadline: farDeadline))
        #expect(!response.allowed)
        #expect(response.status?.message == "signet denied Deployment: Deployment has no pod spec at spec.template.spec")
    }

    @Test func invalidImageReferenceIsDenied() async throws {
        let pod = WorkloadFixture.all[0].wrap(podSpec(containers: [("web", "Ghcr.io/signet-demo/App")]))
        let response = try decodeResponse(await makeResponder().respond(to: review(kind: "Pod", resource: "pods", object: pod), deadline: farDeadline))
        #expect(!response.allowed)
        #expect(response.status?.message?.contains("repository name must be lowercase") == true)
    }

    /// `sha256:<id>` would read as the Docker Hub image `library/sha256`, which few policies
    /// cover, while the runtime runs the local image of that ID: denied even where uncovered
    /// images are allowed.
    @Test func anImageIDIsDeniedWhateverTheNoMatchAction() async throws {
        let policies = try testPolicies()
        let responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: policies, noMatchAction: .allow))
        for image in ["sha256:" + String(repeating: "a", count: 64), "sha256:abab12"] {
            let pod = WorkloadFixture.all[0].wrap(podSpec(containers: [("web", image)]))
            let response = try decodeResponse(await responder.respond(to: review(kind: "Pod", resource: "pods", object: pod), deadline: farDeadline))
            #expect(!response.allowed, "\(image)")
            #expect(response.status?.message?.contains("an image ID (sha256:…), which the container runtime runs from the node's local images") == true,
                    "\(response.status?.message ?? "")")
        }
    }

    /// A list of a pod spec is read to 1,024 entries: one with more is refused, naming the list,
    /// in every kind, before its images are built.
    @Test func aListOfMoreEntriesThanSignetReadsIsDenied() async throws {
        let responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: try testPolicies(), noMatchAction: .allow))
        let many = (0..<1025).map { ("c\($0)", "ghcr.io/acme/app:\($0)") }
        for fixture in WorkloadFixture.all.prefix(2) {
            let object = fixture.wrap(podSpec(containers: many))
            let response = try decodeResponse(await responder.respond(
                to: review(kind: fixture.kind, group: fixture.group, resource: fixture.resource, object: object), deadline: farDeadline))
            #expect(!response.allowed, "\(fixture.kind)")
            #expect(response.status?.message?.contains("containers holds more than 1024 entries, more than signet reads in one list") == true,
                    "\(response.status?.message ?? "")")
        }
        let enough = WorkloadFixture.all[0].wrap(podSpec(containers: Array(many.prefix(1024))))
        #expect(try decodeResponse(await responder.respond(to: review(kind: "Pod", resource: "pods", object: enough), deadline: farDeadline)).allowed)
    }

    @Test func evaluatorProviderIsAskedPerRequest() async throws {
        let policies = try testPolicies()
        let responder = AdmissionResponder { PolicyEvaluator(policies: policies, noMatchAction: .allow) }
        let pod = WorkloadFixture.all[0].wrap(podSpec(containers: [("web", "quay.io/x/y:1")]))
        let response = try decodeResponse(await responder.respond(to: review(kind: "Pod", resource: "pods", object: pod), deadline: farDeadline))
        #expect(response.allowed)
        #expect(response.auditAnnotations?["policy-revision"] == policies.revision)
    }
}

@Suite("Synthetic reviews")
struct SyntheticReviewTests {
    @Test func wrapsABareDeployment() async throws {
        let deployment = WorkloadFixture.all[1].wrap(podSpec(containers: [("web", deniedImage)]))
        let body = try AdmissionReview.makeSynthetic(objectJSON: Array(deployment.utf8), namespace: "demo")
        let request = try JSONDecoder().decode(AdmissionReview.self, from: Data(body)).request
        #expect(request?.kind == GroupVersionKind(group: "apps", version: "v1", kind: "Deployment"))
        #expect(request?.resource?.resource == "deployments")
        #expect(request?.namespace == "demo")
        #expect(request?.operation == .create)
        let response = try decodeResponse(await makeResponder().respond(to: body, deadline: farDeadline))
        #expect(!response.allowed)
        #expect(response.status?.message?.contains("deny-untrusted") == true)
    }

    @Test func wrapsABarePod() async throws {
        let pod = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"ok"},"spec":{"containers":[{"name":"app","image":"ghcr.io/signet-demo/app:v1"}]}}"#
        let body = try AdmissionReview.makeSynthetic(objectJSON: Array(pod.utf8))
        let response = try decodeResponse(await makeResponder().respond(to: body, deadline: farDeadline))
        #expect(response.allowed)
        #expect(response.auditAnnotations?["dry-run"] == "true")
    }

    @Test(arguments: ["[]", "{}", #"{"kind":"Pod"}"#, "nope"])
    func refusesObjectsWithoutKind(_ json: String) {
        #expect(throws: AdmissionReview.SyntheticReviewError.self) { try AdmissionReview.makeSynthetic(objectJSON: Array(json.utf8)) }
    }
}

@Suite("Workload images")
struct WorkloadImagesTests {
    /// Each use knows its list and its index there (where a JSON Patch pins its image).
    @Test func orderTypesAndPositions() {
        let pod = #"{"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"w"}],"initContainers":[{"name":"i","image":"y"}],"ephemeralContainers":[{"name":"e","image":"z"}]}}"#
        let extraction = WorkloadImages.extract(objectJSON: Array(pod.utf8), kind: "Pod")
        #expect(extraction == .podSpec(path: "spec", images: [
            ImageUse(image: "y", container: "i", containerType: .initContainer, position: 0),
            ImageUse(image: "x", container: "a", containerType: .container, position: 0),
            ImageUse(image: "w", container: "b", containerType: .container, position: 1),
            ImageUse(image: "z", container: "e", containerType: .ephemeralContainer, position: 0),
        ]))
    }

    /// Image volumes come after the containers, at their index among all volumes; volumes of
    /// other types, and `null` where the API server writes none, are passed over.
    @Test func imageVolumesAndTheirPositions() {
        let pod = #"{"spec":{"containers":[{"name":"a","image":"x"}],"volumes":[{"name":"c","configMap":{"name":"m"}},{"name":"m","image":{"reference":"v:1","pullPolicy":"Always"}},{"name":"n","image":null},{"image":{"reference":"u"}}]}}"#
        #expect(WorkloadImages.extract(objectJSON: Array(pod.utf8), kind: "Pod") == .podSpec(path: "spec", images: [
            ImageUse(image: "x", container: "a", containerType: .container, position: 0),
            ImageUse(image: "v:1", container: "m", containerType: .imageVolume, position: 1),
            ImageUse(image: "u", container: "#3", containerType: .imageVolume, position: 3),
        ]))
        let deployment = #"{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"}],"volumes":[{"name":"m","image":{"reference":"v:1"}}]}}}}"#
        #expect(WorkloadImages.extract(objectJSON: Array(deployment.utf8), kind: "Deployment") == .podSpec(path: "spec.template.spec", images: [
            ImageUse(image: "x", container: "a", containerType: .container, position: 0),
            ImageUse(image: "v:1", container: "m", containerType: .imageVolume, position: 0),
        ]))
        // `volumes` without containers is no pod spec.
        #expect(WorkloadImages.extract(objectJSON: Array(#"{"spec":{"volumes":[{"name":"m","image":{"reference":"v"}}]}}"#.utf8), kind: "Unknown") == .noPodSpec)
    }

    @Test func cronJobPath() {
        let cronJob = #"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}}}}"#
        #expect(WorkloadImages.extract(objectJSON: Array(cronJob.utf8), kind: "CronJob")
            == .podSpec(path: "spec.jobTemplate.spec.template.spec", images: [ImageUse(image: "x", container: "a", position: 0)]))
        #expect(WorkloadImages.extract(objectJSON: Array(cronJob.utf8), kind: "SomethingNew")
            == .podSpec(path: "spec.jobTemplate.spec.template.spec", images: [ImageUse(image: "x", container: "a", position: 0)]))
        #expect(WorkloadImages.extract(objectJSON: Array(#"{"spec":{"replicas":1}}"#.utf8), kind: "Scale") == .noPodSpec)
    }
}

/// `begin` answers what needs no verification at once and leaves the rest to a closure.
struct AdmissionBeginningTests {
    /// Passes every image after a short wait, counting its calls.
    final class SlowVerifier: AuthorityVerifier, Sendable {
        private let count = NIOLockedValueBox(0)
        var calls: Int { count.withLockedValue { $0 } }

        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            count.withLockedValue { $0 += 1 }
            try await Task.sleep(for: .milliseconds(10))
            return AuthorityVerdict(passed: true, authority: authority.name, reason: "signed by the release workflow")
        }
    }

    /// Counts its calls and waits until cancelled (a registry that never answers).
    final class HangingVerifier: AuthorityVerifier, Sendable {
        private let count = NIOLockedValueBox(0)
        var calls: Int { count.withLockedValue { $0 } }

        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            count.withLockedValue { $0 += 1 }
            try await Task.sleep(for: .seconds(3600))
            return AuthorityVerdict(passed: true, authority: authority.name, reason: "too late")
        }
    }

    /// Keeps every audit record.
    final class RecordCapture: AuditSink {
        private let records = NIOLockedValueBox<[AdmissionAuditRecord]>([])
        var count: Int { records.withLockedValue { $0.count } }
        var kinds: [String] { records.withLockedValue { $0.map(\.kind) } }
        func record(_ record: AdmissionAuditRecord) { records.withLockedValue { $0.append(record) } }
    }

    /// A review whose client went away (its task cancelled, as the server does when the
    /// connection closes) starts no verification beyond those under way, and leaves no audit
    /// record (nor, from it, a history entry, an alert or an Event) of a decision nobody received.
    @Test func anAbandonedReviewStartsNothingMoreAndRecordsNothing() async throws {
        let keyless = try PolicyLoader().load(files: [PolicySourceFile(
            name: "keyless.yaml",
            bytes: Array(try Data(contentsOf: TestPaths.packageRoot.appendingPathComponent("policies/examples/keyless-github-actions.yaml"))))])
        let verifier = HangingVerifier()
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: keyless, verifier: verifier))
        let records = RecordCapture()
        responder.auditSink = records
        let pod = WorkloadFixture.all[0].wrap
        let containers = (0..<40).map { ("c\($0)", "ghcr.io/my-org/my-app:v\($0)") }
        let body = review(kind: "Pod", resource: "pods", object: pod(podSpec(containers: containers)))
        let reviewing = Task { [responder] in await responder.respond(to: body, deadline: farDeadline) }
        // The evaluator verifies 16 at a time (`PolicyEvaluator.concurrentVerifications`).
        let atOnce = 16
        // Generous: with every suite running beside it on two cores, a review can wait minutes for a thread.
        let end = ContinuousClock.now + TestBudget.seconds(600)
        while verifier.calls < atOnce, ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(10)) }
        #expect(verifier.calls == atOnce)
        reviewing.cancel()
        _ = await reviewing.value
        #expect(verifier.calls == atOnce, "verifications started after the review was abandoned")
        #expect(records.count == 0, "an abandoned review was recorded as a decision")
    }

    /// Asks for the registry credentials of each image it verifies, as a registry request
    /// does, and passes it.
    struct CredentialAskingVerifier: AuthorityVerifier {
        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            _ = await RequestCredentials.credential(for: "ghcr.io")
            return AuthorityVerdict(passed: true, authority: authority.name, reason: "signed by the release workflow")
        }
    }

    /// Notes the namespace of every admission whose pull secrets were read.
    final class RecordingCredentials: RegistryCredentialProvider {
        private let asked = NIOLockedValueBox<[String]>([])
        var namespaces: [String] { asked.withLockedValue { $0 } }
        func credentials(for subject: AdmissionSubject) async -> RegistryCredentialStore {
            asked.withLockedValue { $0.append(subject.namespace ?? "") }
            return RegistryCredentialStore()
        }
    }

    /// A review not known to come from the API server, to `/validate` or `/mutate`, is verified
    /// with signet's own registry credentials only: the pull secrets it names are a namespace's,
    /// whose share of secret reads it would spend and whose private registries it would reach.
    /// The API server's review of the same Pod reads them.
    @Test func aReviewNotFromTheAPIServerReadsNoPullSecrets() async throws {
        let keyless = try PolicyLoader().load(files: [PolicySourceFile(
            name: "keyless.yaml",
            bytes: Array(try Data(contentsOf: TestPaths.packageRoot.appendingPathComponent("policies/examples/keyless-github-actions.yaml"))))])
        let credentials = RecordingCredentials()
        let responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: keyless, verifier: CredentialAskingVerifier(), credentialProvider: credentials))
        func pod(_ image: String) -> String {
            WorkloadFixture.all[0].wrap(podSpec(containers: [("web", image)])
                .replacingOccurrences(of: #"{"containers":"#, with: #"{"imagePullSecrets":[{"name":"regcred"}],"containers":"#))
        }
        let pinned = pod("ghcr.io/my-org/my-app@sha256:" + String(repeating: "1", count: 64))
        let forged = AdmissionClient(address: "10.244.1.7:40112", fromAPIServer: false)
        let answer = try decodeResponse(await responder.respond(to: review(kind: "Pod", resource: "pods", object: pinned), deadline: farDeadline, client: forged))
        #expect(answer.allowed)
        _ = await responder.respondToMutation(review(kind: "Pod", resource: "pods", object: pod("ghcr.io/my-org/my-app:v1")), deadline: farDeadline, client: forged)
        #expect(credentials.namespaces.isEmpty, "a forged review read the pull secrets of \(credentials.namespaces)")
        let real = try decodeResponse(await responder.respond(
            to: review(kind: "Pod", resource: "pods", object: pinned), deadline: farDeadline, client: AdmissionClient(address: "10.0.0.1:52144")))
        #expect(real.allowed)
        #expect(credentials.namespaces == ["team"])
    }

    /// A review naming a guarded kind under a group it does not belong to is recorded with its
    /// group, also when it is refused before any image is evaluated (no object): its deny alert
    /// is then limited as a workload's, not taken for an attempt to switch signet off.
    @Test func aMadeUpGuardedKindIsRecordedWithItsGroup() async throws {
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: try testPolicies(), verifier: HangingVerifier()))
        let records = RecordCapture()
        responder.auditSink = records
        for (group, object) in [("apps", nil), ("apps", WorkloadFixture.all[0].wrap(podSpec(containers: [("web", deniedImage)])))] as [(String, String?)] {
            let body = review(kind: "EmergencyBypass", group: group, resource: "emergencybypasses", object: object)
            let answer = try decodeResponse(await responder.respond(to: body, deadline: farDeadline))
            #expect(!answer.allowed)
        }
        #expect(records.kinds == ["EmergencyBypass.apps", "EmergencyBypass.apps"])
    }

    @Test func warmDecisionsAreAnsweredAtOnceAndVerificationsAreLeftToWaitFor() async throws {
        let keyless = try PolicyLoader().load(files: [PolicySourceFile(
            name: "keyless.yaml",
            bytes: Array(try Data(contentsOf: TestPaths.packageRoot.appendingPathComponent("policies/examples/keyless-github-actions.yaml"))))])
        let verifier = SlowVerifier()
        let policies = PolicySet(policies: try testPolicies().policies + keyless.policies, revision: "test")
        let responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: policies, verifier: verifier))
        let pod = WorkloadFixture.all[0].wrap

        // Static authorities only: decided and answered without waiting, as `respond` answers.
        let warm = review(kind: "Pod", resource: "pods", object: pod(podSpec(containers: [("web", allowedImage), ("proxy", deniedImage)])))
        guard case .answered(let answered) = responder.begin(warm, deadline: farDeadline) else {
            Issue.record("a decision that needs no verification waited")
            return
        }
        let expected = try decodeResponse(await responder.respond(to: warm, deadline: farDeadline))
        #expect(try decodeResponse(answered) == expected)
        #expect(!expected.allowed)

        // A keyless authority: nothing is verified until the closure runs.
        let cold = review(kind: "Pod", resource: "pods", object: pod(podSpec(containers: [("app", "ghcr.io/my-org/my-app:v1.2.3")])))
        guard case .waiting(let rest) = responder.begin(cold, deadline: farDeadline) else {
            Issue.record("a keyless verification was not waited for")
            return
        }
        #expect(verifier.calls == 0)
        let verified = try decodeResponse(await rest())
        #expect(verifier.calls == 1)
        #expect(verified.allowed)
        #expect(verified.auditAnnotations?["images"]?.contains(#""outcome":"allow""#) == true)
    }
}
