import Foundation
import NIOConcurrencyHelpers
import SignetAdmission
import SignetPolicy
import SignetRegistry
import Testing

/// `--require-pinned-digests`: `/validate` denies what `/mutate` pins but what arrived unpinned,
/// and nothing else. The verifier is a stand-in that verifies every image as one digest (the
/// real registry, signatures and server are in `DigestPinningTests`); these tests walk the
/// admission paths around the rule.
@Suite("Pinning required")
struct PinningRequiredTests {
    static let digest = try! ImageDigest(parsing: "sha256:" + String(repeating: "c", count: 64))
    static let now = KubernetesTime.parse("2026-11-22T10:00:00Z")!

    /// Passes every image, as verified at ``digest``, for every authority but one named `second`.
    struct VerifiesAsOneDigest: AuthorityVerifier {
        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            guard authority.name != "second" else {
                return AuthorityVerdict(passed: false, authority: authority.name, reason: "no signature by the second workflow")
            }
            return AuthorityVerdict(passed: true, authority: authority.name, reason: "signed by the release workflow", digest: PinningRequiredTests.digest)
        }
    }

    /// `my-app` under an Enforce policy, `tool` under a Warn one, `legacy` under an Enforce one
    /// that a PolicyException lifts for Pod `excepted` in `team`, `strict` under that one too and
    /// one whose second authority fails, which another PolicyException lifts for tag `v1`, and a
    /// third for every image of Pod `batch`.
    static let policies = """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: strict-two-signers
        spec:
          images:
            - glob: "ghcr.io/my-org/strict"
          authorities:
            - name: release
              keyless:
                identities:
                  - issuer: "https://token.actions.githubusercontent.com"
                    subject: "https://github.com/my-org/strict/.github/workflows/release.yml@refs/heads/main"
            - name: second
              keyless:
                identities:
                  - issuer: "https://token.actions.githubusercontent.com"
                    subject: "https://github.com/my-org/strict/.github/workflows/second.yml@refs/heads/main"
        ---
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: my-app-signed
        spec:
          images:
            - glob: "ghcr.io/my-org/my-app"
            - glob: "ghcr.io/my-org/legacy"
            - glob: "ghcr.io/my-org/strict"
          authorities:
            - name: release
              keyless:
                identities:
                  - issuer: "https://token.actions.githubusercontent.com"
                    subject: "https://github.com/my-org/my-app/.github/workflows/release.yml@refs/heads/main"
        ---
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: tool-trial
        spec:
          images:
            - glob: "ghcr.io/my-org/tool"
          authorities:
            - name: release
              keyless:
                identities:
                  - issuer: "https://token.actions.githubusercontent.com"
                    subject: "https://github.com/my-org/tool/.github/workflows/release.yml@refs/heads/main"
          mode: Warn
        ---
        apiVersion: signet.dev/v1alpha1
        kind: PolicyException
        metadata:
          name: legacy
          namespace: team
          creationTimestamp: "2026-11-20T10:00:00Z"
        spec:
          policies: [my-app-signed]
          kinds: [Pod]
          names: [excepted]
          reason: legacy build under review
          approvedBy: security@example.com
          validUntil: "2026-12-01T00:00:00Z"
        ---
        apiVersion: signet.dev/v1alpha1
        kind: PolicyException
        metadata:
          name: strict-v1
          namespace: team
          creationTimestamp: "2026-11-20T10:00:00Z"
        spec:
          policies: [strict-two-signers]
          images:
            - glob: "ghcr.io/my-org/strict:v1"
          reason: the second workflow signs from the next release
          approvedBy: security@example.com
          validUntil: "2026-12-01T00:00:00Z"
        ---
        apiVersion: signet.dev/v1alpha1
        kind: PolicyException
        metadata:
          name: batch
          namespace: team
          creationTimestamp: "2026-11-20T10:00:00Z"
        spec:
          policies: [strict-two-signers]
          kinds: [Pod]
          names: [batch]
          reason: the batch job is signed by the release workflow only
          approvedBy: security@example.com
          validUntil: "2026-12-01T00:00:00Z"
        """

    static func responder(requirePinned: Bool = true, policies yaml: String = policies) throws -> AdmissionResponder {
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(yaml.utf8))])
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(
            policies: set, verifier: VerifiesAsOneDigest(), exemptions: ExemptionConfiguration(clock: .fixed(now))))
        responder.requirePinnedDigests = requirePinned
        return responder
    }

    static func pod(_ containers: [(String, String)], name: String = "web", ephemeral: [(String, String)] = []) -> String {
        #"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"\#(name)","namespace":"team"},"spec":\#(podSpec(containers: containers, ephemeral: ephemeral))}"#
    }

    static func decide(
        _ responder: AdmissionResponder, kind: String = "Pod", group: String = "", resource: String = "pods", subResource: String? = nil,
        name: String = "web", operation: String = "CREATE", object: String, oldObject: String? = nil, dryRun: Bool = false
    ) async throws -> AdmissionResponse {
        try decodeResponse(await responder.respond(
            to: review(kind: kind, group: group, resource: resource, subResource: subResource, name: name, operation: operation,
                       object: object, oldObject: oldObject, dryRun: dryRun),
            deadline: farDeadline))
    }

    static let app = "ghcr.io/my-org/my-app:v1"

    @Test func aVerifiedTagThatArrivesUnpinnedIsDeniedNamingTheDigestAndItsPinnedFormIsAdmitted() async throws {
        let responder = try Self.responder()
        for dryRun in [false, true] {
            let denied = try await Self.decide(responder, object: Self.pod([("web", Self.app)]), dryRun: dryRun)
            #expect(!denied.allowed)
            let message = denied.status?.message ?? ""
            #expect(message.hasPrefix(#"image "ghcr.io/my-org/my-app:v1" (container "web") is named by tag alone: policy "my-app-signed" verified it as \#(Self.digest)"#), "\(message)")
            #expect(message.contains("name the image as \(Self.app)@\(Self.digest)"), "\(message)")
        }
        #expect(try await Self.decide(responder, object: Self.pod([("web", "\(Self.app)@\(Self.digest)")])).allowed)
        #expect(try await Self.decide(try Self.responder(requirePinned: false), object: Self.pod([("web", Self.app)])).allowed)
    }

    @Test func onlyWhatMutateWouldPinIsRequired() async throws {
        let responder = try Self.responder()
        // Vouched for by a Warn policy only: never denied by the rule.
        #expect(try await Self.decide(responder, object: Self.pod([("tool", "ghcr.io/my-org/tool:v2")])).allowed)
        // Admitted by a PolicyException: /mutate does not follow owner chains, so it need not pin.
        let excepted = try await Self.decide(responder, name: "excepted", object: Self.pod([("web", "ghcr.io/my-org/legacy:v1")], name: "excepted"))
        #expect(excepted.allowed, "\(excepted.status?.message ?? "")")
        // A controller's template is never pinned.
        let deployment = WorkloadFixture.all[1].wrap(podSpec(containers: [("web", Self.app)]))
        #expect(try await Self.decide(responder, kind: "Deployment", group: "apps", resource: "deployments", object: deployment).allowed)
        // An UPDATE that leaves the image as it was admitted: not evaluated, not denied.
        let running = Self.pod([("web", Self.app)])
        let relabelled = running.replacingOccurrences(of: #""namespace":"team"}"#, with: #""namespace":"team","labels":{"tier":"web"}}"#)
        #expect(try await Self.decide(responder, operation: "UPDATE", object: relabelled, oldObject: running).allowed)
        // A scan decides running Pods, which the node pins: not subject to the rule.
        var scanning = responder
        scanning.source = .scan
        #expect(try await Self.decide(scanning, object: Self.pod([("web", Self.app)])).allowed)
    }

    /// A `Warn` or `Audit` policy that fails beside the `Enforce` policy that verified the digest
    /// (an SBOM policy on trial, say) leaves the image admitted with a warning: the pin is still
    /// required, as `/mutate` still pins it (it used to be admitted unpinned, so a tag moved
    /// after the check ran what nobody verified).
    @Test func aFailingWarnOrAuditPolicyBesideTheEnforcingOneDoesNotLiftThePin() async throws {
        for mode in ["Warn", "Audit"] {
            let yaml = Self.policies + """

                ---
                apiVersion: signet.dev/v1alpha1
                kind: ClusterImagePolicy
                metadata: {name: my-app-attested}
                spec:
                  images: [{glob: "ghcr.io/my-org/my-app"}]
                  mode: \(mode)
                  authorities:
                    - name: second
                      keyless:
                        identities:
                          - issuer: "https://token.actions.githubusercontent.com"
                            subject: "https://github.com/my-org/my-app/.github/workflows/sbom.yml@refs/heads/main"
                """
            let responder = try Self.responder(policies: yaml)
            let denied = try await Self.decide(responder, object: Self.pod([("web", Self.app)]))
            #expect(!denied.allowed, "\(mode)")
            #expect(denied.status?.message?.contains(#"is named by tag alone: policy "my-app-signed" verified it as \#(Self.digest)"#) == true,
                    "\(mode): \(denied.status?.message ?? "")")
            // Pinned, it is admitted, the failing policy's warning or audit finding beside.
            #expect(try await Self.decide(responder, object: Self.pod([("web", "\(Self.app)@\(Self.digest)")])).allowed, "\(mode)")
        }
    }

    @Test func anEphemeralContainerAddedByTagIsDenied() async throws {
        let responder = try Self.responder()
        let before = Self.pod([("web", "\(Self.app)@\(Self.digest)")])
        let after = Self.pod([("web", "\(Self.app)@\(Self.digest)")], ephemeral: [("debugger", Self.app)])
        let denied = try await Self.decide(
            responder, subResource: "ephemeralcontainers", operation: "UPDATE", object: after, oldObject: before)
        #expect(!denied.allowed)
        #expect(denied.status?.message?.contains(#"(ephemeral container "debugger") is named by tag alone"#) == true, "\(denied.status?.message ?? "")")
    }

    /// `/mutate` pins every verified image named by tag: an Enforce policy's, a Warn policy's,
    /// and a denied one's (a `requireDigest` policy passes it once pinned).
    @Test func mutatePinsEveryVerifiedImageNamedByTag() async throws {
        let responder = try Self.responder()
        let body = review(kind: "Pod", resource: "pods", object: Self.pod([("web", Self.app), ("tool", "ghcr.io/my-org/tool:v2")]))
        let response = try decodeResponse(await responder.respondToMutation(body, deadline: farDeadline))
        let patch = String(decoding: try #require(response.patch), as: UTF8.self)
        #expect(patch.contains(#""path":"/spec/containers/0/image""#) && patch.contains(#""path":"/spec/containers/1/image""#), "\(patch)")
        // Denied by one policy, with a digest the other verified: pinned, and still denied by its
        // policy, not by the rule.
        let strict = review(kind: "Pod", resource: "pods", object: Self.pod([("web", "ghcr.io/my-org/strict:v2")]))
        #expect(try decodeResponse(await responder.respondToMutation(strict, deadline: farDeadline)).patch != nil)
        let denied = try await Self.decide(responder, object: Self.pod([("web", "ghcr.io/my-org/strict:v2")]))
        #expect(denied.status?.message?.contains("denied by policy \"strict-two-signers\"") == true)
        #expect(denied.status?.message?.contains("named by tag alone") == false)
    }

    /// As ``VerifiesAsOneDigest``, and every tag is known to name ``digest`` (as the verification
    /// engine knows the tags it resolved within the tag cache's lifetime).
    struct VerifiesAsOneDigestKnowingTags: AuthorityVerifier, TagDigestSource {
        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            try await VerifiesAsOneDigest().verify(image: image, authority: authority, policy: policy, deadline: deadline)
        }
        func cachedDigest(ofTag image: ImageReference) -> ImageDigest? { PinningRequiredTests.digest }
        func digest(ofTag image: ImageReference, deadline: ContinuousClock.Instant) async throws -> ImageDigest { PinningRequiredTests.digest }
    }

    /// An exception limited to tag `v1` of one policy must not leave the image unpinned when
    /// another policy verified what `v1` names: the tag could be moved after admission (or a
    /// registry could answer the node otherwise than signet), and the Pod would run bytes no
    /// policy verified. With the tag known to name the digest, the pinned form is what the tag
    /// names, and the exception takes it in; a digest the tag does not name, it does not.
    @Test func anImageExceptedByItsTagIsPinnedWhenTheTagIsKnownToNameTheDigest() async throws {
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(Self.policies.utf8))])
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(
            policies: set, verifier: VerifiesAsOneDigestKnowingTags(), exemptions: ExemptionConfiguration(clock: .fixed(Self.now))))
        responder.requirePinnedDigests = true
        let excepted = Self.pod([("web", "ghcr.io/my-org/strict:v1")])
        let mutated = try decodeResponse(await responder.respondToMutation(review(kind: "Pod", resource: "pods", object: excepted), deadline: farDeadline))
        let patch = String(decoding: try #require(mutated.patch, "not pinned"), as: UTF8.self)
        #expect(patch.contains("ghcr.io/my-org/strict:v1@\(Self.digest)"), "\(patch)")

        let pinned = try await Self.decide(responder, object: Self.pod([("web", "ghcr.io/my-org/strict:v1@\(Self.digest)")]))
        #expect(pinned.allowed, "\(pinned.status?.message ?? "")")
        #expect(pinned.warnings?.contains { $0.contains("PolicyException \"team/strict-v1\"") } == true, "\(pinned.warnings ?? [])")
        let unpinned = try await Self.decide(responder, object: excepted)
        #expect(!unpinned.allowed && unpinned.status?.message?.contains("named by tag alone") == true, "\(unpinned.status?.message ?? "")")
        let other = "sha256:" + String(repeating: "d", count: 64)
        let elsewhere = try await Self.decide(responder, object: Self.pod([("web", "ghcr.io/my-org/strict:v1@\(other)")]))
        #expect(!elsewhere.allowed && elsewhere.status?.message?.contains("denied by policy \"strict-two-signers\"") == true,
                "\(elsewhere.status?.message ?? "")")
    }

    /// As ``VerifiesAsOneDigest``; no tag is in its cache, and every tag resolves to ``digest``
    /// when asked (another replica admits the pinned Pod, or the tag cache expired).
    struct VerifiesAsOneDigestResolvingTags: AuthorityVerifier, TagDigestSource {
        let resolutions = NIOLockedValueBox(0)
        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            try await VerifiesAsOneDigest().verify(image: image, authority: authority, policy: policy, deadline: deadline)
        }
        func cachedDigest(ofTag image: ImageReference) -> ImageDigest? { nil }
        func digest(ofTag image: ImageReference, deadline: ContinuousClock.Instant) async throws -> ImageDigest {
            resolutions.withLockedValue { $0 += 1 }
            return PinningRequiredTests.digest
        }
    }

    /// The pinned form of an image an exception admits by its tag keeps the exception where the
    /// tag cache does not know the tag: it is resolved, and the exception applies when the tag
    /// names the digest (and not otherwise).
    @Test func aPinnedImageKeepsItsTagsExceptionWhenTheTagMustBeResolved() async throws {
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(Self.policies.utf8))])
        let verifier = VerifiesAsOneDigestResolvingTags()
        let responder = AdmissionResponder(evaluator: PolicyEvaluator(
            policies: set, verifier: verifier, exemptions: ExemptionConfiguration(clock: .fixed(Self.now))))
        let pinned = try await Self.decide(responder, object: Self.pod([("web", "ghcr.io/my-org/strict:v1@\(Self.digest)")]))
        #expect(pinned.allowed, "\(pinned.status?.message ?? "")")
        #expect(pinned.warnings?.contains { $0.contains("PolicyException \"team/strict-v1\"") } == true, "\(pinned.warnings ?? [])")
        #expect(verifier.resolutions.withLockedValue { $0 } >= 1)
        let other = "sha256:" + String(repeating: "d", count: 64)
        let elsewhere = try await Self.decide(responder, object: Self.pod([("web", "ghcr.io/my-org/strict:v1@\(other)")]))
        #expect(!elsewhere.allowed && elsewhere.status?.message?.contains("denied by policy \"strict-two-signers\"") == true,
                "\(elsewhere.status?.message ?? "")")
    }

    /// An EmergencyBypass written for tags, for `strict:v2`, `my-app:v2` and the uncovered
    /// `ghcr.io/other/app:v1`, in `team`; a PolicyException from `my-app-signed` for `my-app:v4`.
    static let tagExemptions = """
        ---
        apiVersion: signet.dev/v1alpha1
        kind: PolicyException
        metadata:
          name: my-app-v4
          namespace: team
          creationTimestamp: "2026-11-20T10:00:00Z"
        spec:
          policies: [my-app-signed]
          images:
            - glob: "ghcr.io/my-org/my-app:v4"
          reason: a hotfix build
          approvedBy: security@example.com
          validUntil: "2026-12-01T00:00:00Z"
        ---
        apiVersion: signet.dev/v1alpha1
        kind: EmergencyBypass
        metadata:
          name: outage
          creationTimestamp: "2026-11-22T09:00:00Z"
        spec:
          namespaces: [team]
          images:
            - glob: "ghcr.io/my-org/strict:v2"
            - glob: "ghcr.io/my-org/my-app:v2"
            - glob: "ghcr.io/other/app:v1"
          reason: signing service outage
          requestedBy: oncall@example.com
          expiresAt: "2026-11-22T18:00:00Z"
        """

    /// A Pod pinned by digest beside the tag an EmergencyBypass names is let in where the tag
    /// cache does not know the tag (another replica, the cache expired): the tag is resolved, and
    /// the bypass applies when it names the digest, to a covered image whose policy fails and to
    /// an uncovered one the no-match action denies. A digest the tag does not name is judged by
    /// the policies.
    @Test func aPinnedImageKeepsItsTagsBypassWhenTheTagMustBeResolved() async throws {
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array((Self.policies + "\n" + Self.tagExemptions).utf8))])
        let verifier = VerifiesAsOneDigestResolvingTags()
        let responder = AdmissionResponder(evaluator: PolicyEvaluator(
            policies: set, verifier: verifier, exemptions: ExemptionConfiguration(clock: .fixed(Self.now))))
        for image in ["ghcr.io/my-org/strict:v2", "ghcr.io/other/app:v1"] {
            let pinned = try await Self.decide(responder, object: Self.pod([("web", "\(image)@\(Self.digest)")]))
            #expect(pinned.allowed, "\(image): \(pinned.status?.message ?? "")")
            #expect(pinned.warnings?.contains { $0.contains(#"EmergencyBypass "outage""#) } == true, "\(image): \(pinned.warnings ?? [])")
        }
        #expect(verifier.resolutions.withLockedValue { $0 } >= 2)
        let other = "sha256:" + String(repeating: "d", count: 64)
        let elsewhere = try await Self.decide(responder, object: Self.pod([("web", "ghcr.io/my-org/strict:v2@\(other)")]))
        #expect(!elsewhere.allowed && elsewhere.status?.message?.contains("denied by policy \"strict-two-signers\"") == true,
                "\(elsewhere.status?.message ?? "")")
        let uncovered = try await Self.decide(responder, object: Self.pod([("web", "ghcr.io/other/app:v1@\(other)")]))
        #expect(!uncovered.allowed && uncovered.status?.message?.contains("not covered by any ClusterImagePolicy") == true,
                "\(uncovered.status?.message ?? "")")
    }

    /// The decision on a Pod in `team` running `image` under ``policies`` and ``tagExemptions``,
    /// verified by `verifier`, with an hour to go.
    static func decideUnderTheTagExemptions(_ image: String, verifier: some AuthorityVerifier & TagDigestSource) async throws -> AdmissionDecision {
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array((policies + "\n" + tagExemptions).utf8))])
        let evaluator = PolicyEvaluator(policies: set, verifier: verifier, exemptions: ExemptionConfiguration(clock: .fixed(now)))
        let subject = AdmissionSubject(namespace: "team", name: "web", kind: "Pod")
        guard case .verifying(let pending) = evaluator.begin([ImageUse(image: image, container: "web")], subject: subject) else {
            Issue.record("nothing to verify")
            return AdmissionDecision(allowed: false, verdicts: [], denials: ["nothing to verify"], warnings: [], auditFindings: [])
        }
        return await evaluator.finish(pending, deadline: .now + .seconds(3600))
    }

    /// Verifies nothing: every verification waits until it is cancelled (a registry that hangs
    /// during the outage the bypass is for); every tag names ``digest``.
    struct HangsResolvingTags: AuthorityVerifier, TagDigestSource {
        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            try await Task.sleep(for: .seconds(3600))
            return AuthorityVerdict(passed: false, authority: authority.name, reason: "never")
        }
        func cachedDigest(ofTag image: ImageReference) -> ImageDigest? { nil }
        func digest(ofTag image: ImageReference, deadline: ContinuousClock.Instant) async throws -> ImageDigest { PinningRequiredTests.digest }
    }

    /// Once the tag names the digest, the bypass decides the image: its verifications are
    /// cancelled, not waited for until the admission's deadline (an hour here; the test's time
    /// limit catches the wait).
    @Test(.timeLimit(.minutes(5))) func aResolvedBypassDoesNotWaitForTheVerificationsItMakesMoot() async throws {
        let decision = try await Self.decideUnderTheTagExemptions("ghcr.io/my-org/strict:v2@\(Self.digest)", verifier: HangsResolvingTags())
        #expect(decision.allowed)
        #expect(decision.warnings.contains { $0.contains(#"EmergencyBypass "outage""#) }, "\(decision.warnings)")
    }

    /// Verifies every image as ``VerifiesAsOneDigest`` does; a tag's resolution waits until it
    /// is cancelled (a registry whose tag endpoint hangs).
    struct VerifiesWithTagsHanging: AuthorityVerifier, TagDigestSource {
        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            try await VerifiesAsOneDigest().verify(image: image, authority: authority, policy: policy, deadline: deadline)
        }
        func cachedDigest(ofTag image: ImageReference) -> ImageDigest? { nil }
        func digest(ofTag image: ImageReference, deadline: ContinuousClock.Instant) async throws -> ImageDigest {
            try await Task.sleep(for: .seconds(3600))
            return PinningRequiredTests.digest
        }
    }

    /// An image its policies pass once verified does not wait for the tag a bypass claim
    /// resolves: the claim is moot and cancelled.
    @Test(.timeLimit(.minutes(5))) func anImageItsPoliciesPassDoesNotWaitForItsBypassClaim() async throws {
        let decision = try await Self.decideUnderTheTagExemptions("ghcr.io/my-org/my-app:v2@\(Self.digest)", verifier: VerifiesWithTagsHanging())
        #expect(decision.allowed)
        #expect(!decision.warnings.contains { $0.contains("EmergencyBypass") }, "\(decision.warnings)")
    }

    /// Verdicts from a cache that passes everything; no tag in its tag cache (resolutions counted).
    struct CachedPassesResolvingTags: AuthorityVerifier, CachedVerdictSource, TagDigestSource {
        let resolutions = NIOLockedValueBox(0)
        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            AuthorityVerdict(passed: true, authority: authority.name, reason: "signed", digest: image.digest)
        }
        func cachedVerdict(
            image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, caller: () -> RequestCredentials.Identity
        ) -> AuthorityVerdict? {
            AuthorityVerdict(passed: true, authority: authority.name, reason: "signed (cached)", digest: image.digest)
        }
        func cachedDigest(ofTag image: ImageReference) -> ImageDigest? { nil }
        func digest(ofTag image: ImageReference, deadline: ContinuousClock.Instant) async throws -> ImageDigest {
            resolutions.withLockedValue { $0 += 1 }
            return PinningRequiredTests.digest
        }
    }

    /// An image its policy passes once verified does not wait for the tag an exception written
    /// for that tag would need: the resolution runs beside the verification and is cancelled.
    @Test(.timeLimit(.minutes(5))) func anImageItsPolicyPassesDoesNotWaitForItsExceptionsTag() async throws {
        let decision = try await Self.decideUnderTheTagExemptions("ghcr.io/my-org/my-app:v4@\(Self.digest)", verifier: VerifiesWithTagsHanging())
        #expect(decision.allowed, "\(decision.denials)")
        #expect(!decision.warnings.contains { $0.contains("PolicyException") }, "\(decision.warnings)")
    }

    /// A pinned image whose policy its cached verdicts already pass is decided at once, without
    /// resolving its tag for an exception (`strict:v1`) or a bypass (`my-app:v2`) it does not
    /// need (a registry outage would otherwise hold every such review until its deadline).
    @Test(arguments: ["ghcr.io/my-org/strict:v1", "ghcr.io/my-org/my-app:v2"])
    func aPinnedImageItsCacheAlreadyPassesDoesNotWaitForItsTag(image: String) throws {
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array((Self.policies + "\n" + Self.tagExemptions).utf8))])
        let verifier = CachedPassesResolvingTags()
        let evaluator = PolicyEvaluator(policies: set, verifier: verifier, exemptions: ExemptionConfiguration(clock: .fixed(Self.now)))
        let images = [ImageUse(image: "\(image)@\(Self.digest)", container: "web")]
        guard case .decided(let decision) = evaluator.begin(images, subject: AdmissionSubject(namespace: "team", name: "web", kind: "Pod")) else {
            Issue.record("a review its cache passes waited for the tag's resolution")
            return
        }
        #expect(decision.allowed)
        #expect(verifier.resolutions.withLockedValue { $0 } == 0)
    }

    /// An image an exception admits is left as written when it is not known what its tag names
    /// (a verifier that keeps no tags): the exception is limited to tag `v1`, which
    /// `strict:v1@sha256:…` is then not known to be.
    @Test func mutateLeavesAnExceptedImageAsWritten() async throws {
        let responder = try Self.responder()
        let excepted = Self.pod([("web", "ghcr.io/my-org/strict:v1")])
        let body = review(kind: "Pod", resource: "pods", object: excepted)
        let mutated = try decodeResponse(await responder.respondToMutation(body, deadline: farDeadline))
        #expect(mutated.allowed && mutated.patch == nil, "\(mutated.patch.map { String(decoding: $0, as: UTF8.self) } ?? "")")
        let validated = try await Self.decide(responder, object: excepted)
        #expect(validated.allowed, "\(validated.status?.message ?? "")")
        #expect(validated.warnings?.contains { $0.contains("PolicyException") } == true, "\(validated.warnings ?? [])")
        // What a pin would have made of it: no longer the image excepted, and denied.
        let pinned = Self.pod([("web", "ghcr.io/my-org/strict:v1@\(Self.digest)")])
        #expect(try await !Self.decide(responder, object: pinned).allowed)
    }

    /// An exemption that takes in the pinned form as well (an exception by Pod name, for every
    /// image) does not stop the pin: the policy that verified the digest still gets what it
    /// verified, and `/validate` requires it.
    @Test func mutatePinsAnImageWhoseExemptionTakesInThePinnedForm() async throws {
        let responder = try Self.responder()
        let batch = Self.pod([("web", "ghcr.io/my-org/strict:v3")], name: "batch")
        let body = review(kind: "Pod", resource: "pods", name: "batch", object: batch)
        let mutated = try decodeResponse(await responder.respondToMutation(body, deadline: farDeadline))
        let patch = String(decoding: try #require(mutated.patch), as: UTF8.self)
        #expect(patch.contains("ghcr.io/my-org/strict:v3@\(Self.digest)"), "\(patch)")
        let unpinned = try await Self.decide(responder, name: "batch", object: batch)
        #expect(!unpinned.allowed && unpinned.status?.message?.contains("named by tag alone") == true, "\(unpinned.status?.message ?? "")")
        let pinned = try await Self.decide(responder, name: "batch", object: Self.pod([("web", "ghcr.io/my-org/strict:v3@\(Self.digest)")], name: "batch"))
        #expect(pinned.allowed, "\(pinned.status?.message ?? "")")
        #expect(pinned.warnings?.contains { $0.contains("PolicyException \"team/batch\"") } == true, "\(pinned.warnings ?? [])")
    }
}
