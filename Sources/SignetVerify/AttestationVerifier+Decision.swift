import Foundation
import SignetAttestation
import SignetPolicy
import SignetRegistry
import SignetSigstore

extension AttestationVerifier {
    /// What one envelope gave: the attestations it verified for, the rejections by requirement
    /// name (an envelope of a requirement's predicate type that its signer did not sign, or
    /// about another image), and the steps.
    struct Examination {
        var verified: [VerifiedAttestation] = []
        var rejections: [String: [String]] = [:]
        var steps: [VerificationStep] = []
    }

    /// Steps 2 and 3 for one candidate. The signature comes first: each distinct signer among
    /// the requirements verifies the envelope over its pre-authentication encoding (DSSE
    /// `protocol.md`, "Verification": the payload is used only once the signature verified),
    /// and the payload is read as an in-toto statement only when one of them has signed it, so
    /// an unsigned payload, however large or deeply nested, is refused without being parsed.
    /// The statement then counts for the requirements whose signer signed it and whose
    /// predicate type it names.
    func examine(_ candidate: AttestationCandidate, source: String, digest: ImageDigest, requirements: [CompiledAttestationAuthority.Requirement]) -> Examination {
        var examination = Examination()
        let envelope = candidate.envelope
        guard envelope.payloadType == InTotoStatement.payloadType else {
            let reason = "the envelope's payload type is \(UntrustedText.clipped(envelope.payloadType)), not \(InTotoStatement.payloadType)"
            examination.steps.append(VerificationStep(name: "statement", passed: false, detail: reason))
            for requirement in requirements { examination.rejections[requirement.name, default: []].append(reason) }
            return examination
        }
        // Step 2: who signed it, once per distinct signer (requirements may share one).
        var verdicts: [(signer: AttestationSigner, result: Result<[String], LayerRejection>)] = []
        var signed: [(requirement: CompiledAttestationAuthority.Requirement, names: [String])] = []
        for requirement in requirements {
            let result: Result<[String], LayerRejection>
            if let known = verdicts.first(where: { $0.signer.isExactly(requirement.signer) }) {
                result = known.result
            } else {
                result = signers(of: candidate, for: requirement.signer, digest: digest)
                verdicts.append((requirement.signer, result))
            }
            switch result {
            case .failure(let rejection):
                let reason = "an envelope not signed by the \(requirement.name) signer (its statement was not read): \(rejection.reason)"
                examination.rejections[requirement.name, default: []].append(reason)
                examination.steps.append(VerificationStep(name: "\(requirement.name) \(rejection.step)", passed: false, detail: reason))
            case .success(let names):
                signed.append((requirement, names))
            }
        }
        guard !signed.isEmpty else { return examination }
        // Step 3: the signed payload read as a statement.
        let statement: InTotoStatement
        do {
            statement = try InTotoStatement(json: envelope.payload)
        } catch {
            let reason = "a statement signed by the \(signed.map(\.requirement.name).joined(separator: ", ")) signer cannot be read: "
                + UntrustedText.clipped(error.reason, limit: 300)
            examination.steps.append(VerificationStep(name: "statement", passed: false, detail: reason))
            for (requirement, _) in signed { examination.rejections[requirement.name, default: []].append(reason) }
            return examination
        }
        examination.steps.append(VerificationStep(
            name: "statement", passed: true,
            detail: "\(UntrustedText.clipped(statement.type)), predicate type \(UntrustedText.clipped(statement.predicateType))"))
        for (requirement, names) in signed where requirement.predicateType == statement.predicateType {
            examination.steps.append(VerificationStep(
                name: "\(requirement.name) signature", passed: true, detail: "signed by " + names.joined(separator: ", ")))
            let subjects = statement.subjects.flatMap { subject in subject.digest.map { "\($0.key):\($0.value)" } }.sorted()
            guard statement.hasSubject(algorithm: digest.algorithm, hex: digest.encoded) else {
                let reason = "a \(requirement.name) attestation about " + subjects.joined(separator: ", ") + ", not the image's digest \(digest)"
                examination.rejections[requirement.name, default: []].append(reason)
                examination.steps.append(VerificationStep(name: "\(requirement.name) subject", passed: false, detail: reason))
                continue
            }
            examination.steps.append(VerificationStep(name: "\(requirement.name) subject", passed: true, detail: "the statement names \(digest)"))
            examination.verified.append(VerifiedAttestation(
                requirement: requirement.name, predicateType: statement.predicateType, statementType: statement.type, signers: names,
                source: source, subjects: subjects, fields: PredicateFields(reading: requirement.paths, from: statement.predicate)))
        }
        return examination
    }

