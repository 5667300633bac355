import Foundation
import Metrics
import SignetCrypto
import SignetJSON
import SignetPolicy
import SignetRegistry
import SignetSigstore

/// Verifies Sigstore keyless signatures of an image offline against a `keyless` authority's
/// trusted root: a Fulcio certificate for an OIDC identity, logged in Rekor.
///
/// Two places are searched, in order, and the image passes at the first signature that
/// verifies and whose certificate attests one of the authority's identities:
///
/// 1. **cosign `.sig` layers** (sigstore/cosign `specs/SIGNATURE_SPEC.md`): the image
///    `<repo>:<alg>-<hex>.sig`; each `application/vnd.dev.cosign.simplesigning.v1+json` layer
///    with a `dev.sigstore.cosign/certificate` annotation is read with its
///    `dev.cosignproject.cosign/signature`, `dev.sigstore.cosign/chain` and
///    `dev.sigstore.cosign/bundle` (Rekor SET) annotations as a v0.1 Sigstore bundle; the
///    signature must verify over the payload blob (fetched by digest) and the payload's
///    `critical.image.docker-manifest-digest` must equal the image's digest;
/// 2. **Sigstore bundles attached as OCI referrers** (sigstore/cosign `specs/BUNDLE_SPEC.md`;
///    OCI distribution specification v1.1, "Listing Referrers", or its "Referrers Tag Schema"
///    fallback): referrers whose `artifactType` is a Sigstore bundle media type
///    (`application/vnd.dev.sigstore.bundle.v0.3+json` or
///    `application/vnd.dev.sigstore.bundle+json;version=0.1` to `0.3`); the referring manifest
///    must name the image as its `subject`; its bundle layer is verified with the image's
///    manifest digest as the artifact: a DSSE envelope holding an in-toto statement of cosign's
///    image-signature predicate (`https://sigstore.dev/cosign/sign/v1`) whose subject is that
///    digest. Other in-toto predicates are attestations, not signatures, and are not accepted
///    here; nor is a message signature (`cosign sign-blob`), which says nothing of what it signs.
///
/// Each candidate runs the Sigstore verification steps of ``SigstoreVerifier`` (transparency
/// log, timestamps, Fulcio chain at the signing time, SCTs, signature, identity), recorded as
/// steps of the result. Certificates are judged at the time the log or a time-stamping
/// authority vouches for, never at the current time; the ``WallClock`` only bounds how far in
/// the future a vouched time may lie.
public struct KeylessVerifier: SignatureVerifier {
    /// The annotation carrying a layer's PEM Fulcio certificate.
    public static let certificateAnnotation = "dev.sigstore.cosign/certificate"
    /// The annotation carrying the PEM chain above the certificate.
    public static let chainAnnotation = "dev.sigstore.cosign/chain"
    /// The annotation carrying the Rekor v1 signed entry timestamp bundle.
    public static let rekorBundleAnnotation = "dev.sigstore.cosign/bundle"
    /// The in-toto predicate type of a cosign image signature in a bundle.
    public static let imageSignaturePredicateType = "https://sigstore.dev/cosign/sign/v1"
    /// The prefix every Sigstore bundle media type shares.
    public static let bundleMediaTypePrefix = SigstoreBundleReferrers.mediaTypePrefix
    /// The largest bundle blob accepted (bundles are a few kilobytes).
    public static let maximumBundleBytes = SigstoreBundleReferrers.maximumBundleBytes
    /// The most bundle referrers examined for one image.
    public static let maximumBundleReferrers = SigstoreBundleReferrers.maximumReferrers

    public let registry: RegistryClient
    /// The calendar clock (see ``WallClock``).
    public let clock: WallClock
    /// Thresholds for Sigstore verification; its `clock` is replaced by ``clock``.
    public let configuration: SigstoreVerifierConfiguration

    public var format: SignatureFormat { .cosignKeyless }

    public init(registry: RegistryClient, clock: WallClock = .system, configuration: SigstoreVerifierConfiguration = SigstoreVerifierConfiguration()) {
        self.registry = registry
        self.clock = clock
        self.configuration = configuration
    }

    public func handles(_ authority: CompiledAuthority) -> Bool {
        authority.kindName == .keyless
    }

    /// Whether `type` names a Sigstore bundle (`artifactType` of a referrer or a layer's media type).
    public static func isBundleMediaType(_ type: String?) -> Bool {
        SigstoreBundleReferrers.isBundleMediaType(type)
    }

