import Foundation
import SignetCrypto
import SignetJSON
import SignetPolicy
import SignetRegistry
import SignetSigstore

extension CosignKeyVerifier {
    /// Step 2: Sigstore bundles attached as OCI referrers that a key signed (cosign 3 `sign
    /// --key`, sigstore/cosign `specs/BUNDLE_SPEC.md`; Sigstore bundle `verificationMaterial.publicKey`).
    ///
    /// Each bundle must carry a `publicKey` hint (a bundle with a certificate is a keyless
    /// signature, for a `keyless` authority); its content is a DSSE envelope with an in-toto
    /// statement of cosign's image-signature predicate whose subject is the image's manifest
    /// digest (a message signature is refused, ``KeylessVerifier/imageSignatureProblem(_:)``).
    /// The hint is only a name chosen by the signer, so
    /// every trusted key is tried; the Sigstore verification steps run with the key as the
    /// signer (``SigstoreVerificationPolicy/Signer/publicKey(_:)``). The required annotations are
    /// read from the statement subject that names the image.
    func verifyBundleReferrers(_ run: inout CosignKeyRun) async throws(VerificationError) {
        let trust = run.trust
        let sigstore = bundleVerifier(for: trust)
        let unreadable = try await SigstoreBundleReferrers(registry: registry).scan(
            run.request, into: &run, while: { $0.distinctSigners.count < trust.threshold }
        ) { run, label, referrer, bundle throws(VerificationError) in
            examineBundle(bundle, referrer: referrer, label: label, sigstore: sigstore, run: &run)
        }
        if let unreadable, run.distinctSigners.count < trust.threshold { throw unreadable }
    }

    /// One bundle referrer: accepted for the keys that signed it, or refused with the reason.
    private func examineBundle(_ bundle: SigstoreBundle, referrer: Descriptor, label: String, sigstore: SigstoreVerifier, run: inout CosignKeyRun) {
        let request = run.request
        let trust = run.trust
        guard let artifact = ArtifactDigest(parsing: request.digest.description) else {
            run.reject(label, step: "artifact", "the image digest \(request.digest) uses an algorithm Sigstore bundles do not")
            return
        }
        guard case .publicKey(let hint) = bundle.verificationMaterial else {
            run.reject(label, step: "verification material",
                       "the bundle carries a certificate (a keyless signature); a key authority accepts bundles whose verification material is a publicKey")
            return
        }
        if let problem = KeylessVerifier.imageSignatureProblem(bundle) {
            run.reject(label, step: "content", problem)
            return
        }
        let checked = Self.bundleAsChecked(bundle, trust: trust)
        let checkStart = ContinuousClock.now
        var signers: [Int] = []
        var failures: [String] = []
        var failedSteps: Set<SigstoreVerificationStep.Kind> = []
        for index in trust.keys.indices {
            let verified = sigstore.verify(
                checked,
                policy: SigstoreVerificationPolicy(
                    signer: .publicKey(trust.keys[index].key), artifact: .digest(artifact), keyScheme: trust.keys[index].scheme))
            if let failure = verified.failure {
                failures.append("\(trust.keys[index].source): \(failure)")
                failedSteps.insert(failure.step)
            } else {
                signers.append(index)
            }
        }
        run.checkTime += ContinuousClock.now - checkStart
        let hinted = hint.map { " (hint \"\($0)\")" } ?? ""
        if signers.isEmpty, failedSteps == [.transparencyLog] {
            // Every key was refused at the log step (the entry, its SET, inclusion proof or
            // checkpoint), before any signature was checked: name that step, not the signature.
            run.reject(label, step: "transparency log",
                       "the bundle's transparency log entries do not vouch for it (\(trust.transparencyLog.trustRootSource)); "
                        + failures.joined(separator: "; "))
            return
        }
        guard !signers.isEmpty else {
            let first = failures.first.map { "; " + $0 } ?? ""
            run.reject(label, step: "signature",
                       "the bundle's signature\(hinted) does not verify with any of the \(trust.keys.count) trusted key(s)\(first)")
            return
        }
        run.steps.append(VerificationStep(
            name: "\(label) signature", passed: true,
            detail: "verified with " + signers.map { trust.keys[$0].source + " " + trust.keys[$0].key.description }.joined(separator: ", ")
                + (trust.transparencyLog.requirement == .require ? "; logged in \(trust.transparencyLog.trustRootSource)"
                    : bundle.transparencyLogEntries.isEmpty ? "" : "; its transparency log entries are not checked (transparencyLog: ignore)")))
        if let problem = Self.bundleAnnotationProblem(bundle.content, digest: artifact, required: trust.requiredAnnotations) {
            run.reject(label, step: "claims", problem)
            return
        }
        run.steps.append(VerificationStep(
            name: "\(label) claims", passed: true,
            detail: trust.requiredAnnotations.isEmpty ? "signs \(request.digest)"
                : "signs \(request.digest), annotations " + trust.requiredAnnotations.keys.sorted().joined(separator: ", ")))
        for signer in signers { run.vouchedBundles[signer, default: []].append(referrer.digest.description) }
    }

