import Foundation
import NIOConcurrencyHelpers
import SignetRegistry
import Testing
@testable import SignetPolicy

/// A verifier double: answers per authority name, can throw or stall.
struct ScriptedVerifier: AuthorityVerifier {
    enum Answer: Sendable {
        case pass
        /// Passes, having verified `digest` (the one the tag resolved to).
        case passVerifying(ImageDigest)
        case fail(String)
        /// Fails after `delay`.
        case failAfter(Duration, String)
        case error(String)
        /// Throws an error a later try could get past (a registry that did not answer).
        case unreachable(String)
        case stall
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    struct Unreachable: TransientVerificationFailure, CustomStringConvertible {
        var description: String
        var isTransient: Bool { true }
    }

    var answers: [String: Answer]

    func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
        switch answers[authority.name] ?? .error("no answer scripted") {
        case .pass:
            return AuthorityVerdict(passed: true, authority: authority.name, reason: "signed by the release key",
                                    steps: [VerificationStep(name: "signature", passed: true, detail: "ok")])
        case .passVerifying(let digest):
            return AuthorityVerdict(passed: true, authority: authority.name, reason: "signed by the release key", digest: digest)
        case .fail(let reason):
            return AuthorityVerdict(passed: false, authority: authority.name, reason: reason)
        case .failAfter(let delay, let reason):
            try await Task.sleep(for: delay)
            return AuthorityVerdict(passed: false, authority: authority.name, reason: reason)
        case .error(let message):
            throw Failure(description: message)
        case .unreachable(let message):
            throw Unreachable(description: message)
        case .stall:
            try await Task.sleep(for: .seconds(60))
            return AuthorityVerdict(passed: true, authority: authority.name, reason: "too late")
        }
    }
}

private let subject = AdmissionSubject(namespace: "team", name: "web", kind: "Pod")
private func deadline(_ seconds: Int = 600) -> ContinuousClock.Instant { .now + .seconds(seconds) }

private func staticAuthority(_ name: String, _ action: StaticAction, _ message: String? = nil) -> String {
    "    - name: \(name)\n      static:\n        action: \(action.rawValue)\n" + (message.map { "        message: \"\($0)\"\n" } ?? "")
}

private func keyAuthority(_ name: String) -> String {
    "    - name: \(name)\n      key:\n        publicKeys:\n          - pem: |\n"
        + testPublicKeyPEM.split(separator: "\n").map { "              " + $0 + "\n" }.joined()
}

@Suite("Policy evaluator")
struct PolicyEvaluatorTests {
    @Test func noMatchDeniesByDefaultAndAllowsWhenConfigured() async throws {
        let set = try load(["a.yaml": policyYAML(name: "system", globs: ["registry.k8s.io/**"])])
        let images = [ImageUse(image: "quay.io/x/y:1", container: "app")]
        let denied = await PolicyEvaluator(policies: set).evaluate(images, subject: subject, deadline: deadline())
        #expect(!denied.allowed)
        #expect(denied.denials == [#"image "quay.io/x/y:1" (container "app") is not covered by any ClusterImagePolicy and the no-match action is deny"#])
        #expect(denied.verdicts.first?.outcome == .deny)

        let allowed = await PolicyEvaluator(policies: set, noMatchAction: .allow).evaluate(images, subject: subject, deadline: deadline())
        #expect(allowed.allowed)
        #expect(allowed.verdicts.first?.outcome == .allow)
        #expect(allowed.denials.isEmpty)
        #expect(allowed.warnings.isEmpty)
        #expect(allowed.uncovered == 1 && denied.uncovered == 1)
    }

    /// `warn` admits an uncovered image and says so to the client, naming the image; a covered
    /// image that fails its Enforce policy is still denied, and a bad reference still fails closed.
    @Test func noMatchWarnAllowsUncoveredImagesWithAWarning() async throws {
        let set = try load(["a.yaml": policyYAML(
            name: "system", globs: ["registry.k8s.io/**"], authorities: staticAuthority("no", .fail, "unsigned"))])
        let evaluator = PolicyEvaluator(policies: set, noMatchAction: .warn)
        let uncovered = [ImageUse(image: "quay.io/jetstack/cert-manager-controller:v1.16.1", container: "controller")]
        let warned = await evaluator.evaluate(uncovered, subject: subject, deadline: deadline())
        #expect(warned.allowed)
        #expect(warned.uncovered == 1)
        #expect(warned.verdicts.first?.outcome == .warn)
        #expect(warned.warnings == [#"image "quay.io/jetstack/cert-manager-controller:v1.16.1" (container "controller") is not covered by any ClusterImagePolicy: allowed because the no-match action is warn; it would be denied under deny"#])

        let covered = await evaluator.evaluate(
            uncovered + [ImageUse(image: "registry.k8s.io/pause:3.10", container: "pause")], subject: subject, deadline: deadline())
        #expect(!covered.allowed, "warn is for uncovered images only: an Enforce policy still denies")
        #expect(covered.uncovered == 1)
        #expect(covered.denials.count == 1 && covered.denials[0].contains("registry.k8s.io/pause:3.10"))

        let invalid = await evaluator.evaluate([ImageUse(image: "Quay.io/UPPER", container: "x")], subject: subject, deadline: deadline())
        #expect(!invalid.allowed, "a reference that does not parse is denied whatever the no-match action")
    }

