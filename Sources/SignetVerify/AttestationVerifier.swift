import Foundation
import Metrics
import SignetAttestation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetSigstore

/// Verifies the in-toto attestations an `attestations` authority requires.
///
/// What it downloads for one image is bounded, the `.att` layers and the bundle referrers each
/// by ``fetchBudget`` (``VerificationByteBudget``, 64 MiB by default), read smallest first.
///
/// Steps, in order:
/// 1. where attestations are found: the attestation image `<repo>:sha256-<hex>.att`
///    (sigstore/cosign `specs/ATTESTATION_SPEC.md`), whose layers of type
///    `application/vnd.dsse.envelope.v1+json` (at most ``maximumEnvelopeLayers``, each at most
///    ``maximumEnvelopeBytes``) are fetched by digest (their bytes must hash to that digest and
///    match the descriptor's size) and read as DSSE envelopes (secure-systems-lab/dsse
///    `envelope.md`), with the certificate, chain and Rekor SET of their annotations; then the
///    Sigstore bundles attached as OCI referrers (cosign 3's default, `specs/BUNDLE_SPEC.md`;
///    the referrers API or its `sha256-<hex>` tag fallback) holding a DSSE envelope;
/// 2. each requirement's signer verifies the envelope, whatever it claims to be
///    (``signers(of:for:digest:)``: a key signer's threshold of keys over the DSSE
///    pre-authentication encoding, each with its scheme, and the transparency log when the key
///    requires it; a keyless signer's Fulcio certificate, Rekor entry and identity through the
///    Sigstore verifier); only once one has signed it is the payload read as an in-toto
///    Statement (v1 or v0.1, in-toto Attestation Framework `spec/v1/statement.md`), so an
///    unsigned payload is never parsed: its `predicateType` must be the signing requirement's
///    and one of its subjects must carry the image's digest;
/// 3. from each attestation so verified, only the predicate fields the requirement's
///    conditions read are kept (``VerifiedAttestation``);
/// 4. the conditions are evaluated at the wall clock's time (``decide(_:attestations:rejections:now:)``):
///    every requirement needs one verified attestation meeting all its conditions. A cache hit
///    runs step 4 again (``revisit(_:authority:)``), so a time condition expires by itself.
public struct AttestationVerifier: SignatureVerifier {
    /// The DSSE envelope layer media type cosign writes in `.att` images.
    public static let envelopeMediaType = "application/vnd.dsse.envelope.v1+json"
    /// The largest envelope or bundle accepted (an SBOM can be large; the registry client's
    /// limit applies too). A larger one is refused, naming its size, without being fetched.
    public static let maximumEnvelopeBytes = 16 * 1024 * 1024
    /// The most DSSE envelope layers read from one `.att` image (cosign adds one per
    /// `cosign attest` without `--replace`); an image with more is denied, naming the count.
    public static let maximumEnvelopeLayers = 64

    public let registry: RegistryClient
    /// The calendar clock conditions such as `notOlderThan` are evaluated at, and keyless
    /// signatures bounded by (see ``WallClock``).
    public let clock: WallClock
    /// Thresholds for the Sigstore verification of keyless attestations; its `clock` is
    /// replaced by ``clock``.
    public let configuration: SigstoreVerifierConfiguration
    /// What one verification may download from each place (``VerificationByteBudget/attestations``).
    public let fetchBudget: VerificationByteBudget
    public var format: SignatureFormat { .inTotoAttestation }

    public init(
        registry: RegistryClient, clock: WallClock = .system, configuration: SigstoreVerifierConfiguration = SigstoreVerifierConfiguration(),
        fetchBudget: VerificationByteBudget = .attestations
    ) {
        self.registry = registry
        self.clock = clock
        self.configuration = configuration
        self.fetchBudget = fetchBudget
    }

    public func handles(_ authority: CompiledAuthority) -> Bool {
        authority.kindName == .attestations
    }