    public func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
        guard case .keyless(let trust) = request.authority.kind else {
            throw VerificationError.unsupported(request.authority.kind.fieldName)
        }
        var settings = configuration
        settings.clock = { [clock] in clock.now }
        var run = KeylessRun(
            request: request, trust: trust, sigstore: SigstoreVerifier(trustedRoot: trust.trustedRoot, configuration: settings))
        // The trust root the authority names was read: a missing one fails closed.
        if let unresolved = request.authority.unresolvedReason {
            return run.result(passed: false, reason: unresolved, failure: .unresolvedTrustMaterial, format: format)
        }
        let started = ContinuousClock.now
        Counter(label: "signet_verification_signature_fetches_total", dimensions: [("format", format.name)]).increment()

        var accepted = try await verifySignatureImage(&run)
        if accepted == nil {
            accepted = try await verifyBundleReferrers(&run)
        }
        run.timings.fetchMilliseconds = ((ContinuousClock.now - started) - run.checkTime).milliseconds
        run.timings.checkMilliseconds = run.checkTime.milliseconds

        if let accepted {
            let san = accepted.identity?.subjectAlternativeName ?? "?"
            let issuer = accepted.identity?.issuer ?? "?"
            var reason = "signed keyless by \(san) (issuer \(issuer)), \(accepted.location)"
            if let time = accepted.signingTime { reason += ", signed at \(KubernetesTime.format(time))" }
            let signer = VerificationResult.Signer(
                key: "Fulcio certificate (\(trust.trustRootSource))", algorithm: accepted.keyAlgorithm, fingerprint: accepted.keyFingerprint,
                identity: san, issuer: issuer, layers: accepted.layer.map { [$0] } ?? [],
                certificateChain: accepted.certificatePath.isEmpty ? nil : accepted.certificatePath)
            return run.result(passed: true, reason: reason, failure: nil, format: accepted.format, signers: [signer])
        }
        let wanted = trust.identities.map { "{\($0)}" }.joined(separator: " or ")
        guard run.candidates > 0 else {
            return run.result(
                passed: false, reason: "no keyless signatures: " + run.absences.joined(separator: "; "), failure: .noSignatures, format: format)
        }
        return run.result(
            passed: false, reason: "no valid keyless signature by \(wanted): " + run.rejections.joined(separator: "; "),
            failure: .noValidSignature, format: format)
    }

    // MARK: - cosign .sig layers

    private func verifySignatureImage(_ run: inout KeylessRun) async throws(VerificationError) -> AcceptedSignature? {
        let request = run.request
        let artifactName = "\(request.image.name):\(CosignArtifactKind.signature.tag(for: request.digest))"
        let fetched: FetchedManifest?
        do {
            fetched = try await registry.cosignArtifact(.signature, for: request.digest, in: request.image, deadline: request.deadline)
        } catch {
            throw VerificationError(error)
        }
        guard let fetched else {
            run.steps.append(VerificationStep(name: "signature artifact", passed: false, detail: "\(artifactName) does not exist"))
            run.absences.append("\(artifactName) does not exist")
            return nil
        }
        guard let manifest = fetched.imageManifest else {
            run.steps.append(VerificationStep(name: "signature artifact", passed: false, detail: "\(artifactName) is an index, not an image manifest"))
            run.candidates += 1
            run.rejections.append("\(artifactName) is not a cosign signature image (it is an index)")
            return nil
        }
        let layers = manifest.layers.enumerated().filter { $0.element.mediaType == MediaType.cosignSimpleSigning }
        guard layers.count <= CosignKeyVerifier.maximumSignatureLayers else {
            let reason = "\(artifactName) has \(layers.count) simple-signing layers, more than the \(CosignKeyVerifier.maximumSignatureLayers) signet reads"
            run.steps.append(VerificationStep(name: "signature artifact", passed: false, detail: reason))
            run.candidates += 1
            run.rejections.append(reason)
            return nil
        }
        let keyless = layers.filter { $0.element.annotations?[Self.certificateAnnotation] != nil }
        run.steps.append(VerificationStep(
            name: "signature artifact", passed: !keyless.isEmpty,
            detail: "\(artifactName) (\(fetched.descriptor.digest)): \(manifest.layers.count) layer(s), \(layers.count) simple-signing, \(keyless.count) with a certificate"))
        guard !keyless.isEmpty else {
            run.absences.append("\(artifactName) has no simple-signing layer with a \(Self.certificateAnnotation) annotation")
            return nil
        }
        let payloadSource = CosignKeyVerifier(registry: registry)
        for (index, layer) in keyless {
            run.candidates += 1
            let label = "layer \(index)"
            let annotations = layer.annotations ?? [:]
            let bundle: SigstoreBundle
            do {
                bundle = try SigstoreBundle(
                    cosignSignature: annotations[CosignKeyVerifier.signatureAnnotation] ?? "",
                    certificatePEM: annotations[Self.certificateAnnotation] ?? "",
                    chainPEM: annotations[Self.chainAnnotation], rekorBundleJSON: annotations[Self.rekorBundleAnnotation])
            } catch {
                run.reject(label, step: "annotations", "\(error)")
                continue
            }
            let outcome = try await payloadSource.fetchPayload(layer, request: request)
            guard let payload = outcome.get(orRecord: label, steps: &run.steps, rejections: &run.rejections) else { continue }
            run.steps.append(VerificationStep(name: "\(label) payload", passed: true, detail: "\(layer.digest), \(payload.count) bytes"))

            guard let verified = run.verify(bundle, artifact: .bytes(payload), label: label) else { continue }
            let parsed: SimpleSigningPayload
            do {
                parsed = try SimpleSigningPayload(parsing: payload)
            } catch {
                run.reject(label, step: "payload claims", error.description)
                continue
            }
            if let problem = CosignKeyVerifier.claimProblem(parsed, digest: request.digest, required: [:]) {
                run.reject(label, step: "payload claims", problem)
                continue
            }
            run.steps.append(VerificationStep(
                name: "\(label) payload claims", passed: true,
                detail: "type \"\(parsed.type)\", docker-manifest-digest \(parsed.dockerManifestDigest)"))
            return AcceptedSignature(verified: verified, bundle: bundle, location: "\(label) of \(artifactName)", layer: index, format: .cosignKeyless)
        }
        return nil
    }

    // MARK: - Sigstore bundle referrers

    private func verifyBundleReferrers(_ run: inout KeylessRun) async throws(VerificationError) -> AcceptedSignature? {
        let unreadable = try await SigstoreBundleReferrers(registry: registry).scan(run.request, into: &run, while: { $0.accepted == nil }) {
            run, label, _, bundle throws(VerificationError) in
            if let problem = Self.imageSignatureProblem(bundle) {
                run.reject(label, step: "content", problem)
                return
            }
            guard let artifact = ArtifactDigest(parsing: run.request.digest.description) else {
                run.reject(label, step: "artifact", "the image digest \(run.request.digest) uses an algorithm Sigstore bundles do not")
                return
            }
            guard let verified = run.verify(bundle, artifact: .digest(artifact), label: label) else { return }
            run.accepted = AcceptedSignature(verified: verified, bundle: bundle, location: "\(label) (referrer)", layer: nil, format: .sigstoreBundle)
        }
        if let unreadable, run.accepted == nil { throw unreadable }
        return run.accepted
    }

    /// Why a bundle referrer is not a cosign image signature, or nil when it is one: a DSSE
    /// envelope of the image-signature statement (``statementProblem(_:)``). A message signature
    /// (what `cosign sign-blob` makes) signs bytes and says nothing of what they are: a signer
    /// that signed a file whose bytes happen to be a manifest would vouch for that image. cosign
    /// verify refuses it for images too ("bundle does not contain a DSSE envelope").
    static func imageSignatureProblem(_ bundle: SigstoreBundle) -> String? {
        guard case .dsseEnvelope(let envelope) = bundle.content else {
            return "the bundle holds a message signature (what cosign sign-blob makes), which signs bytes and does not say they are "
                + "an image; an image signature in a bundle is a DSSE envelope of cosign's statement (\(imageSignaturePredicateType))"
        }
        return statementProblem(envelope)
    }

    /// Why a DSSE envelope is not a cosign image signature, or nil when it is one (the subject
    /// itself is checked by the Sigstore verifier).
    static func statementProblem(_ envelope: DSSEEnvelope) -> String? {
        guard envelope.payloadType == "application/vnd.in-toto+json" else {
            return "the DSSE payload type is \(envelope.payloadType), not an in-toto statement"
        }
        // Read before anything is verified, and an image signature statement is a few dozen
        // values: the registry's limit, not an SBOM's.
        guard let statement = InTotoStatementHead(envelope.payload, limits: .registryDocument) else {
            return InTotoStatementHead.problem(envelope.payload, limits: .registryDocument, otherwise: "the DSSE payload is not an in-toto statement")
        }
        let predicateType = statement.predicateType?.string ?? "none"
        guard predicateType == imageSignaturePredicateType else {
            return "an attestation with predicate \(predicateType), not an image signature (\(imageSignaturePredicateType))"
        }
        return nil
    }
}

