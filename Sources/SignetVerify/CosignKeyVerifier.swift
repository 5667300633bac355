import Foundation
import Metrics
import SignetCrypto
import SignetJSON
import SignetPolicy
import SignetRegistry

/// Verifies cosign signatures made with key pairs, in both places cosign puts them.
///
/// Steps, in order:
/// 1. the signature image `<repo>:<alg>-<hex>.sig` (sigstore/cosign `specs/SIGNATURE_SPEC.md`):
///    for each layer of type `application/vnd.dev.cosign.simplesigning.v1+json`, the
///    `dev.cosignproject.cosign/signature` annotation must hold base64; the payload blob is
///    fetched by digest (its bytes must hash to that digest and match the descriptor's size);
///    the signature must verify over the payload bytes with one of the authority's keys
///    (SEC 1 ECDSA, RFC 8017 RSA, RFC 8032 Ed25519); the payload's `critical.type` must be
///    `cosign container image signature` and `critical.image.docker-manifest-digest` must equal
///    the image's digest; the payload's `optional` section must carry every annotation the
///    authority requires; under `transparencyLog: require` the layer's `dev.sigstore.cosign/bundle`
///    annotation (a Rekor SET) must verify with a log of the authority's trust root and record
///    this signature, key and payload digest;
/// 2. when the `.sig` layers do not meet the threshold, the Sigstore bundles attached as OCI
///    referrers (cosign 3's default, sigstore/cosign `specs/BUNDLE_SPEC.md`) whose verification
///    material is a `publicKey` hint: a DSSE envelope holding an in-toto statement of cosign's
///    image-signature predicate whose subject is the image's manifest digest (a message
///    signature, which says nothing of what it signs, is refused, as cosign does); the signature must verify with one of the authority's keys (the
///    hint names no key: every trusted key is tried), and the required annotations are read from
///    that subject's `annotations` (``verifyBundleReferrers(_:)``); under `transparencyLog:
///    require` one of its log entries must be vouched for by a log of the trust root and record
///    the signature;
/// 3. the image passes when at least `threshold` distinct keys each signed an accepted layer or
///    bundle (keys compared as keys, so one key in two encodings, or one key in both forms,
///    counts once).
///
/// `critical.identity.docker-reference` is recorded but not enforced, as in cosign without
/// `--check-claims`: images are routinely copied between registries with their signatures.
public struct CosignKeyVerifier: SignatureVerifier {
    /// The annotation that carries a layer's signature.
    public static let signatureAnnotation = "dev.cosignproject.cosign/signature"
    /// The most simple-signing layers read from one `.sig` image (cosign adds one per `cosign
    /// sign`, and refuses more than 100 itself): an image with more is denied, naming the count,
    /// before any payload is fetched. Without a bound, a `.sig` manifest of 4 MiB (tens of
    /// thousands of layers) in a registry a policy covers would cost a fetch and a signature
    /// check per layer, and a verdict of megabytes of steps kept in the verification cache.
    public static let maximumSignatureLayers = 100
    /// The largest payload accepted (cosign payloads are a few hundred bytes).
    public static let maximumPayloadBytes = 1024 * 1024

    public let registry: RegistryClient
    /// The calendar clock bundle verification runs at (see ``WallClock``).
    public let clock: WallClock
    public var format: SignatureFormat { .cosignKey }

    public init(registry: RegistryClient, clock: WallClock = .system) {
        self.registry = registry
        self.clock = clock
    }

    public func handles(_ authority: CompiledAuthority) -> Bool {
        authority.kindName == .key
    }

    public func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
        guard case .key(let trust) = request.authority.kind else {
            throw VerificationError.unsupported(request.authority.kind.fieldName)
        }
        var run = CosignKeyRun(request: request, trust: trust, format: format)
        // 0. Every key the authority names was read: a missing one fails closed.
        if let unresolved = request.authority.unresolvedReason {
            run.steps.append(VerificationStep(name: "trust material", passed: false, detail: unresolved))
            return run.result(false, unresolved, failure: .unresolvedTrustMaterial)
        }
        let fetchStart = ContinuousClock.now
        Counter(label: "signet_verification_signature_fetches_total", dimensions: [("format", format.name)]).increment()
        // 1. The .sig image; 2. the bundle referrers, when the threshold is not met yet.
        try await verifySignatureImage(&run)
        if run.distinctSigners.count < trust.threshold {
            try await verifyBundleReferrers(&run)
        }
        run.timings.fetchMilliseconds = ((ContinuousClock.now - fetchStart) - run.checkTime).milliseconds
        run.timings.checkMilliseconds = run.checkTime.milliseconds

