import Foundation
import Logging
import SignetRegistry

/// Decides whether the images of an admission request may run, per the ``PolicySet`` in force.
///
/// Rules (the signet design, "The path of one request"):
/// - every distinct image is evaluated concurrently, under the request deadline;
/// - an image must satisfy every policy whose globs match it; within a policy, `require`
///   authorities must pass;
/// - an image reference that does not parse is denied with the parse error (fail closed);
/// - an image no policy covers is denied or allowed per ``NoMatchAction`` (default deny);
/// - a verifier that throws, or is missing for a signature authority, or misses the deadline,
///   counts as "not passed" with that reason, so an `Enforce` policy denies (fail closed);
/// - a failed `Warn` policy allows the image with a warning; a failed `Audit` policy allows it
///   and records the finding for audit annotations and logs;
/// - exemptions (see `PolicyEvaluator+Exemptions.swift`): an image an active `EmergencyBypass`
///   covers is allowed without evaluation; a policy an active `PolicyException` exempts the
///   object from is not evaluated; a namespace with the opt-out label is not evaluated;
///   policies apply only to the namespaces and kinds they select.
public struct PolicyEvaluator: Sendable {
    public let policies: PolicySet
    public let noMatchAction: NoMatchAction
    public let verifier: (any AuthorityVerifier)?
    public var logger: Logger
    /// The clock, bypass window and opt-out label for exemptions.
    public var exemptions: ExemptionConfiguration
    /// Registry credentials for the images of an admission (its pull secrets); read only when a
    /// verification has to ask a registry. `nil`: the verifier's registry client's own only.
    public var credentialProvider: (any RegistryCredentialProvider)?

    public init(
        policies: PolicySet,
        noMatchAction: NoMatchAction = .deny,
        verifier: (any AuthorityVerifier)? = nil,
        logger: Logger = Logger(label: "signet.policy"),
        exemptions: ExemptionConfiguration = ExemptionConfiguration(),
        credentialProvider: (any RegistryCredentialProvider)? = nil
    ) {
        self.policies = policies
        self.noMatchAction = noMatchAction
        self.verifier = verifier
        self.logger = logger
        self.exemptions = exemptions
        self.credentialProvider = credentialProvider
    }

    /// Evaluates `images` for `subject`; never throws: every failure is a decision.
    public func evaluate(_ images: [ImageUse], subject: AdmissionSubject, deadline: ContinuousClock.Instant) async -> AdmissionDecision {
        let now = exemptions.clock.now()
        if let optedOut = optOutDecision(images, subject: subject) { return optedOut }
        // The same image in several containers is evaluated once.
        let distinct = Array(Set(images.map(\.image)))
        let credentials = credentialProvider.map { AdmissionCredentials(provider: $0, subject: subject) }
        let evaluations = await RequestCredentials.using(credentials) {
            await withTaskGroup(of: (String, ImageEvaluation).self) { group in
                for image in distinct {
                    group.addTask { (image, await self.evaluate(image: image, subject: subject, now: now, deadline: deadline)) }
                }
                var results: [String: ImageEvaluation] = [:]
                for await (image, evaluation) in group {
                    results[image] = evaluation
                }
                return results
            }
        }

        var verdicts: [ImageVerdict] = []
        var denials: [String] = []
        var warnings: [String] = []
        var auditFindings: [String] = []
        verdicts.reserveCapacity(images.count)
        for use in images {
            guard let evaluation = evaluations[use.image] else { continue }
            let verdict = evaluation.verdict(for: use, noMatchAction: noMatchAction)
            verdicts.append(verdict.verdict)
            denials += verdict.denials
            warnings += verdict.warnings
            auditFindings += verdict.auditFindings
        }
        let decision = AdmissionDecision(
            allowed: denials.isEmpty, verdicts: verdicts, denials: denials, warnings: warnings, auditFindings: auditFindings)
        logger.debug("evaluated images", metadata: [
            "kind": "\(subject.kind)", "namespace": "\(subject.namespace ?? "")", "name": "\(subject.name ?? "")",
            "decision": "\(decision.allowed ? "allowed" : "denied")", "summary": "\(decision.summary)",
            "revision": "\(policies.revision)",
        ])
        return decision
    }

    // MARK: - One image

