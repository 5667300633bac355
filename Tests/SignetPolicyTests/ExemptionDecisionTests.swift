import Foundation
import Testing
@testable import SignetPolicy

/// The decision rules of PolicyException, EmergencyBypass, namespace selection, kind selection
/// and the namespace opt-out label, with a pinned clock (never the wall clock).
struct ExemptionDecisionTests {
    static let expiry = KubernetesTime.parse("2026-12-01T00:00:00Z")!

    static let denyDockerHub = """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: deny-untrusted
        spec:
          images:
            - glob: "docker.io/**"
          authorities:
            - name: block
              static:
                action: fail
                message: not signed
        """

    static func exception(namespace: String = "billing", validUntil: String = "2026-12-01T00:00:00Z", extra: String = "") -> String {
        """
        apiVersion: signet.dev/v1alpha1
        kind: PolicyException
        metadata:
          name: vendor-nginx
          namespace: \(namespace)
        spec:
          policies: [deny-untrusted]
          reason: vendor image
          approvedBy: alice
          validUntil: "\(validUntil)"
        \(extra)
        """
    }

    static func bypass(expiresAt: String, extra: String = "  namespaces: [billing]") -> String {
        """
        apiVersion: signet.dev/v1alpha1
        kind: EmergencyBypass
        metadata:
          name: incident-1
        spec:
        \(extra)
          reason: signing outage
          requestedBy: oncall
          expiresAt: "\(expiresAt)"
        """
    }

    static func set(_ documents: String...) throws -> PolicySet {
        try PolicyLoader().load(files: [PolicySourceFile(name: "test.yaml", bytes: Array(documents.joined(separator: "\n---\n").utf8))])
    }

    static func evaluate(
        _ set: PolicySet, at now: Date, namespace: String = "billing", name: String = "billing-web", kind: String = "Pod",
        labels: [String: String]? = nil, dryRun: Bool = false, window: Duration = .seconds(24 * 3600)
    ) async -> AdmissionDecision {
        let evaluator = PolicyEvaluator(
            policies: set, noMatchAction: .deny,
            exemptions: ExemptionConfiguration(clock: .fixed(now), maximumBypassWindow: window))
        let subject = AdmissionSubject(namespace: namespace, name: name, kind: kind, dryRun: dryRun, namespaceLabels: labels)
        return await evaluator.evaluate([ImageUse(image: "nginx:1.25", container: "web")], subject: subject, deadline: .now + .seconds(10))
    }

    @Test func anExceptionAppliesOneSecondBeforeExpiryAndNotOneSecondAfter() async throws {
        let set = try Self.set(Self.denyDockerHub, Self.exception())
        let before = await Self.evaluate(set, at: Self.expiry.addingTimeInterval(-1))
        #expect(before.allowed)
        let warning = try #require(before.warnings.first)
        #expect(warning.contains("PolicyException \"billing/vendor-nginx\""))
        #expect(warning.contains("valid until 2026-12-01T00:00:00Z"))
        #expect(warning.contains("deny-untrusted"))
        #expect(before.exemptionsUsed.map(\.qualifiedName) == ["billing/vendor-nginx"])
        #expect(before.verdicts.first?.outcome == .allow)

        let atExpiry = await Self.evaluate(set, at: Self.expiry)
        #expect(!atExpiry.allowed)
        let after = await Self.evaluate(set, at: Self.expiry.addingTimeInterval(1))
        #expect(!after.allowed)
        #expect(after.exemptionsUsed.isEmpty)
        #expect(after.denials.first?.contains("denied by policy \"deny-untrusted\"") == true)
    }

    @Test func anExceptionInAnotherNamespaceDoesNotApply() async throws {
        let set = try Self.set(Self.denyDockerHub, Self.exception(namespace: "other"))
        let decision = await Self.evaluate(set, at: Self.expiry.addingTimeInterval(-3600))
        #expect(!decision.allowed)
        #expect(decision.exemptionsUsed.isEmpty)
    }