    /// The digest the passing authorities verified is the verdict's (what /mutate pins); two
    /// different digests for one image in one decision mean its tag moved while it was being
    /// verified, and the image is denied rather than admitted unpinned.
    @Test func theVerifiedDigestIsTheVerdictsAndTwoDigestsDeny() async throws {
        let set = try load([
            "a.yaml": policyYAML(name: "team-a", globs: ["ghcr.io/acme/**"], authorities: keyAuthority("release")),
            "b.yaml": policyYAML(name: "team-b", globs: ["ghcr.io/acme/web"], authorities: keyAuthority("audit")),
        ])
        let first = try ImageDigest(parsing: "sha256:" + String(repeating: "a", count: 64))
        let second = try ImageDigest(parsing: "sha256:" + String(repeating: "b", count: 64))
        let images = [ImageUse(image: "ghcr.io/acme/web:v1", container: "web", position: 0)]
        let agreeing = PolicyEvaluator(policies: set, verifier: ScriptedVerifier(answers: ["release": .passVerifying(first), "audit": .passVerifying(first)]))
        let pinned = await agreeing.evaluate(images, subject: subject, deadline: deadline())
        #expect(pinned.allowed)
        #expect(pinned.verdicts.first?.verifiedDigest == first)
        #expect(pinned.verdicts.first?.position == 0)

        let moving = PolicyEvaluator(policies: set, verifier: ScriptedVerifier(answers: ["release": .passVerifying(first), "audit": .passVerifying(second)]))
        let moved = await moving.evaluate(images, subject: subject, deadline: deadline())
        #expect(!moved.allowed)
        #expect(moved.verdicts.first?.verifiedDigest == nil)
        #expect(moved.denials.first?.contains("its tag resolved to different digests during verification") == true, "\(moved.denials)")
    }

    @Test func staticPassAndFail() async throws {
        let set = try load([
            "pass.yaml": policyYAML(name: "system", globs: ["registry.k8s.io/**"], authorities: staticAuthority("allow-system", .pass)),
            "fail.yaml": policyYAML(name: "deny-unsigned", globs: ["docker.io/**"], authorities: staticAuthority("block", .fail, "Docker Hub images are not signed")),
        ])
        let evaluator = PolicyEvaluator(policies: set)
        let decision = await evaluator.evaluate([
            ImageUse(image: "registry.k8s.io/pause:3.9", container: "pause"),
            ImageUse(image: "nginx:1.25", container: "web"),
        ], subject: subject, deadline: deadline())
        #expect(!decision.allowed)
        #expect(decision.verdicts.map(\.outcome) == [.allow, .deny])
        #expect(decision.verdicts[1].policies == ["deny-unsigned"])
        #expect(decision.verdicts[1].reference == "docker.io/library/nginx:1.25")
        #expect(decision.denials == [#"image "docker.io/library/nginx:1.25" (container "web") denied by policy "deny-unsigned", authority "block": Docker Hub images are not signed"#])
        #expect(decision.summary == "denied: 1 of 2 images (docker.io/library/nginx:1.25)")
    }

    @Test func everyMatchingPolicyMustPass() async throws {
        let set = try load([
            "a.yaml": policyYAML(name: "org", globs: ["ghcr.io/org/**"], authorities: staticAuthority("ok", .pass)),
            "b.yaml": policyYAML(name: "app", globs: ["ghcr.io/org/app"], authorities: staticAuthority("no", .fail, "app is retired")),
        ])
        let decision = await PolicyEvaluator(policies: set).evaluate(
            [ImageUse(image: "ghcr.io/org/app:v1", container: "c"), ImageUse(image: "ghcr.io/org/other:v1", container: "d")],
            subject: subject, deadline: deadline())
        #expect(decision.verdicts.map(\.outcome) == [.deny, .allow])
        #expect(decision.verdicts[0].policies == ["app", "org"])
        #expect(decision.denials.count == 1)
        #expect(decision.denials[0].contains(#"policy "app", authority "no": app is retired"#))
    }

    @Test func requireCounts() async throws {
        let authorities = staticAuthority("a", .pass) + staticAuthority("b", .fail, "b says no") + staticAuthority("c", .fail, "c says no")
        let one = try load(["a.yaml": policyYAML(name: "p", authorities: authorities, extra: "  require: 1\n")])
        let two = try load(["a.yaml": policyYAML(name: "p", authorities: authorities, extra: "  require: 2\n")])
        let all = try load(["a.yaml": policyYAML(name: "p", authorities: authorities)])
        let image = [ImageUse(image: "ghcr.io/org/app:1", container: "app")]
        #expect(await PolicyEvaluator(policies: one).evaluate(image, subject: subject, deadline: deadline()).allowed)
        let denied = await PolicyEvaluator(policies: two).evaluate(image, subject: subject, deadline: deadline())
        #expect(!denied.allowed)
        #expect(denied.denials[0].contains(#"(2 authorities must pass, 1 passed): authority "b": b says no; authority "c": c says no"#))
        #expect(!(await PolicyEvaluator(policies: all).evaluate(image, subject: subject, deadline: deadline()).allowed))
    }