    private func evaluate(image: String, subject admission: AdmissionSubject, now: Date, deadline: ContinuousClock.Instant) async -> ImageEvaluation {
        let reference: ImageReference
        do {
            reference = try ImageReference(parsing: image)
        } catch {
            return .invalid(error)
        }
        if let bypass = activeBypass(for: reference, subject: admission, now: now) {
            return .bypassed(reference, bypass.use)
        }
        let subject = ImageMatchSubject(reference)
        let selected = policies.policies(matching: subject).filter { $0.applies(to: admission) }
        if selected.isEmpty {
            return .uncovered(reference)
        }
        var exempted: [PolicyResult] = []
        var matching: [CompiledPolicy] = []
        for policy in selected {
            if let exception = activeException(for: policy, image: reference, subject: admission, now: now) {
                exempted.append(PolicyResult(
                    policy: policy.name, mode: policy.mode, passed: true, required: policy.requiredPasses, authorities: [],
                    exemption: exception.use(policy: policy.name)))
            } else {
                matching.append(policy)
            }
        }
        if matching.isEmpty {
            return .evaluated(reference, exempted)
        }
        var results: [PolicyResult] = []
        results.reserveCapacity(matching.count)
        if matching.count == 1 {
            results.append(await evaluate(policy: matching[0], image: reference, deadline: deadline))
        } else {
            results = await withTaskGroup(of: (Int, PolicyResult).self) { group in
                for (index, policy) in matching.enumerated() {
                    group.addTask { (index, await self.evaluate(policy: policy, image: reference, deadline: deadline)) }
                }
                var ordered = [PolicyResult?](repeating: nil, count: matching.count)
                for await (index, result) in group { ordered[index] = result }
                return ordered.compactMap { $0 }
            }
        }
        return .evaluated(reference, (results + exempted).sorted { $0.policy < $1.policy })
    }

    // MARK: - One policy

    private func evaluate(policy: CompiledPolicy, image: ImageReference, deadline: ContinuousClock.Instant) async -> PolicyResult {
        let required = policy.requiredPasses
        let total = policy.authorities.count
        var results = [AuthorityResult?](repeating: nil, count: total)
        var passes = 0
        var decided = 0
        func isSettled() -> Bool { passes >= required || passes + (total - decided) < required }

        // Static authorities are decided here, without the verifier.
        var pending: [CompiledAuthority] = []
        for authority in policy.authorities {
            guard case .static(let action, let message) = authority.kind else {
                pending.append(authority)
                continue
            }
            let passed = action == .pass
            let reason = message ?? (passed ? "static authority passes every image" : "static authority fails every image")
            results[authority.index] = AuthorityResult(authority: authority.name, status: passed ? .passed : .failed, reason: reason)
            decided += 1
            if passed { passes += 1 }
        }

        if !pending.isEmpty, !isSettled() {
            if let verifier {
                await withTaskGroup(of: AuthorityResult.self) { group in
                    for authority in pending {
                        group.addTask {
                            await Self.verify(image: image, authority: authority, policy: policy, verifier: verifier, deadline: deadline)
                        }
                    }
                    for await result in group {
                        guard let authority = pending.first(where: { $0.name == result.authority }) else { continue }
                        results[authority.index] = result
                        decided += 1
                        if result.status == .passed { passes += 1 }
                        if isSettled() {
                            group.cancelAll()
                            break
                        }
                    }
                }
            } else {
                for authority in pending {
                    results[authority.index] = AuthorityResult(
                        authority: authority.name, status: .error,
                        reason: "no verifier is configured for \(authority.kind.fieldName) authorities")
                    decided += 1
                }
            }
        }
        return PolicyResult(
            policy: policy.name, mode: policy.mode, passed: passes >= required, required: required,
            authorities: results.compactMap { $0 })
    }

    /// Runs the verifier, racing the deadline so a slow registry cannot hold the admission.
    private static func verify(
        image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy,
        verifier: any AuthorityVerifier, deadline: ContinuousClock.Instant
    ) async -> AuthorityResult {
        if ContinuousClock.now >= deadline {
            return AuthorityResult(authority: authority.name, status: .error, reason: "could not verify: the admission deadline passed")
        }
        return await withTaskGroup(of: AuthorityResult?.self) { group in
            group.addTask {
                do {
                    let verdict = try await verifier.verify(image: image, authority: authority, policy: policy, deadline: deadline)
                    return AuthorityResult(
                        authority: authority.name, status: verdict.passed ? .passed : .failed, reason: verdict.reason, steps: verdict.steps)
                } catch {
                    return AuthorityResult(authority: authority.name, status: .error, reason: "could not verify: \(error)")
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return AuthorityResult(authority: authority.name, status: .error, reason: "could not verify: the admission deadline passed")
                } catch {
                    return nil
                }
            }
            var outcome: AuthorityResult?
            for await result in group {
                if let result {
                    outcome = result
                    group.cancelAll()
                    break
                }
            }
            return outcome ?? AuthorityResult(authority: authority.name, status: .error, reason: "could not verify: cancelled")
        }
    }
}