extension SignatureFormat {
    /// cosign keyless signatures in the `.sig` image: simple-signing layers with a Fulcio
    /// certificate and a Rekor SET (sigstore/cosign `specs/SIGNATURE_SPEC.md`).
    public static let cosignKeyless = SignatureFormat("cosign-keyless")
    /// Sigstore bundles attached as OCI referrers (sigstore/cosign `specs/BUNDLE_SPEC.md`).
    public static let sigstoreBundle = SignatureFormat("sigstore-bundle")
}

/// A signature that verified and matched an identity, and where it was found.
private struct AcceptedSignature {
    var identity: FulcioCertificateIdentity?
    var signingTime: Date?
    var keyAlgorithm: String
    var keyFingerprint: String
    var location: String
    var layer: Int?
    var format: SignatureFormat
    /// Leaf first, trust anchor last.
    var certificatePath: [String]

    init(verified: SigstoreVerificationResult, bundle: SigstoreBundle, location: String, layer: Int?, format: SignatureFormat) {
        identity = verified.identity
        certificatePath = verified.certificatePath
        signingTime = verified.timestamps.map(\.time).min()
        let key = try? bundle.certificate?.publicKey()
        keyAlgorithm = key.map { "\($0.algorithm)" } ?? "unknown"
        keyFingerprint = key?.fingerprint ?? ""
        self.location = location
        self.layer = layer
        self.format = format
    }
}

