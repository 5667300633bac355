import Foundation
import SignetRegistry

/// Exemption rules of the ``PolicyEvaluator`` (the signet design, "Resources"):
///
/// - a namespace labelled `<namespaceOptOutLabel>: "true"` is not evaluated: every image is
///   allowed and the opt-out is recorded as an audit finding;
/// - an `EmergencyBypass` in force that covers the image and namespace allows it without
///   evaluation, with a warning naming the bypass and its expiry;
/// - a `PolicyException` in force, in the object's namespace, naming the policy (or all), and
///   matching the object's name, kind and image, exempts the image from that policy, with a
///   warning naming the exception and its expiry.
///
/// "In force" is decided against ``ExemptionConfiguration/clock`` once per admission, so an
/// exemption stops applying at the instant it expires.
extension PolicyEvaluator {
    /// What the tag cache says of the tag written beside an image's digest (`name:tag@digest`),
    /// asked once per image: whether the tag names that digest now (then the image is what the
    /// tag names, and an exemption written for the tag takes it in), or is not known (then the
    /// tag must be resolved before such an exemption may apply).
    struct TagKnowledge {
        /// `name:tag` when the tag is known to name the digest.
        var naming: ImageReference?
        /// `name:tag` when the tag cache does not know what it names.
        var unknown: ImageReference?

        static let none = TagKnowledge()
    }

    /// ``TagKnowledge`` of `image`; nothing for an image without both a tag and a digest, or
    /// when no exemption could use it.
    func tagKnowledge(of image: ImageReference) -> TagKnowledge {
        guard let digest = image.digest, image.tag != nil, let tagDigests,
              !policies.exceptions.isEmpty || !policies.bypasses.isEmpty else { return .none }
        let tagged = image.withoutDigest
        switch tagDigests.cachedDigest(ofTag: tagged) {
        case digest?: return TagKnowledge(naming: tagged)
        case nil: return TagKnowledge(unknown: tagged)
        default: return .none
        }
    }

    /// The first active bypass covering `image` for `subject`, by name (or its tagged form: see
    /// ``TagKnowledge``).
    func activeBypass(for image: ImageReference, subject: AdmissionSubject, now: Date, tag: TagKnowledge? = nil) -> CompiledBypass? {
        guard !policies.bypasses.isEmpty else { return nil }
        func covering(_ image: ImageReference) -> CompiledBypass? {
            policies.bypasses.first {
                $0.isActive(at: now, maximumWindow: exemptions.maximumBypassWindow) && $0.covers(subject: subject, image: image)
            }
        }
        return covering(image) ?? (tag ?? tagKnowledge(of: image)).naming.flatMap(covering)
    }

    /// The first active exception exempting `image` of `subject` from `policy` (or its tagged
    /// form: see ``TagKnowledge``).
    func activeException(
        for policy: CompiledPolicy, image: ImageReference, subject: AdmissionSubject, now: Date, tag: TagKnowledge? = nil
    ) -> CompiledException? {
        guard !policies.exceptions.isEmpty else { return nil }
        func exempting(_ image: ImageReference) -> CompiledException? {
            policies.exceptions.first {
                $0.isActive(at: now, maximumWindow: exemptions.maximumExceptionWindow) && $0.covers(policy: policy.name, subject: subject, image: image)
            }
        }
        return exempting(image) ?? (tag ?? tagKnowledge(of: image)).naming.flatMap(exempting)
    }

    /// Whether `pinned` (`image` pinned to a digest: `name:tag@sha256:…`) is exempted for
    /// `subject` exactly as `image` is: by the same bypass, or from the same policies by the same
    /// exceptions. The mutating webhook pins an image an exemption admits only then; an
    /// exemption that matches the image as written (a tag-limited `images` entry, a controller's
    /// template that names the tag) would not take in the pinned form, and `/validate` would deny it.
    public func exemptsAlike(_ image: String, pinned: String, subject: AdmissionSubject) -> Bool {
        let now = exemptions.clock.now()
        func exemptionsOf(_ text: String) -> [String]? {
            guard case .success(let parsed) = references.parse(text) else { return nil }
            if let bypass = activeBypass(for: parsed.reference, subject: subject, now: now) { return ["bypass \u{0}" + bypass.name] }
            var found: [String] = []
            for index in parsed.matchingPolicies where policies.policies[index].applies(to: subject) {
                let policy = policies.policies[index]
                if let exception = activeException(for: policy, image: parsed.reference, subject: subject, now: now) {
                    found.append(policy.name + "\u{0}" + exception.namespace + "/" + exception.name)
                }
            }
            return found
        }
        guard let written = exemptionsOf(image), let pinnedForm = exemptionsOf(pinned) else { return false }
        return written == pinnedForm
    }

    /// Whether an exception in force could exempt `subject` only through its owners, so that
    /// its owner chain should be looked up before evaluating: it names a controller, and an
    /// exception in its namespace does not take in the object itself (by kind and name).
    public func needsOwnerChain(_ subject: AdmissionSubject) -> Bool {
        guard let controller = subject.controller, controller.isFollowed, let namespace = subject.namespace else { return false }
        let now = exemptions.clock.now()
        return policies.exceptions.contains {
            $0.namespace == namespace && !$0.coversObject(kind: subject.kind, name: subject.definiteName)
                && $0.isActive(at: now, maximumWindow: exemptions.maximumExceptionWindow)
        }
    }

    /// An allowed decision when `subject`'s namespace carries the opt-out label.
    func optOutDecision(_ images: [ImageUse], subject: AdmissionSubject) -> AdmissionDecision? {
        guard let namespace = subject.namespace,
              subject.namespaceLabels?[exemptions.namespaceOptOutLabel] == "true" else { return nil }
        let reason = "namespace \"\(namespace)\" is opted out of signet by the label \(exemptions.namespaceOptOutLabel)=true"
        let verdicts = images.map {
            ImageVerdict(image: $0.image, reference: nil, container: $0.container, containerType: $0.containerType,
                         policies: [], outcome: .allow, reason: reason)
        }
        var decision = AdmissionDecision(allowed: true, verdicts: verdicts, denials: [], warnings: [], auditFindings: [reason])
        decision.namespaceOptOut = "\(exemptions.namespaceOptOutLabel)=true"
        return decision
    }
}

extension AdmissionDecision {
    /// Every exception or bypass that allowed an image, once each.
    public var exemptionsUsed: [ExemptionUse] {
        var seen: Set<ExemptionUse> = []
        var result: [ExemptionUse] = []
        // By index: most verdicts have no exemption, and are not copied to find that out.
        for index in verdicts.indices where !verdicts[index].exemptions.isEmpty {
            for exemption in verdicts[index].exemptions where seen.insert(exemption).inserted {
                result.append(exemption)
            }
        }
        return result
    }
}

extension ExemptionUse {
    /// `image "…" (container "c") allowed by PolicyException "ns/name" (valid until …) despite
    /// policy "p": reason`.
    func warning(reference: ImageReference, container: String) -> String {
        switch kind {
        case .policyException:
            return "image \"\(reference)\" (\(container)) allowed by \(description) despite policy \"\(policy ?? "")\": \(reason)"
        case .emergencyBypass:
            return "image \"\(reference)\" (\(container)) allowed without verification by \(description): \(reason); every use is audited"
        }
    }
}
