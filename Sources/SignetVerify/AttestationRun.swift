import SignetAttestation
import SignetPolicy
import SignetSigstore

/// The state of one attestations verification (sigstore/cosign `specs/ATTESTATION_SPEC.md` and
/// `specs/BUNDLE_SPEC.md`): the steps so far in both places searched, the attestations verified,
/// and why each candidate was refused, by requirement, so that a deny can say it.
struct AttestationRun: BundleReferrerRecording {
    let request: VerificationRequest
    let trust: CompiledAttestationAuthority
    var steps: [VerificationStep] = []
    var verified: [VerifiedAttestation] = []
    /// Requirement name -> why candidates of its type were refused.
    var rejections: [String: [String]] = [:]
    /// What is left to download of the `.att` layers, and of the bundle referrers: a budget
    /// each, so that neither place can spend the other's.
    var layerBudget: VerificationByteBudget
    var fetchBudget: VerificationByteBudget?

    init(request: VerificationRequest, trust: CompiledAttestationAuthority, fetchBudget: VerificationByteBudget = .attestations) {
        self.request = request
        self.trust = trust
        self.layerBudget = fetchBudget
        self.fetchBudget = fetchBudget
    }

    /// A refusal that concerns every requirement (an envelope that cannot be read, a limit).
    mutating func rejectAll(_ reason: String) {
        for requirement in trust.requirements { rejections[requirement.name, default: []].append(reason) }
    }

    mutating func reject(_ label: String, step: String, _ reason: String) {
        steps.append(VerificationStep(name: "\(label) \(step)", passed: false, detail: reason))
        rejectAll("\(label): \(reason)")
    }

    /// No bundle referrer is not a refusal: the listing step says it.
    mutating func recordAbsence(_ reason: String) {}

    mutating func recordCandidate() {}

    mutating func recordUnexamined(_ note: String) {
        steps.append(VerificationStep(name: "bundle referrers unexamined", passed: false, detail: note))
        rejectAll(note)
    }

    /// Adds what one envelope gave, its steps and reasons labelled with where it was found.
    mutating func record(_ examination: AttestationVerifier.Examination, label: String) {
        verified += examination.verified
        for (name, reasons) in examination.rejections { rejections[name, default: []] += reasons.map { "\(label): \($0)" } }
        steps += examination.steps.map { VerificationStep(name: "\(label) \($0.name)", passed: $0.passed, detail: $0.detail) }
    }
}

/// One attestation to examine: its DSSE envelope and, where the signer needs it, the same
/// signature in Sigstore form (the certificate or key hint and the log entries).
struct AttestationCandidate {
    var envelope: DSSEEnvelope
    /// The Sigstore bundle (a referrer's, or built from a `.att` layer's annotations), or why
    /// the layer's annotations could not be read as one.
    var sigstore: Result<SigstoreBundle, LayerRejection>
    /// Whether it came as a Sigstore bundle referrer (whose verification material is all it
    /// has), rather than a `.att` layer.
    var isBundle: Bool
}