    @Test func warnAndAuditModesAllow() async throws {
        let set = try load([
            "w.yaml": policyYAML(name: "warn-only", globs: ["ghcr.io/w/**"], authorities: staticAuthority("x", .fail, "unsigned"), extra: "  mode: Warn\n"),
            "a.yaml": policyYAML(name: "audit-only", globs: ["ghcr.io/a/**"], authorities: staticAuthority("y", .fail, "unsigned"), extra: "  mode: Audit\n"),
        ])
        let decision = await PolicyEvaluator(policies: set).evaluate([
            ImageUse(image: "ghcr.io/w/app:1", container: "w"),
            ImageUse(image: "ghcr.io/a/app:1", container: "a", containerType: .initContainer),
        ], subject: subject, deadline: deadline())
        #expect(decision.allowed)
        #expect(decision.verdicts.map(\.outcome) == [.warn, .audit])
        #expect(decision.warnings == [#"image "ghcr.io/w/app:1" (container "w") would be denied by policy "warn-only" (mode Warn), authority "x": unsigned"#])
        #expect(decision.auditFindings == [#"image "ghcr.io/a/app:1" (init container "a") would be denied by policy "audit-only" (mode Audit), authority "y": unsigned"#])
        #expect(decision.summary == "allowed: 2 images (1 warning, 1 audit finding)")
    }

    @Test func verifierErrorFailsClosed() async throws {
        let set = try load(["k.yaml": policyYAML(name: "signed", authorities: keyAuthority("release"))])
        let verifier = ScriptedVerifier(answers: ["release": .error("registry ghcr.io unreachable")])
        let decision = await PolicyEvaluator(policies: set, verifier: verifier).evaluate(
            [ImageUse(image: "ghcr.io/org/app:1", container: "app")], subject: subject, deadline: deadline())
        #expect(!decision.allowed)
        #expect(decision.denials == [#"image "ghcr.io/org/app:1" (container "app") denied by policy "signed", authority "release": could not verify: registry ghcr.io unreachable"#])
        #expect(decision.verdicts[0].results[0].authorities[0].status == .error)
    }

    /// A denial that hangs on verifications that could not finish is told apart from one that
    /// does not (a scan reports it `error`, not `fail`): only when the errors are transient (a
    /// later try could get past them), the authorities that failed leave room for the required
    /// passes, every failing `Enforce` policy is so, and no digest requirement failed; and the
    /// same whichever authority answers first. Admission denies both.
    @Test func aDenialThatHangsOnUnfinishedVerificationsIsUndecided() async throws {
        let verifier = ScriptedVerifier(answers: [
            "down": .unreachable("registry ghcr.io unreachable"), "no": .fail("no signature"), "ok": .pass, "slow": .stall,
            "refused-content": .error("the signature manifest is not valid JSON"), "late-no": .failAfter(.milliseconds(300), "no signature"),
        ])
        // As a scan decides (a scan's responder sets it): waiting past transient errors.
        func decide(
            _ files: [String: String], image: String = "ghcr.io/org/app@sha256:" + String(repeating: "a", count: 64), within: Duration = .seconds(600),
            waits: Bool = true
        ) async throws -> ImageVerdict {
            var evaluator = PolicyEvaluator(policies: try load(files), verifier: verifier)
            evaluator.waitsPastTransientErrors = waits
            let decision = await evaluator.evaluate([ImageUse(image: image, container: "app")], subject: subject, deadline: .now + within)
            return try #require(decision.verdicts.first)
        }
        // One authority that could not answer: undecided.
        var verdict = try await decide(["a.yaml": policyYAML(name: "p", authorities: keyAuthority("down"))])
        #expect(verdict.outcome == .deny && verdict.results[0].undecided == true && verdict.isUndecided)
        // One of two required: one failed, the other could not answer; it could still pass.
        verdict = try await decide(["a.yaml": policyYAML(name: "p", authorities: keyAuthority("no") + keyAuthority("down"), extra: "  require: 1\n")])
        #expect(verdict.outcome == .deny && verdict.isUndecided)
        // Both required and one failed: a fail whatever the other would say.
        verdict = try await decide(["a.yaml": policyYAML(name: "p", authorities: keyAuthority("no") + keyAuthority("down"))])
        #expect(verdict.outcome == .deny && verdict.results[0].undecided == nil && !verdict.isUndecided)
        // A failed static authority is as certain.
        verdict = try await decide(["a.yaml": policyYAML(name: "p", authorities: staticAuthority("never", .fail, "retired") + keyAuthority("down"))])
        #expect(verdict.outcome == .deny && !verdict.isUndecided)
        // A digest the policy requires and the image lacks fails it, errors or not.
        verdict = try await decide(
            ["a.yaml": policyYAML(name: "p", authorities: keyAuthority("down"), extra: "  requireDigest: true\n")], image: "ghcr.io/org/app:1")
        #expect(verdict.outcome == .deny && !verdict.isUndecided)
        // Two Enforce policies: one undecided, one failed outright.
        verdict = try await decide([
            "a.yaml": policyYAML(name: "p", authorities: keyAuthority("down")), "b.yaml": policyYAML(name: "q", authorities: keyAuthority("no")),
        ])
        #expect(verdict.outcome == .deny && verdict.results.map(\.undecided) == [true, nil] && !verdict.isUndecided)
        // An undecided Warn policy beside a passing Enforce one: a warning, not a deny.
        verdict = try await decide([
            "a.yaml": policyYAML(name: "p", authorities: keyAuthority("ok")),
            "b.yaml": policyYAML(name: "q", authorities: keyAuthority("down"), extra: "  mode: Warn\n"),
        ])
        #expect(verdict.outcome == .warn && !verdict.isUndecided)
        // The deadline is an unfinished verification too.
        verdict = try await decide(["a.yaml": policyYAML(name: "p", authorities: keyAuthority("slow"))], within: .milliseconds(100))
        #expect(verdict.outcome == .deny && verdict.isUndecided)
        // A plain fail is not.
        verdict = try await decide(["a.yaml": policyYAML(name: "p", authorities: keyAuthority("no"))])
        #expect(verdict.outcome == .deny && !verdict.isUndecided)
        // Nor an error a later try would meet again: content anyone who may push can plant.
        verdict = try await decide(["a.yaml": policyYAML(name: "p", authorities: keyAuthority("refused-content"))])
        #expect(verdict.outcome == .deny && verdict.results[0].authorities[0].status == .error && !verdict.isUndecided)
        // Both required: the transient error answers first, the certain fail later. The policy
        // waits for it (the error alone does not settle it), so it is a fail, as when the fail
        // answers first.
        verdict = try await decide(["a.yaml": policyYAML(name: "p", authorities: keyAuthority("down") + keyAuthority("late-no"))])
        #expect(verdict.outcome == .deny && verdict.results[0].authorities.count == 2 && !verdict.isUndecided)
        // Both required, one that cannot be reached and one that never answers: a scan waits
        // for the second until the deadline (undecided, both transient); admission denies at
        // the first error, without waiting (the deadline is far off).
        verdict = try await decide(["a.yaml": policyYAML(name: "p", authorities: keyAuthority("down") + keyAuthority("slow"))], within: .milliseconds(200))
        #expect(verdict.outcome == .deny && verdict.results[0].authorities.count == 2 && verdict.isUndecided)
        verdict = try await decide(["a.yaml": policyYAML(name: "p", authorities: keyAuthority("down") + keyAuthority("slow"))], waits: false)
        #expect(verdict.outcome == .deny && verdict.results[0].authorities.map(\.authority) == ["down"])
        // The authority not asked could still pass: undecided, as far as those asked tell.
        #expect(verdict.isUndecided)
    }