    /// The outcome of step 4.
    struct Decision {
        var passed: Bool
        var reason: String
        var failure: VerificationFailure?
        var steps: [VerificationStep]
    }

    /// Step 4: each requirement needs one verified attestation that meets all its conditions at
    /// `now`. A deny names the attestation and the failed condition (`provenance
    /// runDetails.builder.id is https://evil.example, expected https://github.com/actions/runner`),
    /// or says that no attestation of the type signed by the signer was found, and why each
    /// candidate was refused.
    static func decide(
        _ trust: CompiledAttestationAuthority, attestations: [VerifiedAttestation], rejections: [String: [String]], now: Date
    ) -> Decision {
        var steps: [VerificationStep] = []
        var failures: [String] = []
        var passes: [String] = []
        var failure: VerificationFailure?
        for requirement in trust.requirements {
            let signers = requirement.signer.description
            let candidates = attestations.filter { $0.requirement == requirement.name }
            guard !candidates.isEmpty else {
                var reason = "no attestation of type \(requirement.predicateType) signed by \(signers)"
                let refused = rejections[requirement.name] ?? []
                if !refused.isEmpty { reason += " (" + Self.summary(of: refused) + ")" }
                failures.append(reason)
                failure = failure ?? (refused.isEmpty ? .noSignatures : .noValidSignature)
                steps.append(VerificationStep(name: "requirement \(requirement.name)", passed: false, detail: reason))
                continue
            }
            var firstFailure: String?
            var met: VerifiedAttestation?
            for candidate in candidates {
                if let why = requirement.condition.failure(in: candidate.fields, now: now) {
                    firstFailure = firstFailure ?? why
                } else {
                    met = candidate
                    break
                }
            }
            if let met {
                let detail = "\(requirement.name) (\(requirement.predicateType)) signed by \(met.signers.joined(separator: ", ")) from \(met.source)"
                    + (requirement.conditions.isEmpty ? "" : ", \(requirement.conditions.count) condition(s) met")
                passes.append(detail)
                steps.append(VerificationStep(name: "requirement \(requirement.name)", passed: true, detail: detail))
            } else {
                let reason = "\(requirement.name) \(firstFailure ?? "condition not met")"
                failures.append(reason)
                failure = failure ?? .conditionNotMet
                steps.append(VerificationStep(name: "requirement \(requirement.name)", passed: false, detail: reason))
            }
        }
        guard failures.isEmpty else {
            return Decision(passed: false, reason: failures.joined(separator: "; "), failure: failure, steps: steps)
        }
        return Decision(passed: true, reason: "attestations verified: " + passes.joined(separator: "; "), failure: nil, steps: steps)
    }

    /// The rejections of one requirement for a deny reason: the first few distinct ones, each
    /// clipped, and how many more there were (an image may carry many envelopes).
    static func summary(of rejections: [String]) -> String {
        var distinct: [String] = []
        for rejection in rejections where !distinct.contains(rejection) { distinct.append(rejection) }
        let shown = distinct.prefix(4).map { UntrustedText.clipped($0, limit: 1_000) }
        let more = distinct.count - shown.count
        return shown.joined(separator: "; ") + (more > 0 ? "; and \(more) more" : "")
    }
}
