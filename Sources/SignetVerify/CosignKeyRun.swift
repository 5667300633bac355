import Foundation
import SignetPolicy
import SignetRegistry

/// The state of one key-based verification (sigstore/cosign `specs/SIGNATURE_SPEC.md` and
/// `specs/BUNDLE_SPEC.md`): the steps and reasons gathered so far in both places searched, and
/// which trusted keys vouched where, so that the threshold counts each key once whichever form
/// (a `.sig` layer or a bundle referrer) it signed in.
struct CosignKeyRun: BundleReferrerRecording {
    let request: VerificationRequest
    let trust: CompiledKeyAuthority
    let format: SignatureFormat
    var steps: [VerificationStep] = []
    var rejections: [String] = []
    /// Why nothing was found in a place searched.
    var absences: [String] = []
    /// Signatures examined (layers and bundles).
    var candidates = 0
    /// Candidates refused because the artifact holding them is not a signature at all (a `.sig`
    /// index, a `.sig` image without simple-signing layers).
    var malformed = 0
    /// Key index -> accepted `.sig` layers.
    var vouchedLayers: [Int: [Int]] = [:]
    /// Key index -> accepted bundle referrers (manifest digests).
    var vouchedBundles: [Int: [String]] = [:]
    var checkTime = Duration.zero
    var timings = VerificationResult.Timings()
    var fetchBudget: VerificationByteBudget?

    init(request: VerificationRequest, trust: CompiledKeyAuthority, format: SignatureFormat) {
        self.request = request
        self.trust = trust
        self.format = format
    }

    /// Whether every candidate examined was a malformed artifact.
    var malformedOnly: Bool { candidates > 0 && malformed == candidates }

    mutating func reject(_ label: String, step: String, _ reason: String) {
        let line = "\(label): \(reason)"
        steps.append(VerificationStep(name: "\(label) \(step)", passed: false, detail: line))
        rejections.append(line)
    }

    mutating func recordAbsence(_ reason: String) { absences.append(reason) }

    mutating func recordCandidate() { candidates += 1 }

    mutating func recordUnexamined(_ note: String) { rejections.append(note) }

    /// Indices of the distinct keys that vouched, in either form: a key listed twice (in two
    /// encodings, say) is one signer (PublicKey equality is on the key, not its DER).
    var distinctSigners: [Int] {
        var distinct: [Int] = []
        let vouched = Set(vouchedLayers.keys).union(vouchedBundles.keys)
        for keyIndex in vouched.sorted() where !distinct.contains(where: { trust.keys[$0].key == trust.keys[keyIndex].key }) {
            distinct.append(keyIndex)
        }
        return distinct
    }

    func result(_ passed: Bool, _ reason: String, failure: VerificationFailure?, signers: [VerificationResult.Signer] = []) -> VerificationResult {
        VerificationResult(
            image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
            format: format, passed: passed, reason: reason, failure: failure, signers: signers, steps: steps, timings: timings)
    }
}