    @Test func missingVerifierFailsClosed() async throws {
        let set = try load(["k.yaml": policyYAML(name: "signed", authorities: keyAuthority("release"))])
        let decision = await PolicyEvaluator(policies: set).evaluate(
            [ImageUse(image: "ghcr.io/org/app:1", container: "app")], subject: subject, deadline: deadline())
        #expect(!decision.allowed)
        #expect(decision.denials[0].hasSuffix("no verifier is configured for key authorities"))
    }

    @Test func deadlineFailsClosed() async throws {
        let set = try load(["k.yaml": policyYAML(name: "signed", authorities: keyAuthority("slow"))])
        let verifier = ScriptedVerifier(answers: ["slow": .stall])
        let decision = await PolicyEvaluator(policies: set, verifier: verifier).evaluate(
            [ImageUse(image: "ghcr.io/org/app:1", container: "app")], subject: subject, deadline: .now + .milliseconds(100))
        #expect(!decision.allowed)
        #expect(decision.denials[0].contains("deadline passed"))
    }

    /// A verifier with a cache: images whose repository ends in `-cached` are answered from it.
    final class CachingVerifier: AuthorityVerifier, CachedVerdictSource, Sendable {
        private let verified = NIOLockedValueBox<[String]>([])
        var verifiedImages: [String] { verified.withLockedValue { $0 } }