    public func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
        guard case .attestations(let trust) = request.authority.kind else {
            throw VerificationError.unsupported(request.authority.kind.fieldName)
        }
        var run = AttestationRun(request: request, trust: trust, fetchBudget: fetchBudget)
        func result(_ passed: Bool, _ reason: String, _ failure: VerificationFailure?, _ attestations: [VerifiedAttestation]? = nil) -> VerificationResult {
            var result = VerificationResult(
                image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
                format: format, passed: passed, reason: reason, failure: failure, steps: run.steps)
            result.attestations = attestations
            return result
        }
        if let unresolved = request.authority.unresolvedReason {
            run.steps.append(VerificationStep(name: "trust material", passed: false, detail: unresolved))
            return result(false, unresolved, .unresolvedTrustMaterial)
        }
        Counter(label: "signet_verification_signature_fetches_total", dimensions: [("format", format.name)]).increment()
        // 1. The .att image; 2. the Sigstore bundles attached as referrers.
        try await verifyAttestationImage(&run)
        let unreadable = try await SigstoreBundleReferrers(registry: registry).scan(request, into: &run, maximumBytes: Self.maximumEnvelopeBytes, optional: true) {
            run, label, _, bundle throws(VerificationError) in
            guard case .dsseEnvelope(let envelope) = bundle.content else { return }  // a message signature attests nothing
            let candidate = AttestationCandidate(envelope: envelope, sigstore: .success(bundle), isBundle: true)
            run.record(examine(candidate, source: "\(label) (referrer)", digest: request.digest, requirements: trust.requirements), label: label)
        }
        let decision = Self.decide(trust, attestations: run.verified, rejections: run.rejections, now: clock.now)
        // A referrer that could not be read may hold the attestation a requirement lacks: not a
        // verdict then. It cannot take a pass away (a requirement is met by any attestation).
        if let unreadable, !decision.passed { throw unreadable }
        run.steps += decision.steps
        return result(decision.passed, decision.reason, decision.failure, run.verified)
    }

    /// Step 1: the DSSE envelope layers of the `.att` image, at most ``maximumEnvelopeLayers``.
    private func verifyAttestationImage(_ run: inout AttestationRun) async throws(VerificationError) {
        let request = run.request
        let artifactName = "\(request.image.name):\(CosignArtifactKind.attestation.tag(for: request.digest))"
        let fetched: FetchedManifest?
        do {
            fetched = try await registry.cosignArtifact(.attestation, for: request.digest, in: request.image, deadline: request.deadline)
        } catch {
            throw VerificationError(error)
        }
        guard let fetched, let manifest = fetched.imageManifest else {
            let why = fetched == nil ? "\(artifactName) does not exist" : "\(artifactName) is an index, not an image manifest"
            // No .att image is not a failure by itself: the attestations may be bundle referrers.
            run.steps.append(VerificationStep(name: "attestation artifact", passed: fetched == nil, detail: why))
            if fetched != nil { run.rejectAll(why) }
            return
        }
        let layers = manifest.layers.enumerated().filter { $0.element.mediaType == Self.envelopeMediaType }
        let summary = "\(artifactName) (\(fetched.descriptor.digest)): \(manifest.layers.count) layer(s), \(layers.count) DSSE envelope(s)"
        guard layers.count <= Self.maximumEnvelopeLayers else {
            let reason = "\(artifactName) has \(layers.count) DSSE envelope layers, more than the \(Self.maximumEnvelopeLayers) signet reads"
            run.steps.append(VerificationStep(name: "attestation artifact", passed: false, detail: reason))
            run.rejectAll(reason)
            return
        }
        run.steps.append(VerificationStep(name: "attestation artifact", passed: true, detail: summary))
        // Smallest first (equal sizes in the manifest's order), so large layers added beside a
        // provenance (an SBOM per build, or junk) spend the budget after it.
        for (index, layer) in layers.sorted(by: { ($0.element.size, $0.offset) < ($1.element.size, $1.offset) }) {
            let label = "\(artifactName) layer \(index)"
            switch try await envelope(layer, request: request, budget: &run.layerBudget) {
            case .failure(let rejection):
                run.rejectAll("\(label): \(rejection.reason)")
                run.steps.append(VerificationStep(name: "layer \(index) envelope", passed: false, detail: rejection.reason))
            case .success(let envelope):
                let candidate = AttestationCandidate(
                    envelope: envelope, sigstore: Self.sigstoreForm(of: envelope, annotations: layer.annotations ?? [:]), isBundle: false)
                run.record(examine(candidate, source: label, digest: request.digest, requirements: run.trust.requirements), label: "layer \(index)")
            }
        }
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

    /// One layer's envelope, or why it was refused; what it downloaded is counted in `budget`.
    private func envelope(
        _ layer: Descriptor, request: VerificationRequest, budget: inout VerificationByteBudget
    ) async throws(VerificationError) -> Result<DSSEEnvelope, LayerRejection> {
        guard layer.size <= Int64(Self.maximumEnvelopeBytes) else {
            return .failure(LayerRejection(
                step: "envelope", reason: "the envelope is \(layer.size) bytes, more than the \(Self.maximumEnvelopeBytes) signet reads"))
        }
        if let refusal = budget.refusal(forBlobOf: layer.size) {
            return .failure(LayerRejection(step: "envelope", reason: "the envelope was \(refusal)"))
        }
        // At most the descriptor's size (a body larger is refused there), counted whatever it
        // turns out to be: a layer that does not match its digest costs its size, no more.
        let limit = Int(layer.size)
        let bytes: [UInt8]
        do {
            bytes = try await registry.blob(layer.digest, in: request.image, maximumBytes: limit, deadline: request.deadline)
            budget.spend(bytes.count)
        } catch where error.kind == .digestMismatch {
            budget.spend(limit)
            return .failure(LayerRejection(step: "envelope", reason: "the envelope blob does not match its digest"))
        } catch where error.kind == .tooLarge {
            budget.spend(limit)
            return .failure(LayerRejection(step: "envelope", reason: "the envelope is larger than its descriptor's \(layer.size) bytes"))
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