    /// The Sigstore verifier key signatures are checked with: under `transparencyLog: require`
    /// one entry from a log of the authority's trust root must vouch for the signature (a SET,
    /// or an inclusion proof with a signed checkpoint); no timestamp is needed, since a managed
    /// key has no validity period to place the signature in. Under `ignore` nothing is trusted
    /// and nothing required but the signature.
    func bundleVerifier(for trust: CompiledKeyAuthority) -> SigstoreVerifier {
        var settings = SigstoreVerifierConfiguration()
        let required = trust.transparencyLog.requirement == .require
        settings.transparencyLogThreshold = required ? 1 : 0
        settings.timestampThreshold = 0
        settings.clock = { [clock] in clock.now }
        return SigstoreVerifier(
            trustedRoot: required ? trust.transparencyLog.trustedRoot
                : TrustedRoot(transparencyLogs: [], certificateAuthorities: [], certificateTransparencyLogs: [], timestampAuthorities: []),
            configuration: settings)
    }

    /// The bundle as the key authority checks it: under `transparencyLog: ignore` its log entries
    /// and timestamps are set aside (cosign `--insecure-ignore-tlog`), so only the signature by a
    /// trusted key decides; under `require` it is checked whole.
    static func bundleAsChecked(_ bundle: SigstoreBundle, trust: CompiledKeyAuthority) -> SigstoreBundle {
        guard trust.transparencyLog.requirement == .ignore else { return bundle }
        var checked = bundle
        checked.transparencyLogEntries = []
        checked.rfc3161Timestamps = []
        return checked
    }

    /// Under `transparencyLog: require`, the keys of `signers` whose signature of a `.sig` layer
    /// the layer's `dev.sigstore.cosign/bundle` annotation (a Rekor SET) shows logged: the SET
    /// must verify with a log of the trust root, and the entry body must record this signature,
    /// this key and the payload's digest. Returns the keys that pass, or why none did.
    func loggedSigners(
        _ signers: [Int], signature: String, payload: [UInt8], annotations: [String: String], trust: CompiledKeyAuthority
    ) -> Result<[Int], LayerRejection> {
        guard let set = annotations[KeylessVerifier.rekorBundleAnnotation] else {
            return .failure(LayerRejection(
                step: "transparency log",
                reason: "no \(KeylessVerifier.rekorBundleAnnotation) annotation: the signature was not logged, and the authority requires transparencyLog"))
        }
        let bundle: SigstoreBundle
        do {
            bundle = try SigstoreBundle(cosignKeySignature: signature, rekorBundleJSON: set)
        } catch {
            return .failure(LayerRejection(step: "transparency log", reason: "the \(KeylessVerifier.rekorBundleAnnotation) annotation: \(error)"))
        }
        let sigstore = bundleVerifier(for: trust)
        var logged: [Int] = []
        var failures: [String] = []
        for index in signers {
            let verified = sigstore.verify(
                bundle,
                policy: SigstoreVerificationPolicy(signer: .publicKey(trust.keys[index].key), artifact: .bytes(payload), keyScheme: trust.keys[index].scheme))
            if let failure = verified.failure {
                failures.append("\(failure)")
            } else {
                logged.append(index)
            }
        }
        guard !logged.isEmpty else {
            return .failure(LayerRejection(
                step: "transparency log", reason: "the Rekor entry does not vouch for this signature (\(trust.transparencyLog.trustRootSource)): "
                    + failures.joined(separator: "; ")))
        }
        return .success(logged)
    }

    /// What is wrong with the annotations a bundle carries for the image `digest`, or nil: the
    /// `annotations` of the in-toto statement subject whose digest is the image's (cosign 3
    /// writes `-a key=value` there) must hold every required entry.
    static func bundleAnnotationProblem(_ content: SigstoreBundle.Content, digest: ArtifactDigest, required: [String: String]) -> String? {
        guard !required.isEmpty else { return nil }
        guard case .dsseEnvelope(let envelope) = content else {
            // Refused before this is asked (a message signature is no image signature).
            return "the bundle carries no in-toto statement; the policy requires " + Self.describe(required)
        }
        // An image signature statement: a few dozen values, the registry's limit.
        guard let subjects = InTotoStatementHead(envelope.payload, limits: .registryDocument)?.subject else {
            return InTotoStatementHead.problem(envelope.payload, limits: .registryDocument, otherwise: "the in-toto statement has no subject list")
        }
        let hex = Hex.encode(digest.value)
        guard let subject = subjects.first(where: { $0.digest?[digest.algorithm.rawValue]?.lowercased() == hex }) else {
            return "no subject of the in-toto statement is \(digest)"
        }
        let annotations = subject.annotations ?? [:]
        for (key, expected) in required.sorted(by: { $0.key < $1.key }) {
            switch WrittenText.member(key, of: annotations) {
            case .string(let value)? where WrittenText.equal(value, expected):
                continue
            case nil, .null?:
                return "the statement subject has no annotation \"\(key)\" (the policy requires \"\(expected)\")"
            case .string(let value)?:
                return "the statement subject's annotation \"\(key)\" is \"\(value)\", the policy requires \"\(expected)\""
            case .other?:
                return "the statement subject's annotation \"\(key)\" is not a string, the policy requires \"\(expected)\""
            }
        }
        return nil
    }

    private static func describe(_ required: [String: String]) -> String {
        required.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
    }
}