        func cachedVerdict(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, caller: () -> RequestCredentials.Identity) -> AuthorityVerdict? {
            guard image.repository.hasSuffix("-cached") else { return nil }
            let passed = !image.repository.contains("unsigned")
            return AuthorityVerdict(passed: passed, authority: authority.name, reason: passed ? "cached: signed" : "cached: no signature")
        }

        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            verified.withLockedValue { $0.append(image.description) }
            return AuthorityVerdict(passed: true, authority: authority.name, reason: "verified now")
        }
    }

    @Test func cachedVerdictsAreUsedWithoutVerifying() async throws {
        let set = try load(["k.yaml": policyYAML(name: "signed", globs: ["ghcr.io/org/**"], authorities: keyAuthority("release"))])
        let verifier = CachingVerifier()
        let evaluator = PolicyEvaluator(policies: set, verifier: verifier)
        let warm = await evaluator.evaluate([
            ImageUse(image: "ghcr.io/org/app-cached:1", container: "app"),
            ImageUse(image: "ghcr.io/org/unsigned-cached:1", container: "side"),
        ], subject: subject, deadline: deadline())
        #expect(verifier.verifiedImages.isEmpty)
        #expect(!warm.allowed)
        #expect(warm.verdicts.map(\.outcome) == [.allow, .deny])
        #expect(warm.denials == [#"image "ghcr.io/org/unsigned-cached:1" (container "side") denied by policy "signed", authority "release": cached: no signature"#])

        let mixed = await evaluator.evaluate([
            ImageUse(image: "ghcr.io/org/app-cached:1", container: "app"),
            ImageUse(image: "ghcr.io/org/fresh:1", container: "side"),
        ], subject: subject, deadline: deadline())
        #expect(verifier.verifiedImages == ["ghcr.io/org/fresh:1"])
        #expect(mixed.allowed)
        #expect(mixed.verdicts.map { $0.results.first?.authorities.first?.reason } == ["cached: signed", "verified now"])
    }

    @Test func cachedVerdictsAreDecidedWithoutWaitingAndFreshImagesAreLeftToFinish() async throws {
        let set = try load(["k.yaml": policyYAML(name: "signed", globs: ["ghcr.io/org/**"], authorities: keyAuthority("release"))])
        let verifier = CachingVerifier()
        let evaluator = PolicyEvaluator(policies: set, verifier: verifier)
        let warm = [
            ImageUse(image: "ghcr.io/org/app-cached:1", container: "app"),
            ImageUse(image: "ghcr.io/org/unsigned-cached:1", container: "side"),
            ImageUse(image: "ghcr.io/org/app-cached:1", container: "again"),
        ]
        guard case .decided(let decided) = evaluator.begin(warm, subject: subject) else {
            Issue.record("cached verdicts needed a wait")
            return
        }
        #expect(decided == (await evaluator.evaluate(warm, subject: subject, deadline: deadline())))
        #expect(decided.verdicts.map(\.outcome) == [.allow, .deny, .allow])
        #expect(decided.verdicts.map(\.container) == ["app", "side", "again"])

        // One fresh image (named twice) is verified once, when the evaluation is finished.
        let mixed = warm + [
            ImageUse(image: "ghcr.io/org/fresh:1", container: "fresh"),
            ImageUse(image: "ghcr.io/org/fresh:1", container: "fresh-too"),
        ]
        guard case .verifying(let pending) = evaluator.begin(mixed, subject: subject) else {
            Issue.record("an image without a cached verdict was decided without verifying it")
            return
        }
        #expect(verifier.verifiedImages.isEmpty)
        let finished = await evaluator.finish(pending, deadline: deadline())
        #expect(verifier.verifiedImages == ["ghcr.io/org/fresh:1"])
        #expect(finished.verdicts.map(\.outcome) == [.allow, .deny, .allow, .allow, .allow])
        #expect(finished.verdicts.suffix(2).map { $0.results.first?.authorities.first?.reason } == ["verified now", "verified now"])
    }

    @Test func admissionCredentialsShareAnIdentityOnlyWhenTheyReadTheSameSecrets() {
        struct NoSecrets: RegistryCredentialProvider {
            func credentials(for subject: AdmissionSubject) async -> RegistryCredentialStore { RegistryCredentialStore() }
        }
        func identity(_ namespace: String, _ account: String?, _ secrets: [String], name: String = "web") -> String? {
            AdmissionCredentials(provider: NoSecrets(), subject: AdmissionSubject(
                namespace: namespace, name: name, kind: "Pod", imagePullSecrets: secrets, serviceAccountName: account)).identity
        }
        #expect(identity("team", "builder", ["a", "b"]) == identity("team", "builder", ["a", "b"], name: "other-pod"))
        #expect(identity("team", "builder", ["a", "b"]) != identity("team", "builder", ["a"]))
        #expect(identity("team", "builder", ["a"]) != identity("team", nil, ["a"]))
        #expect(identity("team", nil, ["a"]) != identity("other", nil, ["a"]))
    }

    @Test func firstUsesPointAtTheFirstContainerOfEachImage() {
        func uses(_ images: [String]) -> [ImageUse] { images.enumerated().map { ImageUse(image: $1, container: "c\($0)") } }
        #expect(PolicyEvaluator.firstUses(of: uses(["a", "b", "a", "c", "b"])) == [0, 1, 0, 3, 1])
        #expect(PolicyEvaluator.firstUses(of: []) == [])
        // Past the direct comparison, a dictionary: the same answer.
        let long = (0..<40).map { "image-\($0 % 7)" }
        #expect(PolicyEvaluator.firstUses(of: uses(long)) == long.indices.map { $0 % 7 })
        // The same image is the same bytes: U+212A KELVIN SIGN is not the letter K, though Swift's
        // String equality says so.
        #expect(PolicyEvaluator.firstUses(of: uses(["a:K", "a:\u{212A}", "a:K"])) == [0, 1, 0])
        #expect(PolicyEvaluator.firstUses(of: uses(long + ["a:K", "a:\u{212A}"])) == long.indices.map { $0 % 7 } + [40, 41])
    }

    /// A text is remembered by its bytes: the parse of an image written with U+212A KELVIN SIGN
    /// (refused: a reference is ASCII) is not the answer for the one written with the letter K.
    @Test func parsedImagesAreRememberedByTheirBytes() throws {
        let parsed = ParsedImages(policies: [])
        guard case .failure = parsed.parse("ghcr.io/org/app:\u{212A}") else {
            Issue.record("an image with the Kelvin sign was accepted")
            return
        }
        #expect(try parsed.parse("ghcr.io/org/app:K").get().reference.description == "ghcr.io/org/app:K")
        #expect(parsed.count == 2)
    }

    @Test(.timeLimit(.minutes(5)))
    func deadlineTimerEndsAtOnceWhenCancelled() async throws {
        let sleeper = Task { try await DeadlineTimer.sleep(until: .now + .seconds(3600)) }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        // A deadline already passed returns at once.
        try await DeadlineTimer.sleep(until: .now - .seconds(1))
    }

    @Test func parsedImagesAreRememberedAsParsingWouldAnswer() throws {
        let parsed = ParsedImages(policies: [])
        for round in 0..<2 {
            for index in 0..<(ParsedImages.capacity + 10) {
                let text = "ghcr.io/org/app\(index):v\(round)"
                let answer = try parsed.parse(text).get()
                #expect(answer.reference == (try ImageReference(parsing: text)), "\(text)")
                #expect(answer.subject.reference == answer.reference.description)
                #expect(answer.subject.name == answer.reference.name)
            }
            guard case .failure(let error) = parsed.parse("Nginx") else {
                Issue.record("an invalid reference was accepted")
                continue
            }
            #expect(error.description.contains("repository name must be lowercase"))
        }
    }

    /// A text longer than any reference is answered but not remembered: a client writing
    /// megabyte-long images must not fill the table's entries with them.
    @Test func parsedImagesDoNotRememberTextsLongerThanAnyReference() throws {
        let parsed = ParsedImages(policies: [])
        let longest = "ghcr.io/" + String(repeating: "a", count: ParsedImages.maximumRememberedBytes - "ghcr.io/".count)
        for index in 0..<50 {
            let huge = "ghcr.io/org/" + String(repeating: "a", count: 100_000) + ":\(index)"
            guard case .failure = parsed.parse(huge) else {
                Issue.record("a 100 KB reference was accepted")
                continue
            }
        }
        #expect(parsed.count == 0)
        _ = parsed.parse(longest)
        _ = parsed.parse("ghcr.io/org/app:1")
        #expect(parsed.count == 2)
    }

    @Test func parsedImagesRememberTheMatchingPoliciesAsTheGlobsAnswer() throws {
        let set = try load([
            "a.yaml": policyYAML(name: "ghcr", globs: ["ghcr.io/**"]),
            "b.yaml": policyYAML(name: "team", globs: ["ghcr.io/team/*", "docker.io/library/nginx"]),
            "c.yaml": policyYAML(name: "quay", globs: ["quay.io/**"]),
        ])
        let parsed = ParsedImages(policies: set.policies)
        for image in ["ghcr.io/team/app:1", "ghcr.io/other/app", "nginx:1.25", "quay.io/x/y@sha256:" + String(repeating: "a", count: 64), "example.com/z"] {
            for _ in 0..<2 {
                let answer = try parsed.parse(image).get()
                let expected = set.policies.indices.filter { set.policies[$0].matches(answer.reference) }
                #expect(answer.matchingPolicies == expected, "\(image)")
            }
        }
        #expect(try parsed.parse("ghcr.io/team/app:1").get().matchingPolicies.map { set.policies[$0].name } == ["ghcr", "team"])
        #expect(try parsed.parse("example.com/z").get().matchingPolicies.isEmpty)
    }

    /// Answers the `quick` authority from its cache and stalls on every other one.
    struct CachedOrStalled: AuthorityVerifier, CachedVerdictSource {
        func cachedVerdict(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, caller: () -> RequestCredentials.Identity) -> AuthorityVerdict? {
            authority.name == "quick" ? AuthorityVerdict(passed: true, authority: authority.name, reason: "cached: signed") : nil
        }

        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            try await Task.sleep(for: .seconds(60))
            return AuthorityVerdict(passed: true, authority: authority.name, reason: "too late")
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func theDeadlineStopsOnlyWhatIsStillBeingVerified() async throws {
        let set = try load([
            "fast.yaml": policyYAML(name: "fast", globs: ["ghcr.io/fast/**"], authorities: keyAuthority("quick")),
            "slow.yaml": policyYAML(name: "slow", globs: ["ghcr.io/slow/**"], authorities: keyAuthority("slow")),
        ])
        let decision = await PolicyEvaluator(policies: set, verifier: CachedOrStalled()).evaluate([
            ImageUse(image: "ghcr.io/fast/app:1", container: "app"),
            ImageUse(image: "ghcr.io/slow/a:1", container: "a"),
            ImageUse(image: "ghcr.io/slow/b:1", container: "b"),
        ], subject: subject, deadline: .now + .milliseconds(100))
        #expect(!decision.allowed)
        #expect(decision.verdicts.map(\.outcome) == [.allow, .deny, .deny])
        #expect(decision.denials.count == 2)
        #expect(decision.denials.allSatisfy { $0.contains("could not verify: the admission deadline passed") })
    }

    @Test func verifierVerdictsAndRequire() async throws {
        let authorities = keyAuthority("a") + keyAuthority("b")
        let set = try load(["k.yaml": policyYAML(name: "signed", authorities: authorities, extra: "  require: 1\n")])
        let verifier = ScriptedVerifier(answers: ["a": .fail("no signature found"), "b": .pass])
        let decision = await PolicyEvaluator(policies: set, verifier: verifier).evaluate(
            [ImageUse(image: "ghcr.io/org/app:1", container: "app")], subject: subject, deadline: deadline())
        #expect(decision.allowed)
        #expect(decision.verdicts[0].outcome == .allow)
    }

    @Test func staticPassSettlesWithoutVerifier() async throws {
        let authorities = staticAuthority("s", .pass) + keyAuthority("k")
        let set = try load(["k.yaml": policyYAML(name: "p", authorities: authorities, extra: "  require: 1\n")])
        // No verifier: the static pass already satisfies `require: 1`.
        let decision = await PolicyEvaluator(policies: set).evaluate(
            [ImageUse(image: "ghcr.io/org/app:1", container: "app")], subject: subject, deadline: deadline())
        #expect(decision.allowed)
    }

    @Test func invalidReferenceIsDenied() async throws {
        let set = try load(["a.yaml": policyYAML(name: "all", globs: ["**"])])
        let decision = await PolicyEvaluator(policies: set, noMatchAction: .allow).evaluate(
            [ImageUse(image: "Nginx", container: "web")], subject: subject, deadline: deadline())
        #expect(!decision.allowed)
        #expect(decision.verdicts[0].reference == nil)
        #expect(decision.denials == [#"image "Nginx" (container "web") denied: invalid image reference "Nginx": repository name must be lowercase"#])
    }

    /// An image is anyone's text: a 20,000-character one, or one with an escape sequence, is
    /// denied as an invalid reference and shown cut to a bound and printable, in the verdict and
    /// in the deny message (which reach audit records, events and terminals).
    @Test func anInvalidImageIsShownCutAndPrintable() async throws {
        let set = try load(["a.yaml": policyYAML(name: "all", globs: ["**"])])
        let long = "registry.example/" + String(repeating: "a", count: 20_000) + ":v1"
        let escaped = "registry.example/app\u{1B}[2J:v1"
        let decision = await PolicyEvaluator(policies: set, noMatchAction: .allow).evaluate(
            [ImageUse(image: long, container: "long"), ImageUse(image: escaped, container: "escaped")], subject: subject, deadline: deadline())
        #expect(!decision.allowed)
        #expect(decision.verdicts.count == 2)
        let shownLong = decision.verdicts[0].image
        #expect(shownLong.hasPrefix("registry.example/aaa"))
        #expect(shownLong.hasSuffix("… (\(long.utf8.count) bytes)"))
        #expect(shownLong.count < UntrustedText.imageLimit + 30)
        #expect(decision.verdicts[1].image == "registry.example/app?[2J:v1")
        for message in decision.denials {
            #expect(message.utf8.count < 2 * UntrustedText.imageLimit + 300, "\(message.prefix(300))")
            #expect(!message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(message)")
            #expect(message.contains("invalid image reference"))
        }
        // A valid reference is kept as written.
        let valid = "ghcr.io/org/" + String(repeating: "b", count: 200) + ":" + String(repeating: "t", count: 128)
        let kept = await PolicyEvaluator(policies: set, noMatchAction: .allow).evaluate(
            [ImageUse(image: valid, container: "app")], subject: subject, deadline: deadline())
        #expect(kept.verdicts[0].image == valid)
    }

    /// A container's name reaches every deny message, verdict and audit record of its image:
    /// one that is not a valid Kubernetes name (a file given to `signet review`, a custom
    /// resource's pod template) is cut to 63 bytes and made printable there too.
    @Test func aContainerNameIsShownCutAndPrintable() async throws {
        let set = try load(["a.yaml": policyYAML(name: "all", globs: ["ghcr.io/org/**"], authorities: keyAuthority("k"))])
        let long = String(repeating: "c", count: 2_000)
        let escaped = "app\u{1B}[2J\u{202E}"
        let decision = await PolicyEvaluator(policies: set, noMatchAction: .deny).evaluate(
            [ImageUse(image: "ghcr.io/other/app:v1", container: long), ImageUse(image: "bad image", container: escaped, containerType: .initContainer)],
            subject: subject, deadline: deadline())
        #expect(!decision.allowed)
        #expect(decision.verdicts.map(\.container) == [
            String(repeating: "c", count: UntrustedText.containerNameLimit) + "… (2000 bytes)", "app?[2J???",
        ])
        #expect(decision.denials.count == 2)
        for message in decision.denials {
            #expect(message.utf8.count < 600, "\(message.prefix(300))")
            #expect(message.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }, "\(message)")
        }
        #expect(decision.denials.contains { $0.contains("(init container \"app?[2J???\")") })
        // Cut once: the size is the whole name's.
        #expect(decision.denials.contains { $0.contains("(container \"\(String(repeating: "c", count: 63))… (2000 bytes)\")") })
    }

    /// A verifier's reason carries text from outside (a certificate's identity, a registry's
    /// answer, an error's words): however short, it reaches every deny message printable.
    @Test func aShortReasonWithAnEscapeSequenceIsShownPrintable() async throws {
        let set = try load([
            "a.yaml": policyYAML(name: "failing", globs: ["ghcr.io/org/a"], authorities: keyAuthority("k")),
            "b.yaml": policyYAML(name: "erring", globs: ["ghcr.io/org/b"], authorities: keyAuthority("e")),
        ])
        let verifier = ScriptedVerifier(answers: [
            "k": .fail("identity \u{1B}]8;;https://evil.example\u{7}ci@example.com\u{1B}]8;;\u{7} is not trusted"),
            "e": .error("registry said \u{9B}2J\u{202E}gnp.exe"),
        ])
        let decision = await PolicyEvaluator(policies: set, verifier: verifier).evaluate(
            [ImageUse(image: "ghcr.io/org/a:v1", container: "a"), ImageUse(image: "ghcr.io/org/b:v1", container: "b")],
            subject: subject, deadline: deadline())
        #expect(!decision.allowed)
        #expect(decision.denials.count == 2)
        for text in decision.denials + decision.verdicts.map(\.reason) {
            #expect(text.unicodeScalars.allSatisfy { $0.value >= 0x20 && !(0x7F...0x9F).contains($0.value) && $0.value != 0x202E }, "\(text)")
        }
        #expect(decision.denials.contains { $0.contains("identity ?]8;;https://evil.example?ci@example.com?]8;;? is not trusted") })
        #expect(decision.denials.contains { $0.contains("registry said ?2J?gnp.exe") })
    }

    @Test func manyImagesInParallel() async throws {
        let set = try load([
            "k.yaml": policyYAML(name: "signed", globs: ["ghcr.io/org/**"], authorities: keyAuthority("slowish")),
        ])
        /// Counts how many verifications are under way at once; each waits until several have started.
        final class ConcurrencyProbe: AuthorityVerifier, Sendable {
            private let counts = NIOLockedValueBox((running: 0, peak: 0))
            var peak: Int { counts.withLockedValue { $0.peak } }
            func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
                counts.withLockedValue { $0.running += 1; $0.peak = max($0.peak, $0.running) }
                // Give the other verifications a chance to start; bounded, never a timing assertion.
                for _ in 0..<200 where peak < 10 { try await Task.sleep(for: .milliseconds(5)) }
                counts.withLockedValue { $0.running -= 1 }
                let passed = !image.repository.hasSuffix("7")
                return AuthorityVerdict(passed: passed, authority: authority.name, reason: passed ? "signed" : "no signature found")
            }
        }
        let images = (0..<200).map { ImageUse(image: "ghcr.io/org/app\($0):v1", container: "c\($0)") }
            + [ImageUse(image: "ghcr.io/org/app1:v1", container: "duplicate")]
        let probe = ConcurrencyProbe()
        let decision = await PolicyEvaluator(policies: set, verifier: probe).evaluate(images, subject: subject, deadline: deadline())
        // Sequential verification would never have two under way at once; more than the bound
        // at once would mean a burst of reviews holds that many verifications' buffers.
        #expect(probe.peak >= 10)
        #expect(probe.peak <= PolicyEvaluator.concurrentVerifications)
        #expect(decision.verdicts.count == 201)
        #expect(decision.verdicts.map(\.container) == images.map(\.container))
        #expect(decision.denials.count == 20)
        #expect(!decision.allowed)
    }
}