    @Test func anExceptionMatchesOnlyItsNamesKindsImagesAndPolicies() async throws {
        let now = Self.expiry.addingTimeInterval(-60)
        let narrowed = try Self.set(Self.denyDockerHub, Self.exception(extra: """
              names: ["billing-*"]
              kinds: [Deployment, Pod]
              images:
                - glob: "nginx"
            """))
        #expect(await Self.evaluate(narrowed, at: now).allowed)
        #expect(await !Self.evaluate(narrowed, at: now, name: "payments-web").allowed)
        #expect(await !Self.evaluate(narrowed, at: now, kind: "StatefulSet").allowed)
        let otherImage = try Self.set(Self.denyDockerHub, Self.exception(extra: """
              images:
                - glob: "docker.io/library/redis"
            """))
        #expect(await !Self.evaluate(otherImage, at: now).allowed)
        let otherPolicy = try Self.set(Self.denyDockerHub, Self.exception().replacingOccurrences(of: "[deny-untrusted]", with: "[some-other-policy]"))
        #expect(await !Self.evaluate(otherPolicy, at: now).allowed)
    }

    @Test func anExceptionFromOnePolicyLeavesTheOthersInForce() async throws {
        let second = Self.denyDockerHub.replacingOccurrences(of: "deny-untrusted", with: "second-policy")
        let set = try Self.set(Self.denyDockerHub, second, Self.exception())
        let decision = await Self.evaluate(set, at: Self.expiry.addingTimeInterval(-1))
        #expect(!decision.allowed)
        #expect(decision.denials.count == 1)
        #expect(decision.denials.first?.contains("second-policy") == true)
    }

    @Test func aBypassAllowsWithAWarningUntilItExpires() async throws {
        let expiresAt = "2026-11-22T12:00:00Z"
        let end = try #require(KubernetesTime.parse(expiresAt))
        let set = try Self.set(Self.denyDockerHub, Self.bypass(expiresAt: expiresAt))
        let during = await Self.evaluate(set, at: end.addingTimeInterval(-1))
        #expect(during.allowed)
        #expect(during.warnings.first?.contains("EmergencyBypass \"incident-1\" (expires at 2026-11-22T12:00:00Z)") == true)
        #expect(during.exemptionsUsed.map(\.kind) == [.emergencyBypass])
        #expect(await !Self.evaluate(set, at: end.addingTimeInterval(1)).allowed)
        #expect(await !Self.evaluate(set, at: end.addingTimeInterval(-1), namespace: "payments").allowed)
    }

    @Test func aBypassBeyondTheMaximumWindowIsRefused() async throws {
        let expiresAt = "2026-11-23T12:00:00Z"
        let end = try #require(KubernetesTime.parse(expiresAt))
        let set = try Self.set(Self.denyDockerHub, Self.bypass(expiresAt: expiresAt, extra: "  allNamespaces: true"))
        // 25 hours ahead: beyond the default 24 h window, not applied.
        let early = end.addingTimeInterval(-25 * 3600)
        let refused = await Self.evaluate(set, at: early)
        #expect(!refused.allowed)
        #expect(refused.exemptionsUsed.isEmpty)
        // Within the window it applies, in any namespace.
        #expect(await Self.evaluate(set, at: end.addingTimeInterval(-23 * 3600), namespace: "anything").allowed)
        // A configured shorter window refuses it too.
        #expect(await !Self.evaluate(set, at: end.addingTimeInterval(-2 * 3600), window: .seconds(3600)).allowed)

        let validator = SignetResourceValidator(configuration: ExemptionConfiguration(clock: .fixed(early)))
        let problems = validator.validate(PolicySourceFile(name: "bypass.yaml", bytes: Array(Self.bypass(expiresAt: expiresAt).utf8)))
        #expect(problems.count == 1)
        #expect(problems.first?.message.contains("more than the maximum window of 24h") == true)
        #expect(problems.first?.fieldPath == "spec.expiresAt")
    }

