import Foundation
import Metrics
import SignetAttestation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetSigstore

/// Verifies the in-toto attestations an `attestations` authority requires.
///
/// Steps, in order:
/// 1. the attestation image `<repo>:sha256-<hex>.att` (sigstore/cosign
///    `specs/ATTESTATION_SPEC.md`): every layer of type `application/vnd.dsse.envelope.v1+json`
///    is fetched by digest (its bytes must hash to that digest and match the descriptor's size)
///    and read as a DSSE envelope (secure-systems-lab/dsse `envelope.md`) of payload type
///    `application/vnd.in-toto+json`;
/// 2. for each requirement, the envelope's signatures are verified over the DSSE
///    pre-authentication encoding (`protocol.md`) with the requirement's own keys (its
///    threshold of distinct keys); only then is the payload read as an in-toto Statement (v1 or
///    v0.1, in-toto Attestation Framework `spec/v1/statement.md`): its `predicateType` must be
///    the requirement's and one of its subjects must carry the image's digest;
/// 3. from each attestation so verified, only the predicate fields the requirement's
///    conditions read are kept (``VerifiedAttestation``);
/// 4. the conditions are evaluated at the wall clock's time (``decide(_:attestations:steps:)``):
///    every requirement needs one verified attestation meeting all its conditions. A cache hit
///    runs step 4 again (``revisit(_:authority:)``), so a time condition expires by itself.
public struct AttestationVerifier: SignatureVerifier {
    /// The DSSE envelope layer media type cosign writes in `.att` images.
    public static let envelopeMediaType = "application/vnd.dsse.envelope.v1+json"
    /// The largest envelope accepted (an SBOM can be large; the registry client's limit applies too).
    public static let maximumEnvelopeBytes = 16 * 1024 * 1024

    public let registry: RegistryClient
    /// The calendar clock conditions such as `notOlderThan` are evaluated at.
    public let clock: WallClock
    public var format: SignatureFormat { .inTotoAttestation }

    public init(registry: RegistryClient, clock: WallClock = .system) {
        self.registry = registry
        self.clock = clock
    }

    public func handles(_ authority: CompiledAuthority) -> Bool {
        if case .attestations = authority.kind { return true }
        return false
    }

    public func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
        guard case .attestations(let trust) = request.authority.kind else {
            throw VerificationError.unsupported(request.authority.kind.fieldName)
        }
        var steps: [VerificationStep] = []
        func result(_ passed: Bool, _ reason: String, _ failure: VerificationFailure?, _ attestations: [VerifiedAttestation]? = nil) -> VerificationResult {
            var result = VerificationResult(
                image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
                format: format, passed: passed, reason: reason, failure: failure, steps: steps)
            result.attestations = attestations
            return result
        }
        if let unresolved = request.authority.unresolvedReason {
            steps.append(VerificationStep(name: "trust material", passed: false, detail: unresolved))
            return result(false, unresolved, .unresolvedTrustMaterial)
        }
        Counter(label: "signet_verification_signature_fetches_total", dimensions: [("format", format.name)]).increment()
        let artifactName = "\(request.image.name):\(CosignArtifactKind.attestation.tag(for: request.digest))"
        let fetched: FetchedManifest?
        do {
            fetched = try await registry.cosignArtifact(.attestation, for: request.digest, in: request.image, deadline: request.deadline)
        } catch {
            throw VerificationError(error)
        }
        var verified: [VerifiedAttestation] = []
        var rejections: [String: [String]] = [:]
        func rejectAll(_ reason: String) {
            for requirement in trust.requirements { rejections[requirement.name, default: []].append(reason) }
        }
        if let fetched, let manifest = fetched.imageManifest {
            let layers = manifest.layers.enumerated().filter { $0.element.mediaType == Self.envelopeMediaType }
            steps.append(VerificationStep(
                name: "attestation artifact", passed: !layers.isEmpty,
                detail: "\(artifactName) (\(fetched.descriptor.digest)): \(manifest.layers.count) layer(s), \(layers.count) DSSE envelope(s)"))
            for (index, layer) in layers {
                let label = "\(artifactName) layer \(index)"
                switch try await envelope(layer, request: request) {
                case .failure(let rejection):
                    rejectAll("\(label): \(rejection.reason)")
                    steps.append(VerificationStep(name: "layer \(index) envelope", passed: false, detail: rejection.reason))
                case .success(let envelope):
                    let outcome = Self.examine(envelope, source: label, digest: request.digest, requirements: trust.requirements)
                    verified += outcome.verified
                    for (name, reasons) in outcome.rejections { rejections[name, default: []] += reasons.map { "\(label): \($0)" } }
                    steps += outcome.steps.map { VerificationStep(name: "layer \(index) \($0.name)", passed: $0.passed, detail: $0.detail) }
                }
            }
        } else {
            let why = fetched == nil ? "\(artifactName) does not exist" : "\(artifactName) is an index, not an image manifest"
            steps.append(VerificationStep(name: "attestation artifact", passed: false, detail: why))
            if fetched != nil { rejectAll(why) }
        }
        let decision = Self.decide(trust, attestations: verified, rejections: rejections, now: clock.now)
        steps += decision.steps
        return result(decision.passed, decision.reason, decision.failure, verified)
    }

    /// Step 4 again for a cached result: the conditions evaluated at the clock's time now.
    public func revisit(_ cached: VerificationResult, authority: CompiledAuthority) -> VerificationResult {
        guard case .attestations(let trust) = authority.kind, let attestations = cached.attestations else { return cached }
        var result = cached
        let decision = Self.decide(trust, attestations: attestations, rejections: [:], now: clock.now)
        result.passed = decision.passed
        result.failure = decision.failure
        // Keep the fetch and signature steps, replace the condition steps and the reason; a
        // failure seen when verified (no attestation at all, say) keeps its fuller reason.
        result.steps.removeAll { $0.name.hasPrefix("requirement ") }
        result.steps += decision.steps
        if decision.passed || cached.passed { result.reason = decision.reason }
        return result
    }

    /// One layer's envelope, or why it was refused.
    private func envelope(_ layer: Descriptor, request: VerificationRequest) async throws(VerificationError) -> Result<DSSEEnvelope, LayerRejection> {
        let bytes: [UInt8]
        do {
            bytes = try await registry.blob(layer.digest, in: request.image, maximumBytes: Self.maximumEnvelopeBytes, deadline: request.deadline)
        } catch where error.kind == .digestMismatch {
            return .failure(LayerRejection(step: "envelope", reason: "the envelope blob does not match its digest"))
        } catch where error.kind == .tooLarge {
            return .failure(LayerRejection(step: "envelope", reason: "the envelope is larger than \(Self.maximumEnvelopeBytes) bytes"))
        } catch where error.kind == .notFound {
            return .failure(LayerRejection(step: "envelope", reason: "the envelope blob \(layer.digest) does not exist"))
        } catch {
            throw VerificationError(error)
        }
        guard Int64(bytes.count) == layer.size else {
            return .failure(LayerRejection(step: "envelope", reason: "the envelope is \(bytes.count) bytes, its descriptor says \(layer.size)"))
        }
        do {
            return .success(try DSSEEnvelope(json: bytes))
        } catch {
            return .failure(LayerRejection(step: "envelope", reason: error.description))
        }
    }
}

extension SignatureFormat {
    /// in-toto attestations in DSSE envelopes (cosign `.att` images).
    public static let inTotoAttestation = SignatureFormat("in-toto-attestation")
}
