import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `/mutate` pins what `/validate` verifies: a real registry, real signatures, `signet serve`,
/// and the patch applied to the original Pod by an independent JSON Patch (RFC 6902)
/// implementation (Python's `jsonpatch`), as the API server applies it.
@Suite("Digest pinning", .serialized)
struct DigestPinningTests {
    /// An AdmissionReview of a Pod (CREATE) with `containers`, `initContainers` and, after an
    /// `emptyDir` volume, image volumes.
    static func podReview(
        uid: String, containers: [(String, String)], initContainers: [(String, String)] = [], imageVolumes: [(String, String)] = []
    ) -> String {
        func list(_ entries: [(String, String)]) -> String {
            entries.map { #"{"name":"\#($0.0)","image":"\#($0.1)"}"# }.joined(separator: ",")
        }
        let volumes = ([#"{"name":"scratch","emptyDir":{}}"#] + imageVolumes.map { #"{"name":"\#($0.0)","image":{"reference":"\#($0.1)"}}"# })
            .joined(separator: ",")
        let pod = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"team"},"spec":{"containers":[\#(list(containers))],"initContainers":[\#(list(initContainers))],"volumes":[\#(volumes)]}}"#
        return """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\(uid)",\
            "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
            "namespace":"team","operation":"CREATE","object":\(pod)}}
            """
    }

    /// POSTs `review` to `path` and returns the `response` object.
    static func post(_ server: SignetServerFixture, _ path: String, _ review: String, in directory: TemporaryDirectory) async throws -> [String: Any] {
        let file = try directory.write("\(UUID().uuidString).json", review).path
        let result = try await server.curl([
            "-sS", "-H", "Content-Type: application/json", "--data-binary", "@\(file)", "\(server.baseURL)\(path)?timeout=30s",
        ])
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return try #require(document?["response"] as? [String: Any], "\(result.stdout) \(result.stderr)")
    }

    /// The pod of `review` with the response's patch applied by Python's `jsonpatch`.
    static func apply(_ response: [String: Any], to review: String, in directory: TemporaryDirectory) async throws -> [String: Any] {
        let encoded = try #require(response["patch"] as? String)
        #expect(response["patchType"] as? String == "JSONPatch")
        let patch = try #require(Data(base64Encoded: encoded))
        let object = try #require((try JSONSerialization.jsonObject(with: Data(review.utf8)) as? [String: Any])?["request"] as? [String: Any])["object"]
        let objectFile = try directory.write("object.json", String(decoding: try JSONSerialization.data(withJSONObject: object as Any), as: UTF8.self)).path
        let patchFile = try directory.write("patch.json", String(decoding: patch, as: UTF8.self)).path
        let script = "import json,sys,jsonpatch; print(json.dumps(jsonpatch.apply_patch(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))))"
        let applied = try await TestProcess.run("python3", ["-c", script, objectFile, patchFile])
        #expect(applied.status == 0, "\(applied.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(applied.stdout.utf8)) as? [String: Any])
    }

    static func images(_ pod: [String: Any], _ field: String) -> [String] {
        ((pod["spec"] as? [String: Any])?[field] as? [[String: Any]] ?? []).compactMap { $0["image"] as? String }
    }

    /// The references of the pod's image volumes, in order.
    static func imageVolumes(_ pod: [String: Any]) -> [String] {
        ((pod["spec"] as? [String: Any])?["volumes"] as? [[String: Any]] ?? []).compactMap { ($0["image"] as? [String: Any])?["reference"] as? String }
    }

    /// The review of `pod` (an object already patched) for `/validate`.
    static func review(of pod: [String: Any], uid: String) throws -> String {
        let object = String(decoding: try JSONSerialization.data(withJSONObject: pod), as: UTF8.self)
        return """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\(uid)",\
            "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
            "namespace":"team","operation":"CREATE","object":\(object)}}
            """
    }

    @Test func tagsArePinnedToTheVerifiedDigestAndARetagCannotChangeAnAdmittedPod() async throws {
        let registry = try await RegistryFixture.start()
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let images = TestRegistryImages(client: client)
        let key = try await TestSigningKey.generate(.ecP256)
        let web = try ImageReference(parsing: "\(registry.host)/team/web:v1")
        let first = try await images.pushImage(web)
        try await images.sign(first, in: web, with: [key])
        let unsigned = try ImageReference(parsing: "\(registry.host)/team/unsigned:v1")
        let unsignedDigest = try await images.pushImage(unsigned)

        let policies = TemporaryDirectory(prefix: "signet-pinning-policies")
        try policies.write("team.yaml", keyPolicyYAML(name: "team-signed", glob: "\(registry.host)/team/**", keyFile: key.publicKeyFile))
        try policies.write("strict.yaml", keyPolicyYAML(
            name: "strict-digests", glob: "\(registry.host)/team/web", keyFile: key.publicKeyFile, extraSpec: "  requireDigest: true\n"))
        let server = try await SignetServerFixture.start(
            policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host, "--tag-cache-ttl", "1s"])
        let scratch = TemporaryDirectory(prefix: "signet-pinning")

        // The Pod names web by tag three times (a container, an init container and an image
        // volume) and an unsigned image.
        let original = Self.podReview(
            uid: "pin-1", containers: [("web", web.description), ("sidecar", unsigned.description)], initContainers: [("setup", web.description)],
            imageVolumes: [("assets", web.description)])

        // /validate alone: the tag is refused by the policy that requires a digest, naming why.
        let unpinned = try await Self.post(server, "/validate", original, in: scratch)
        #expect(unpinned["allowed"] as? Bool == false)
        #expect(((unpinned["status"] as? [String: Any])?["message"] as? String)?.contains("named by tag alone and this policy requires a digest") == true)

        // /mutate allows (it never denies) and pins both uses of web to the verified digest; the
        // unsigned image has no verified digest and is left as written.
        let mutation = try await Self.post(server, "/mutate", original, in: scratch)
        #expect(mutation["allowed"] as? Bool == true)
        let pinned = try await Self.apply(mutation, to: original, in: scratch)
        #expect(Self.images(pinned, "containers") == ["\(web)@\(first)", unsigned.description])
        #expect(Self.images(pinned, "initContainers") == ["\(web)@\(first)"])
        #expect(Self.imageVolumes(pinned) == ["\(web)@\(first)"])
        #expect((mutation["auditAnnotations"] as? [String: String])?["pinned"]?.contains("container \"web\": \(web)@\(first)") == true)
        #expect((mutation["auditAnnotations"] as? [String: String])?["pinned"]?.contains("image volume \"assets\": \(web)@\(first)") == true)

        // An unsigned image mounted as a volume denies the Pod, whose containers are all signed.
        let unsignedVolume = Self.podReview(uid: "pin-0", containers: [("web", "\(web)@\(first)")], imageVolumes: [("assets", unsigned.description)])
        let volumeAnswer = try await Self.post(server, "/validate", unsignedVolume, in: scratch)
        #expect(volumeAnswer["allowed"] as? Bool == false)
        let volumeMessage = (volumeAnswer["status"] as? [String: Any])?["message"] as? String ?? ""
        #expect(volumeMessage.contains(#"image "\#(unsigned)" (image volume "assets") denied by policy "team-signed""#), "\(volumeMessage)")

        // /validate after mutation: web is now verified by the digest it names; the unsigned
        // sidecar still denies the Pod.
        let afterMutation = try await Self.post(server, "/validate", try Self.review(of: pinned, uid: "pin-2"), in: scratch)
        #expect(afterMutation["allowed"] as? Bool == false)
        let message = (afterMutation["status"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains(unsigned.name) && !message.contains("\(web)@\(first)\""), "\(message)")
        let onlyWeb = Self.podReview(uid: "pin-3", containers: [("web", web.description)])
        let pinnedWeb = try await Self.apply(try await Self.post(server, "/mutate", onlyWeb, in: scratch), to: onlyWeb, in: scratch)
        let admitted = try await Self.post(server, "/validate", try Self.review(of: pinnedWeb, uid: "pin-4"), in: scratch)
        #expect(admitted["allowed"] as? Bool == true, "\(admitted)")

        // The tag is moved to another signed build: a new Pod is pinned to the new digest, while
        // the Pod admitted before keeps the digest it was pinned to, and that digest still verifies.
        let second = try await images.pushImage(web)
        try await images.sign(second, in: web, with: [key])
        #expect(second != first)
        try await Task.sleep(for: .milliseconds(1500))  // past the 1 s tag cache
        let later = try await Self.apply(try await Self.post(server, "/mutate", onlyWeb, in: scratch), to: onlyWeb, in: scratch)
        #expect(Self.images(later, "containers") == ["\(web)@\(second)"])
        #expect(Self.images(pinnedWeb, "containers") == ["\(web)@\(first)"])
        let stillAdmitted = try await Self.post(server, "/validate", try Self.review(of: pinnedWeb, uid: "pin-5"), in: scratch)
        #expect(stillAdmitted["allowed"] as? Bool == true)

        // A Pod that names web's tag with an unsigned digest is verified by the digest it names.
        let forged = Self.podReview(uid: "pin-6", containers: [("web", "\(web)@\(unsignedDigest)")])
        let forgedAnswer = try await Self.post(server, "/validate", forged, in: scratch)
        #expect(forgedAnswer["allowed"] as? Bool == false)
        let forgedMutation = try await Self.post(server, "/mutate", forged, in: scratch)
        #expect(forgedMutation["patch"] == nil, "an image that names a digest is never rewritten")

        // Not a Pod: never mutated.
        let deployment = original.replacingOccurrences(of: #""kind":{"group":"","version":"v1","kind":"Pod"}"#, with: #""kind":{"group":"apps","version":"v1","kind":"Deployment"}"#)
        #expect(try await Self.post(server, "/mutate", deployment, in: scratch)["patch"] == nil)
        #expect(server.stop() == 0)
    }
    /// With `--require-pinned-digests` (the chart sets it with the mutating webhook), a Pod image
    /// that its policy verified by digest but that reaches /validate named by tag alone (the
    /// mutating webhook timed out, was skipped, or a later webhook put the tag back) is denied,
    /// naming the digest; the same Pod through /mutate first is admitted. Without the flag the
    /// tag is admitted, as before.
    @Test func aVerifiedTagThatArrivesUnpinnedIsDeniedWhenPinningIsRequired() async throws {
        let registry = try await RegistryFixture.start()
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let images = TestRegistryImages(client: client)
        let key = try await TestSigningKey.generate(.ecP256)
        let web = try ImageReference(parsing: "\(registry.host)/team/web:v1")
        let digest = try await images.pushImage(web)
        try await images.sign(digest, in: web, with: [key])
        let policies = TemporaryDirectory(prefix: "signet-pinning-required")
        try policies.write("team.yaml", keyPolicyYAML(name: "team-signed", glob: "\(registry.host)/team/**", keyFile: key.publicKeyFile))
        let scratch = TemporaryDirectory(prefix: "signet-pinning-required-reviews")
        let tagged = Self.podReview(uid: "req-1", containers: [("web", web.description)], imageVolumes: [("assets", web.description)])

        let lenient = try await SignetServerFixture.start(
            policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host])
        #expect(try await Self.post(lenient, "/validate", tagged, in: scratch)["allowed"] as? Bool == true)
        #expect(lenient.stop() == 0)

        let server = try await SignetServerFixture.start(
            policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host, "--require-pinned-digests=true"])
        let unpinned = try await Self.post(server, "/validate", tagged, in: scratch)
        #expect(unpinned["allowed"] as? Bool == false)
        let message = (unpinned["status"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains(#"image "\#(web)" (container "web") is named by tag alone: policy "team-signed" verified it as \#(digest)"#), "\(message)")
        #expect(message.contains(#"(image volume "assets") is named by tag alone"#), "\(message)")
        #expect(message.contains("name the image as \(web)@\(digest)"), "\(message)")

        // Through /mutate first, as the API server calls them: admitted.
        let pinned = try await Self.apply(try await Self.post(server, "/mutate", tagged, in: scratch), to: tagged, in: scratch)
        #expect(Self.images(pinned, "containers") == ["\(web)@\(digest)"])
        let admitted = try await Self.post(server, "/validate", try Self.review(of: pinned, uid: "req-2"), in: scratch)
        #expect(admitted["allowed"] as? Bool == true, "\(admitted)")

        // What /mutate never pins is not required to be pinned: a Deployment's template.
        let deployment = tagged.replacingOccurrences(of: #""kind":{"group":"","version":"v1","kind":"Pod"}"#, with: #""kind":{"group":"apps","version":"v1","kind":"Deployment"}"#)
            .replacingOccurrences(of: #""resource":{"group":"","version":"v1","resource":"pods"}"#, with: #""resource":{"group":"apps","version":"v1","resource":"deployments"}"#)
            .replacingOccurrences(of: #""spec":{"containers""#, with: #""spec":{"template":{"spec":{"containers""#)
            .replacingOccurrences(of: #"]}}}}"#, with: #"]}}}}}}"#)
        let controller = try await Self.post(server, "/validate", deployment, in: scratch)
        #expect(controller["allowed"] as? Bool == true, "\(controller)")
        #expect(server.stop() == 0)
    }

    /// A policy limited to `prod-*` tags, beside one for every tag. A Pod pinned by `/mutate`
    /// names its dev tag beside the digest that tag names, and is admitted; a Pod that writes the
    /// dev tag beside the digest of an unreleased `prod-*` build is denied by the release policy,
    /// since the digest is what runs. The tag is resolved at the real registry.
    @Test func aTagBesideADigestCountsOnlyWhenItNamesThatDigest() async throws {
        let registry = try await RegistryFixture.start()
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let images = TestRegistryImages(client: client)
        let ci = try await TestSigningKey.generate(.ecP256)
        let release = try await TestSigningKey.generate(.ecP256, slot: 1)
        let dev = try ImageReference(parsing: "\(registry.host)/team/app:dev")
        let devBuild = try await images.pushImage(dev)
        try await images.sign(devBuild, in: dev, with: [ci])
        let candidate = try ImageReference(parsing: "\(registry.host)/team/app:prod-2")
        let unreleased = try await images.pushImage(candidate)
        try await images.sign(unreleased, in: candidate, with: [ci])

        let policies = TemporaryDirectory(prefix: "signet-tag-claim-policies")
        try policies.write("ci.yaml", keyPolicyYAML(name: "ci-signed", glob: "\(registry.host)/team/**", keyFile: ci.publicKeyFile))
        try policies.write("release.yaml", keyPolicyYAML(name: "release-tags", glob: "\(registry.host)/team/app:prod-*", keyFile: release.publicKeyFile))
        let server = try await SignetServerFixture.start(policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host])
        let scratch = TemporaryDirectory(prefix: "signet-tag-claim")

        // The dev tag, pinned by /mutate: the release policy does not cover it.
        let original = Self.podReview(uid: "claim-1", containers: [("app", dev.description)])
        let pinned = try await Self.apply(try await Self.post(server, "/mutate", original, in: scratch), to: original, in: scratch)
        #expect(Self.images(pinned, "containers") == ["\(dev)@\(devBuild)"])
        let admitted = try await Self.post(server, "/validate", try Self.review(of: pinned, uid: "claim-2"), in: scratch)
        #expect(admitted["allowed"] as? Bool == true, "\(admitted)")

        // The dev tag written beside the unreleased build's digest: that build runs, and the
        // release policy, which it does not pass, decides.
        let smuggled = Self.podReview(uid: "claim-3", containers: [("app", "\(dev)@\(unreleased)")])
        let denied = try await Self.post(server, "/validate", smuggled, in: scratch)
        #expect(denied["allowed"] as? Bool == false, "\(denied)")
        let message = (denied["status"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains("denied by policy \"release-tags\""), "\(message)")
    }
}