    /// Issue 16 "Bounded": `validUntil: 9999-12-31` is a permanent exemption. Measured from its
    /// `creationTimestamp` it is beyond the 90-day window: refused by the validator, never in
    /// force in the evaluator, whatever the date.
    @Test func aPermanentExceptionIsRefusedAndNeverInForce() async throws {
        let created = Self.expiry.addingTimeInterval(-3600)
        let forever = Self.exception(validUntil: "9999-12-31T23:59:59Z").replacingOccurrences(
            of: "  namespace: billing\n", with: "  namespace: billing\n  creationTimestamp: \"\(KubernetesTime.format(created))\"\n")
        let set = try Self.set(Self.denyDockerHub, forever)
        #expect(set.exceptions.first?.createdAt == created)
        for now in [created.addingTimeInterval(60), created.addingTimeInterval(89 * 86400), created.addingTimeInterval(400 * 86400)] {
            let decision = await Self.evaluate(set, at: now)
            #expect(!decision.allowed)
            #expect(decision.exemptionsUsed.isEmpty)
        }
        let validator = SignetResourceValidator(configuration: ExemptionConfiguration(clock: .fixed(created.addingTimeInterval(60))))
        let problems = validator.validate(PolicySourceFile(name: "forever.yaml", bytes: Array(forever.utf8)))
        #expect(problems.count == 1)
        #expect(problems.first?.fieldPath == "spec.validUntil")
        let message = try #require(problems.first?.message)
        #expect(message.contains("PolicyException \"billing/vendor-nginx\" expires too late"))
        #expect(message.contains("maximum window of 90d (--max-exception-window) after its creation"))

        // An update cannot extend the window: 89 days after creation, validUntil 2 days ahead
        // ends 91 days after creation.
        let later = created.addingTimeInterval(89 * 86400)
        let extended = forever.replacingOccurrences(of: "9999-12-31T23:59:59Z", with: KubernetesTime.format(later.addingTimeInterval(2 * 86400)))
        let atUpdate = SignetResourceValidator(configuration: ExemptionConfiguration(clock: .fixed(later)))
        #expect(atUpdate.validate(PolicySourceFile(name: "e.yaml", bytes: Array(extended.utf8))).first?.fieldPath == "spec.validUntil")
        #expect(await !Self.evaluate(try Self.set(Self.denyDockerHub, extended), at: later).allowed)

        // Within the window (and a configured one): in force.
        let bounded = forever.replacingOccurrences(of: "9999-12-31T23:59:59Z", with: KubernetesTime.format(created.addingTimeInterval(30 * 86400)))
        #expect(await Self.evaluate(try Self.set(Self.denyDockerHub, bounded), at: created.addingTimeInterval(86400)).allowed)
        let shorter = PolicyEvaluator(
            policies: try Self.set(Self.denyDockerHub, bounded), noMatchAction: .deny,
            exemptions: ExemptionConfiguration(clock: .fixed(created.addingTimeInterval(86400)), maximumExceptionWindow: .seconds(7 * 86400)))
        let subject = AdmissionSubject(namespace: "billing", name: "billing-web", kind: "Pod")
        #expect(await !shorter.evaluate([ImageUse(image: "nginx:1.25", container: "web")], subject: subject, deadline: .now + .seconds(10)).allowed)
    }