/// `--guarded-namespace-labels`: which labels Enforce policies select namespaces by that nobody
/// guards (signet serve warns of each).
@Suite("Unguarded namespace selector labels")
struct UnguardedSelectorLabelTests {
    @Test func enforcePoliciesSelectingByUnguardedLabelsAreNamed() throws {
        let yaml = """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata: {name: production}
            spec:
              images: [{glob: "ghcr.io/**"}]
              authorities: [{static: {action: pass}}]
              namespaceSelector:
                matchLabels: {environment: production}
                matchExpressions:
                  - {key: team, operator: In, values: [a]}
                  - {key: kubernetes.io/metadata.name, operator: NotIn, values: [sandbox]}
            ---
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata: {name: trial}
            spec:
              images: [{glob: "quay.io/**"}]
              authorities: [{static: {action: pass}}]
              namespaceSelector: {matchLabels: {environment: production}}
              mode: Warn
            ---
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata: {name: everywhere}
            spec:
              images: [{glob: "docker.io/**"}]
              authorities: [{static: {action: pass}}]
            """
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(yaml.utf8))])
        #expect(set.unguardedSelectorLabels(guarded: []).map { "\($0.policy)/\($0.label)" } == ["production/environment", "production/team"])
        #expect(set.unguardedSelectorLabels(guarded: ["environment"]).map { "\($0.policy)/\($0.label)" } == ["production/team"])
        #expect(set.unguardedSelectorLabels(guarded: ["environment", "team"]).isEmpty)
    }
}