/// The evaluation of one distinct image, turned into a verdict per container that uses it.
private enum ImageEvaluation: Sendable {
    case invalid(ImageReferenceError)
    case uncovered(ImageReference)
    case evaluated(ImageReference, [PolicyResult])
    case bypassed(ImageReference, ExemptionUse)

    struct UseVerdict {
        var verdict: ImageVerdict
        var denials: [String] = []
        var warnings: [String] = []
        var auditFindings: [String] = []
    }

    func verdict(for use: ImageUse, noMatchAction: NoMatchAction) -> UseVerdict {
        let container = use.containerType.describe(use.container)
        switch self {
        case .invalid(let error):
            let message = "image \"\(use.image)\" (\(container)) denied: \(error.description)"
            return UseVerdict(
                verdict: ImageVerdict(
                    image: use.image, reference: nil, container: use.container, containerType: use.containerType,
                    policies: [], outcome: .deny, reason: error.description),
                denials: [message])

        case .uncovered(let reference):
            let message = "image \"\(reference)\" (\(container)) is not covered by any ClusterImagePolicy and the no-match action is \(noMatchAction.rawValue)"
            let outcome: ImageOutcome = noMatchAction == .deny ? .deny : .allow
            return UseVerdict(
                verdict: ImageVerdict(
                    image: use.image, reference: reference.description, container: use.container, containerType: use.containerType,
                    policies: [], outcome: outcome, reason: message),
                denials: outcome == .deny ? [message] : [])

        case .bypassed(let reference, let bypass):
            let message = bypass.warning(reference: reference, container: container)
            return UseVerdict(
                verdict: ImageVerdict(
                    image: use.image, reference: reference.description, container: use.container, containerType: use.containerType,
                    policies: [], outcome: .allow, reason: message, exemptions: [bypass]),
                warnings: [message])

        case .evaluated(let reference, let results):
            var result = UseVerdict(verdict: ImageVerdict(
                image: use.image, reference: reference.description, container: use.container, containerType: use.containerType,
                policies: results.map(\.policy), outcome: .allow, reason: "", results: results,
                exemptions: results.compactMap(\.exemption)))
            let exemptionWarnings = results.compactMap { policy in
                policy.exemption.map { $0.warning(reference: reference, container: container) }
            }
            for policy in results where !policy.passed {
                let failure = Self.describeFailure(policy)
                switch policy.mode {
                case .enforce:
                    result.denials.append("image \"\(reference)\" (\(container)) denied by policy \"\(policy.policy)\"\(failure)")
                case .warn:
                    result.warnings.append("image \"\(reference)\" (\(container)) would be denied by policy \"\(policy.policy)\" (mode Warn)\(failure)")
                case .audit:
                    result.auditFindings.append("image \"\(reference)\" (\(container)) would be denied by policy \"\(policy.policy)\" (mode Audit)\(failure)")
                }
            }
            if let denial = result.denials.first {
                result.verdict.outcome = .deny
                result.verdict.reason = result.denials.count == 1 ? denial : result.denials.joined(separator: "; ")
            } else if !result.warnings.isEmpty {
                result.verdict.outcome = .warn
                result.verdict.reason = result.warnings.joined(separator: "; ")
            } else if !result.auditFindings.isEmpty {
                result.verdict.outcome = .audit
                result.verdict.reason = result.auditFindings.joined(separator: "; ")
            } else if !exemptionWarnings.isEmpty {
                result.verdict.reason = exemptionWarnings.joined(separator: "; ")
            } else {
                let names = results.map { "\"\($0.policy)\"" }.joined(separator: ", ")
                result.verdict.reason = "image \"\(reference)\" (\(container)) allowed by \(results.count == 1 ? "policy" : "policies") \(names)"
            }
            result.warnings += exemptionWarnings
            return result
        }
    }

    /// `, authority "a": message` for one failing authority, or the count and every failure.
    private static func describeFailure(_ policy: PolicyResult) -> String {
        let failures = policy.authorities.filter { $0.status != .passed }
        let passed = policy.authorities.count - failures.count
        if failures.count == 1, let failure = failures.first {
            return ", authority \"\(failure.authority)\": \(failure.reason)"
        }
        let list = failures.map { "authority \"\($0.authority)\": \($0.reason)" }.joined(separator: "; ")
        return " (\(policy.required) authorities must pass, \(passed) passed): \(list)"
    }
}