    /// Issue 16 "Bounded": a six-month bypass stored around validation (webhook off) never
    /// switches itself on, not even in its last 24 hours: the window runs from its creation.
    @Test func aSixMonthBypassIsNeverActive() async throws {
        let created = Self.expiry.addingTimeInterval(-3600)
        let end = created.addingTimeInterval(183 * 86400)
        let text = Self.bypass(expiresAt: KubernetesTime.format(end)).replacingOccurrences(
            of: "  name: incident-1\n", with: "  name: incident-1\n  creationTimestamp: \"\(KubernetesTime.format(created))\"\n")
        let set = try Self.set(Self.denyDockerHub, text)
        for now in [created.addingTimeInterval(60), end.addingTimeInterval(-23 * 3600), end.addingTimeInterval(-60)] {
            let decision = await Self.evaluate(set, at: now)
            #expect(!decision.allowed, "active at \(KubernetesTime.format(now))")
            #expect(decision.exemptionsUsed.isEmpty)
        }
        let validator = SignetResourceValidator(configuration: ExemptionConfiguration(clock: .fixed(end.addingTimeInterval(-3600))))
        let message = try #require(validator.validate(PolicySourceFile(name: "b.yaml", bytes: Array(text.utf8))).first?.message)
        #expect(message.contains("EmergencyBypass \"incident-1\" expires too late"))
        #expect(message.contains("after its creation (creationTimestamp \(KubernetesTime.format(created)))"))

        // A bypass created 2 hours before its expiry is in force.
        let short = text.replacingOccurrences(of: KubernetesTime.format(end), with: KubernetesTime.format(created.addingTimeInterval(2 * 3600)))
        #expect(await Self.evaluate(try Self.set(Self.denyDockerHub, short), at: created.addingTimeInterval(60)).allowed)
    }

    /// A creationTimestamp ahead of now (written in a policy directory file: only the API server
    /// sets it in a cluster) would let an exception choose where its window starts: refused, and
    /// never in force, beyond a few minutes of clock skew.
    @Test func aCreationTimeAheadOfNowIsRefused() async throws {
        let now = Self.expiry.addingTimeInterval(-3600)
        let created = now.addingTimeInterval(70 * 365 * 86400)
        let text = Self.exception(validUntil: KubernetesTime.format(created.addingTimeInterval(60 * 86400))).replacingOccurrences(
            of: "  namespace: billing\n", with: "  namespace: billing\n  creationTimestamp: \"\(KubernetesTime.format(created))\"\n")
        let decision = await Self.evaluate(try Self.set(Self.denyDockerHub, text), at: now)
        #expect(!decision.allowed && decision.exemptionsUsed.isEmpty)
        let validator = SignetResourceValidator(configuration: ExemptionConfiguration(clock: .fixed(now)))
        let problem = try #require(validator.validate(PolicySourceFile(name: "e.yaml", bytes: Array(text.utf8))).first)
        #expect(problem.fieldPath == "metadata.creationTimestamp")
        #expect(problem.message.contains("says it was created at \(KubernetesTime.format(created)), after now"), "\(problem.message)")
        // A minute of clock skew between the API server and the replica is no problem.
        let skewed = Self.exception(validUntil: KubernetesTime.format(now.addingTimeInterval(86400))).replacingOccurrences(
            of: "  namespace: billing\n", with: "  namespace: billing\n  creationTimestamp: \"\(KubernetesTime.format(now.addingTimeInterval(60)))\"\n")
        #expect(await Self.evaluate(try Self.set(Self.denyDockerHub, skewed), at: now).allowed)
    }

    /// Issue 16 "Bounded": an exception names at least one policy, or says `allPolicies: true`.
    @Test func anExceptionNamesItsPoliciesOrSaysAllPolicies() async throws {
        func problem(_ text: String) -> PolicyLoadError? {
            do { _ = try Self.set(text); return nil } catch let error as PolicyLoadError { return error } catch { return nil }
        }
        let none = Self.exception().replacingOccurrences(of: "  policies: [deny-untrusted]\n", with: "")
        #expect(problem(none)?.fieldPath == "spec.policies")
        #expect(problem(none)?.message.contains("allPolicies: true") == true)
        let empty = Self.exception().replacingOccurrences(of: "[deny-untrusted]", with: "[]")
        #expect(problem(empty)?.fieldPath == "spec.policies")
        let both = Self.exception(extra: "  allPolicies: true")
        #expect(problem(both)?.message.contains("not both") == true)
        let all = none + "  allPolicies: true\n"
        let set = try Self.set(Self.denyDockerHub, all)
        #expect(set.exceptions.first?.policies == nil)
        #expect(await Self.evaluate(set, at: Self.expiry.addingTimeInterval(-1)).allowed)
    }