        // 3. The threshold of distinct keys.
        let distinct = run.distinctSigners
        let signers = distinct.map { keyIndex in
            let trusted = trust.keys[keyIndex]
            let bundles = run.vouchedBundles[keyIndex]
            return VerificationResult.Signer(
                key: trusted.source, algorithm: trusted.key.algorithm.description, fingerprint: trusted.key.fingerprint,
                layers: run.vouchedLayers[keyIndex] ?? [], bundles: bundles)
        }
        let met = signers.count >= trust.threshold
        run.steps.append(VerificationStep(
            name: "threshold", passed: met,
            detail: "\(signers.count) of \(trust.keys.count) trusted key(s) signed, \(trust.threshold) required"))
        if met {
            let names = signers.map(\.key).joined(separator: ", ")
            return run.result(true, "signed by \(signers.count) of \(trust.keys.count) trusted key(s) (threshold \(trust.threshold)): \(names)",
                              failure: nil, signers: signers)
        }
        if signers.isEmpty {
            guard run.candidates > 0 else {
                return run.result(false, "no cosign signatures: " + run.absences.joined(separator: "; "), failure: .noSignatures)
            }
            let failure: VerificationFailure = run.malformedOnly ? .malformedArtifact : .noValidSignature
            return run.result(false, "no valid cosign signature by a trusted key: " + run.rejections.joined(separator: "; "), failure: failure)
        }
        let missing = trust.keys.indices.filter { index in !distinct.contains { trust.keys[$0].key == trust.keys[index].key } }
            .map { trust.keys[$0].source }
        var reason = "signed by \(signers.count) distinct trusted key(s), \(trust.threshold) required; no valid signature by " + missing.joined(separator: ", ")
        if !run.rejections.isEmpty { reason += " (" + run.rejections.joined(separator: "; ") + ")" }
        return run.result(false, reason, failure: .thresholdNotMet, signers: signers)
    }

    /// Step 1: the simple-signing layers of the `.sig` image; each accepted layer is recorded
    /// for the keys that signed it.
    private func verifySignatureImage(_ run: inout CosignKeyRun) async throws(VerificationError) {
        let request = run.request
        let trust = run.trust
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
            return
        }
        guard let manifest = fetched.imageManifest else {
            run.steps.append(VerificationStep(name: "signature artifact", passed: false, detail: "\(artifactName) is an index, not an image manifest"))
            run.candidates += 1
            run.malformed += 1
            run.rejections.append("\(artifactName) is not a cosign signature image (it is an index)")
            return
        }
        let signatureLayers = manifest.layers.enumerated().filter { $0.element.mediaType == MediaType.cosignSimpleSigning }
        guard signatureLayers.count <= Self.maximumSignatureLayers else {
            let reason = "\(artifactName) has \(signatureLayers.count) simple-signing layers, more than the \(Self.maximumSignatureLayers) signet reads"
            run.steps.append(VerificationStep(name: "signature artifact", passed: false, detail: reason))
            run.candidates += 1
            run.malformed += 1
            run.rejections.append(reason)
            return
        }
        run.steps.append(VerificationStep(
            name: "signature artifact", passed: !signatureLayers.isEmpty,
            detail: "\(artifactName) (\(fetched.descriptor.digest)): \(manifest.layers.count) layer(s), \(signatureLayers.count) simple-signing"))
        guard !signatureLayers.isEmpty else {
            run.candidates += 1
            run.malformed += 1
            run.rejections.append("\(artifactName) has no \(MediaType.cosignSimpleSigning) layers")
            return
        }

        // Each signature layer; a payload several layers share is fetched once (within a bound).
        var payloads = PayloadReuse(digests: signatureLayers.map { $0.element.digest })
        for (index, layer) in signatureLayers {
            run.candidates += 1
            let label = "layer \(index)"
            guard let encoded = layer.annotations?[Self.signatureAnnotation], !encoded.isEmpty else {
                payloads.skip(layer.digest)
                run.reject(label, step: "signature annotation",
                           "the \(Self.signatureAnnotation) annotation is " + (layer.annotations?[Self.signatureAnnotation] == nil ? "missing" : "empty"))
                continue
            }
            guard let signature = Data(base64Encoded: encoded).map({ [UInt8]($0) }), !signature.isEmpty else {
                payloads.skip(layer.digest)
                run.reject(label, step: "signature annotation", "the signature annotation is not base64")
                continue
            }
            let outcome: Result<[UInt8], LayerRejection>
            if let known = payloads.next(layer.digest) {
                outcome = known
            } else {
                outcome = try await fetchPayload(layer, request: request)
                payloads.keep(outcome, for: layer.digest)
            }
            guard let payload = outcome.get(orRecord: label, steps: &run.steps, rejections: &run.rejections) else { continue }
            run.steps.append(VerificationStep(name: "\(label) payload", passed: true, detail: "\(layer.digest), \(payload.count) bytes"))

            let checkStart = ContinuousClock.now
            defer { run.checkTime += ContinuousClock.now - checkStart }
            var signers = trust.keys.indices.filter {
                trust.keys[$0].key.verify(signature: signature, message: payload, scheme: trust.keys[$0].scheme)
            }
            guard !signers.isEmpty else {
                run.reject(label, step: "signature",
                           "the signature (\(signature.count) bytes) does not verify with any of the \(trust.keys.count) trusted key(s)")
                continue
            }
            run.steps.append(VerificationStep(
                name: "\(label) signature", passed: true,
                detail: "verified with " + signers.map { trust.keys[$0].source + " " + trust.keys[$0].key.description }.joined(separator: ", ")))

            let parsed: SimpleSigningPayload
            do {
                parsed = try SimpleSigningPayload(parsing: payload)
            } catch {
                run.reject(label, step: "payload claims", error.description)
                continue
            }
            if let problem = Self.claimProblem(parsed, digest: request.digest, required: trust.requiredAnnotations) {
                run.reject(label, step: "payload claims", problem)
                continue
            }
            var detail = "type \"\(parsed.type)\", docker-manifest-digest \(parsed.dockerManifestDigest)"
            if let reference = parsed.dockerReference { detail += ", docker-reference \(reference)" }
            if !trust.requiredAnnotations.isEmpty { detail += ", annotations " + trust.requiredAnnotations.keys.sorted().joined(separator: ", ") }
            run.steps.append(VerificationStep(name: "\(label) payload claims", passed: true, detail: detail))
            if trust.transparencyLog.requirement == .require {
                switch loggedSigners(signers, signature: encoded, payload: payload, annotations: layer.annotations ?? [:], trust: trust) {
                case .success(let logged):
                    signers = logged
                    run.steps.append(VerificationStep(
                        name: "\(label) transparency log", passed: true, detail: "Rekor SET verified with \(trust.transparencyLog.trustRootSource)"))
                case .failure(let rejection):
                    run.reject(label, step: rejection.step, rejection.reason)
                    continue
                }
            }
            for signer in signers { run.vouchedLayers[signer, default: []].append(index) }
        }
    }

    /// Fetches one payload blob; content that does not match its descriptor is a rejection of
    /// that layer (tampering), any other registry failure an error.
    func fetchPayload(_ layer: Descriptor, request: VerificationRequest) async throws(VerificationError) -> Result<[UInt8], LayerRejection> {
        let bytes: [UInt8]
        do {
            bytes = try await registry.blob(layer.digest, in: request.image, maximumBytes: Self.maximumPayloadBytes, deadline: request.deadline)
        } catch where error.kind == .digestMismatch {
            return .failure(LayerRejection(step: "payload", reason: "the payload blob does not match its digest: \(error)"))
        } catch where error.kind == .tooLarge {
            return .failure(LayerRejection(step: "payload", reason: "the payload blob is larger than \(Self.maximumPayloadBytes) bytes"))
        } catch where error.kind == .notFound {
            return .failure(LayerRejection(step: "payload", reason: "the payload blob \(layer.digest) does not exist"))
        } catch {
            throw VerificationError(error)
        }
        guard Int64(bytes.count) == layer.size else {
            return .failure(LayerRejection(
                step: "payload", reason: "the payload blob \(layer.digest) is \(bytes.count) bytes, its descriptor says \(layer.size)"))
        }
        return .success(bytes)
    }

    /// What is wrong with a payload's claims for `digest`, or nil.
    static func claimProblem(_ payload: SimpleSigningPayload, digest: ImageDigest, required: [String: String]) -> String? {
        guard payload.type == SimpleSigningPayload.cosignImageSignatureType else {
            return "the payload type is \"\(payload.type)\", not \"\(SimpleSigningPayload.cosignImageSignatureType)\""
        }
        guard payload.dockerManifestDigest == digest.description else {
            return "the payload signs \(payload.dockerManifestDigest), not the image's digest \(digest)"
        }
        for (key, expected) in required.sorted(by: { $0.key < $1.key }) {
            switch WrittenText.member(key, of: payload.optional) {
            case .string(let value) where WrittenText.equal(value, expected):
                continue
            case nil, .null:
                return "the payload has no annotation \"\(key)\" (the policy requires \"\(expected)\")"
            case .some(let value):
                return "the payload annotation \"\(key)\" is \(Self.render(value)), the policy requires \"\(expected)\""
            }
        }
        return nil
    }

    private static func render(_ value: PolicyValue) -> String {
        switch value {
        case .string(let text): "\"\(text)\""
        case .bool(let flag): "\(flag)"
        case .number(let number): "\(number)"
        default: "a non-string value"
        }
    }
}

/// Why one signature layer was not accepted.
struct LayerRejection: Error, Sendable {
    var step: String
    var reason: String
    /// The registry's answer could not be read (``RegistryError/Kind/badResponse``): the
    /// artifact's own content, or a registry that answers badly. The artifact is passed over, and
    /// this is the verification's error if nothing else verifies.
    var unreadable: VerificationError? = nil
}

extension Result where Success == [UInt8], Failure == LayerRejection {
    /// The bytes, or nil after recording the rejection as a failed step.
    func get(orRecord label: String, steps: inout [VerificationStep], rejections: inout [String]) -> [UInt8]? {
        switch self {
        case .success(let bytes):
            return bytes
        case .failure(let rejection):
            let reason = "\(label): \(rejection.reason)"
            steps.append(VerificationStep(name: "\(label) \(rejection.step)", passed: false, detail: reason))
            rejections.append(reason)
            return nil
        }
    }
}