/// The state of one keyless verification: the steps and reasons gathered so far.
private struct KeylessRun: BundleReferrerRecording {
    let request: VerificationRequest
    let trust: CompiledKeylessAuthority
    let sigstore: SigstoreVerifier
    var steps: [VerificationStep] = []
    var rejections: [String] = []
    /// Why nothing was found in a place searched.
    var absences: [String] = []
    /// Signatures examined.
    var candidates = 0
    var checkTime = Duration.zero
    var timings = VerificationResult.Timings()
    /// The bundle referrer accepted, once one is.
    var accepted: AcceptedSignature?
    var fetchBudget: VerificationByteBudget?

    init(request: VerificationRequest, trust: CompiledKeylessAuthority, sigstore: SigstoreVerifier) {
        self.request = request
        self.trust = trust
        self.sigstore = sigstore
    }

    mutating func reject(_ label: String, step: String, _ reason: String) {
        steps.append(VerificationStep(name: "\(label) \(step)", passed: false, detail: reason))
        rejections.append("\(label): \(reason)")
    }

    mutating func recordAbsence(_ reason: String) { absences.append(reason) }

    mutating func recordCandidate() { candidates += 1 }

    mutating func recordUnexamined(_ note: String) { rejections.append(note) }

    /// Runs the Sigstore steps on `bundle`, recording each; the result when verified.
    mutating func verify(_ bundle: SigstoreBundle, artifact: SigstoreArtifact, label: String) -> SigstoreVerificationResult? {
        let started = ContinuousClock.now
        let verified = sigstore.verify(bundle, policy: SigstoreVerificationPolicy(signer: .certificateIdentities(trust.identities), artifact: artifact))
        checkTime += ContinuousClock.now - started
        for step in verified.steps {
            switch step.outcome {
            case .passed(let detail):
                steps.append(VerificationStep(name: "\(label) \(step.kind.rawValue)", passed: true, detail: detail))
            case .notApplicable(let reason):
                steps.append(VerificationStep(name: "\(label) \(step.kind.rawValue)", passed: true, detail: "not applicable: \(reason)"))
            case .failed(let failure):
                steps.append(VerificationStep(name: "\(label) \(step.kind.rawValue)", passed: false, detail: failure.description))
            case .notRun:
                continue
            }
        }
        if let failure = verified.failure {
            rejections.append("\(label): \(failure)")
            return nil
        }
        return verified
    }

    func result(passed: Bool, reason: String, failure: VerificationFailure?, format: SignatureFormat, signers: [VerificationResult.Signer] = []) -> VerificationResult {
        VerificationResult(
            image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
            format: format, passed: passed, reason: reason, failure: failure, signers: signers, steps: steps, timings: timings)
    }
}