    @Test func dryRunAndRealApplyGetTheSameDecision() async throws {
        let set = try Self.set(Self.denyDockerHub, Self.exception())
        for now in [Self.expiry.addingTimeInterval(-1), Self.expiry.addingTimeInterval(1)] {
            let real = await Self.evaluate(set, at: now, dryRun: false)
            let dry = await Self.evaluate(set, at: now, dryRun: true)
            #expect(real == dry)
        }
    }

    @Test func namespaceSelectorAndKindsChooseWherePoliciesApply() async throws {
        let selective = Self.denyDockerHub + """

              namespaceSelector:
                matchLabels:
                  environment: production
                matchExpressions:
                  - key: team
                    operator: NotIn
                    values: [platform]
              kinds: [Pod]
            """
        let set = try Self.set(selective)
        let now = Self.expiry
        #expect(await !Self.evaluate(set, at: now, labels: ["environment": "production"]).allowed)
        // Not selected: the policy still covers the image (coverage is the globs' alone), so the
        // no-match action does not apply; the policy is just not enforced here, and says so.
        let staging = await Self.evaluate(set, at: now, labels: ["environment": "staging"])
        #expect(staging.allowed && staging.denials.isEmpty)
        #expect(staging.verdicts.first?.reason.contains(#"covered by ClusterImagePolicy "deny-untrusted", not enforced for this Pod"#) == true)
        #expect(staging.verdicts.first?.policies == ["deny-untrusted"])
        let platform = await Self.evaluate(set, at: now, labels: ["environment": "production", "team": "platform"])
        #expect(platform.allowed)
        // `kinds: [Pod]`: the Deployment is not denied as uncovered; its Pods are checked.
        let deployment = await Self.evaluate(set, at: now, kind: "Deployment", labels: ["environment": "production"])
        #expect(deployment.allowed, "\(deployment.denials)")
        #expect(deployment.verdicts.first?.reason.contains("not enforced for this Deployment") == true)
        // Unknown labels (a directory source): the policy applies.
        #expect(await Self.evaluate(set, at: now, labels: nil).denials.first?.contains("deny-untrusted") == true)
    }

    @Test func anOptedOutNamespaceIsNotEvaluated() async throws {
        let set = try Self.set(Self.denyDockerHub)
        let decision = await Self.evaluate(set, at: Self.expiry, labels: [ExemptionConfiguration.defaultOptOutLabel: "true"])
        #expect(decision.allowed)
        #expect(decision.auditFindings.first?.contains("opted out") == true)
        #expect(await !Self.evaluate(set, at: Self.expiry, labels: [ExemptionConfiguration.defaultOptOutLabel: "false"]).allowed)
    }

    @Test func exceptionsAndBypassesMustExpireAndBeWellFormed() throws {
        func problem(_ text: String) -> PolicyLoadError? {
            do {
                _ = try Self.set(text)
                return nil
            } catch let error as PolicyLoadError {
                return error
            } catch {
                return nil
            }
        }
        let noExpiry = problem(Self.exception().replacingOccurrences(of: "  validUntil: \"2026-12-01T00:00:00Z\"\n", with: ""))
        #expect(noExpiry?.fieldPath == "spec.validUntil")
        #expect(noExpiry?.message.contains("must expire") == true)
        #expect(problem(Self.exception(validUntil: "next tuesday"))?.message.contains("RFC 3339") == true)
        #expect(problem(Self.exception(extra: "  names: [\"Bad_Name\"]"))?.fieldPath == "spec.names[0]")
        #expect(problem(Self.exception(extra: "  images:\n    - glob: \"a***\""))?.fieldPath == "spec.images[0].glob")
        #expect(problem(Self.exception(extra: "  expires: soon"))?.message.contains("unknown field \"expires\"") == true)
        #expect(problem(Self.bypass(expiresAt: "2026-11-22T12:00:00Z", extra: ""))?.fieldPath == "spec.namespaces")
        #expect(problem(Self.bypass(expiresAt: ""))?.fieldPath == "spec.expiresAt")
        #expect(problem(Self.denyDockerHub.replacingOccurrences(of: "static:\n        action: fail\n        message: not signed", with: "cosign: {}"))?
            .message.contains("unknown field \"cosign\"") == true)
        #expect(problem(Self.denyDockerHub + "\n  namespaceSelector:\n    matchExpressions:\n      - key: a\n        operator: In\n") != nil)
        // An empty list, which a template renders from an empty list of values, is not "every":
        // refused, where leaving the field out means every name, kind or image.
        for field in ["names", "kinds", "images"] {
            let empty = problem(Self.exception(extra: "  \(field): []"))
            #expect(empty?.fieldPath == "spec.\(field)", "\(field)")
            #expect(empty?.message.contains("leave \(field) out to mean every") == true, "\(empty?.message ?? "accepted")")
        }
        #expect(problem(Self.bypass(expiresAt: "2026-11-22T12:00:00Z", extra: "  namespaces: [billing]\n  images: []"))?.fieldPath == "spec.images")
        #expect(problem(Self.exception(extra: "  names: [billing-web]\n  kinds: [Pod]")) == nil)
    }

    @Test func theValidatorRefusesExpiredExceptions() {
        let validator = SignetResourceValidator(configuration: ExemptionConfiguration(clock: .fixed(Self.expiry.addingTimeInterval(1))))
        let problems = validator.validate(PolicySourceFile(name: "e.yaml", bytes: Array(Self.exception().utf8)))
        #expect(problems.first?.message.contains("has already expired") == true)
        let fine = SignetResourceValidator(configuration: ExemptionConfiguration(clock: .fixed(Self.expiry.addingTimeInterval(-1))))
        #expect(fine.validate(PolicySourceFile(name: "e.yaml", bytes: Array(Self.exception().utf8))).isEmpty)
    }

    @Test func nameGlobsAndLabelSelectors() throws {
        let glob = try NameGlob("web-*-v?")
        #expect(glob.matches("web-api-v1"))
        #expect(!glob.matches("web-api-v10"))
        #expect(try NameGlob("*").matches("anything"))
        #expect(throws: ImageGlobError.self) { try NameGlob("Web") }
        let selector = LabelSelector(matchLabels: ["a": "1"], matchExpressions: [
            .init(key: "b", operator: .exists), .init(key: "c", operator: .doesNotExist), .init(key: "d", operator: .in, values: ["x", "y"]),
        ])
        #expect(selector.matches(["a": "1", "b": "", "d": "y"]))
        #expect(!selector.matches(["a": "1", "b": "", "d": "z"]))
        #expect(!selector.matches(["a": "1", "b": "", "c": "", "d": "x"]))
        #expect(LabelSelector().matches([:]))
    }
}

/// RFC 3339 formatting of `metav1.Time` round-trips through the parser.
@Test(arguments: ["2026-11-22T10:00:00Z", "1999-01-09T03:04:05Z", "2099-12-31T23:59:59Z"])
func kubernetesTimeFormatRoundTrips(_ text: String) throws {
    let date = try #require(KubernetesTime.parse(text))
    #expect(KubernetesTime.format(date) == text)
    #expect(KubernetesTime.format(date.addingTimeInterval(0.75)) == text)
}

/// Issue 16 "Visible": the exemption monitor's gauges and the transitions it logs, with a pinned clock.
struct ExemptionMonitorTests {
    static let start = KubernetesTime.parse("2026-11-22T10:00:00Z")!

    static func set(exceptionUntil: Date, bypassUntil: Date?, reason: String = "vendor image") throws -> PolicySet {
        var documents = [
            ExemptionDecisionTests.denyDockerHub,
            ExemptionDecisionTests.exception(validUntil: KubernetesTime.format(exceptionUntil)).replacingOccurrences(of: "vendor image", with: reason),
        ]
        if let bypassUntil { documents.append(ExemptionDecisionTests.bypass(expiresAt: KubernetesTime.format(bypassUntil))) }
        return try PolicyLoader().load(files: [PolicySourceFile(name: "m.yaml", bytes: Array(documents.joined(separator: "\n---\n").utf8))])
    }

    @Test func gaugesAndTransitionsFollowTheClock() throws {
        var monitor = ExemptionMonitor(configuration: ExemptionConfiguration(clock: .fixed(Self.start)))
        let exceptionEnd = Self.start.addingTimeInterval(3 * 3600)
        let bypassEnd = Self.start.addingTimeInterval(3600)
        let both = try Self.set(exceptionUntil: exceptionEnd, bypassUntil: bypassEnd)

        let first = monitor.observe(both, now: Self.start)
        #expect(first.activeBypasses == 1 && first.activeExceptions == 1)
        #expect(first.nearestExceptionExpirySeconds == 3 * 3600)
        #expect(first.transitions.map { "\($0.event) \($0.use.qualifiedName)" } == ["started incident-1", "started billing/vendor-nginx"])
        #expect(first.transitions.first?.message.contains("EmergencyBypass \"incident-1\" (expires at 2026-11-22T11:00:00Z) is in force") == true)

        // Nothing changed: nothing to log.
        let quiet = monitor.observe(both, now: Self.start.addingTimeInterval(60))
        #expect(quiet.transitions.isEmpty)
        #expect(quiet.nearestExceptionExpirySeconds == 3 * 3600 - 60)

        // The reason of the exception changes while in force.
        let changed = monitor.observe(try Self.set(exceptionUntil: exceptionEnd, bypassUntil: bypassEnd, reason: "still vendor"), now: Self.start.addingTimeInterval(120))
        #expect(changed.transitions.map(\.event) == [.changed])

        // The bypass expires.
        let later = monitor.observe(try Self.set(exceptionUntil: exceptionEnd, bypassUntil: bypassEnd, reason: "still vendor"), now: bypassEnd)
        #expect(later.activeBypasses == 0 && later.activeExceptions == 1)
        #expect(later.transitions.map { "\($0.event) \($0.use.qualifiedName)" } == ["expired incident-1"])

        // The exception is deleted while in force.
        let gone = monitor.observe(try Self.set(exceptionUntil: exceptionEnd, bypassUntil: nil).filteringExceptions(), now: bypassEnd.addingTimeInterval(1))
        #expect(gone.transitions.map { "\($0.event) \($0.use.qualifiedName)" } == ["removed billing/vendor-nginx"])
        #expect(gone.activeExceptions == 0 && gone.nearestExceptionExpirySeconds == 0)
    }

    @Test func aBypassBeyondItsWindowIsReportedRefusedNotActive() throws {
        var monitor = ExemptionMonitor(configuration: ExemptionConfiguration(clock: .fixed(Self.start)))
        let report = monitor.observe(try Self.set(exceptionUntil: Self.start.addingTimeInterval(60), bypassUntil: Self.start.addingTimeInterval(72 * 3600)), now: Self.start)
        #expect(report.activeBypasses == 0)
        #expect(report.transitions.map(\.event).contains(.refused))
    }
}

extension PolicySet {
    /// The same set without its exceptions.
    func filteringExceptions() -> PolicySet {
        PolicySet(policies: policies, revision: revision, exceptions: [], bypasses: bypasses)
    }
}
