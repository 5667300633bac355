import Foundation
import SignetCrypto
import SignetAttestation
import SignetPolicy
import SignetRegistry
import SignetSigstore

extension AttestationVerifier {
    /// Who signed `candidate` among the requirement's signer, or why it does not count.
    ///
    /// - A key signer (cosign `attest --key`): under `transparencyLog: ignore` the DSSE
    ///   signatures over the PAE (DSSE `protocol.md`) must come from `threshold` distinct keys,
    ///   each verified with its own scheme; under `require` the signature must also be logged:
    ///   the candidate's Sigstore form (a bundle, or the `.att` layer's
    ///   `dev.sigstore.cosign/bundle` SET) goes through the Sigstore verifier with the key as
    ///   signer, exactly as a key authority's bundles do. A bundle carrying a certificate is a
    ///   keyless attestation and does not count for a key.
    /// - A keyless signer (cosign `attest` with Fulcio): the candidate's Sigstore form must carry
    ///   a certificate (a bundle's, or the `.att` layer's `dev.sigstore.cosign/certificate`), and
    ///   goes through the Sigstore verifier with the signer's trust root and identities, as a
    ///   keyless authority's signatures do (log entry, signing time, chain, SCT, signature,
    ///   identity), the image digest as the artifact the statement's subject must name.
    func signers(of candidate: AttestationCandidate, for signer: AttestationSigner, digest: ImageDigest) -> Result<[String], LayerRejection> {
        func refuse(_ step: String, _ reason: String) -> Result<[String], LayerRejection> {
            .failure(LayerRejection(step: step, reason: reason))
        }
        switch signer {
        case .key(let trust):
            if candidate.isBundle, case .success(let bundle) = candidate.sigstore, case .certificate = bundle.verificationMaterial {
                return refuse("verification material", "the bundle carries a certificate (a keyless attestation); its signer is a key")
            }
            guard trust.transparencyLog.requirement == .require else {
                switch candidate.envelope.verify(
                    signers: trust.keys.map { ($0.key, $0.scheme) }, threshold: trust.threshold, acceptedPayloadTypes: [InTotoStatement.payloadType]) {
                case .failure(let error):
                    return refuse("signature", "\(error)")
                case .success(let keys):
                    return .success(trust.keys.filter { keys.contains($0.key) }.map(\.source))
                }
            }
            let bundle: SigstoreBundle
            switch candidate.sigstore {
            case .failure(let rejection): return .failure(rejection)
            case .success(let found): bundle = found
            }
            guard let artifact = ArtifactDigest(parsing: digest.description) else {
                return refuse("artifact", "the image digest \(digest) uses an algorithm Sigstore bundles do not")
            }
            let sigstore = CosignKeyVerifier(registry: registry, clock: clock).bundleVerifier(for: trust)
            var signed: [TrustedPublicKey] = []
            var failures: [String] = []
            for key in trust.keys where !signed.contains(where: { $0.key == key.key }) {
                let verified = sigstore.verify(
                    bundle, policy: SigstoreVerificationPolicy(signer: .publicKey(key.key), artifact: .digest(artifact), keyScheme: key.scheme))
                if let failure = verified.failure { failures.append("\(key.source): \(failure)") } else { signed.append(key) }
            }
            guard signed.count >= max(trust.threshold, 1) else {
                return refuse("signature", "\(signed.count) of the signer's keys signed and logged it (\(trust.transparencyLog.trustRootSource)), "
                    + "\(trust.threshold) required" + (failures.isEmpty ? "" : ": " + failures.joined(separator: "; ")))
            }
            return .success(signed.map(\.source))
        case .keyless(let trust):
            let bundle: SigstoreBundle
            switch candidate.sigstore {
            case .failure(let rejection): return .failure(rejection)
            case .success(let found): bundle = found
            }
            guard case .certificate = bundle.verificationMaterial else {
                return refuse("verification material", candidate.isBundle
                    ? "the bundle names a key, not a certificate (a key-signed attestation); its signer is keyless"
                    : "the layer has no \(KeylessVerifier.certificateAnnotation) annotation (a key-signed attestation); its signer is keyless")
            }
            guard let artifact = ArtifactDigest(parsing: digest.description) else {
                return refuse("artifact", "the image digest \(digest) uses an algorithm Sigstore bundles do not")
            }
            var settings = configuration
            settings.clock = { [clock] in clock.now }
            let verified = SigstoreVerifier(trustedRoot: trust.trustedRoot, configuration: settings)
                .verify(bundle, policy: SigstoreVerificationPolicy(signer: .certificateIdentities(trust.identities), artifact: .digest(artifact)))
            if let failure = verified.failure {
                return refuse("signature", "\(failure)")
            }
            let identity = verified.identity
            return .success(["\(identity?.subjectAlternativeName ?? "?") (issuer \(identity?.issuer ?? "?"))"])
        }
    }

    /// The Sigstore form of a `.att` layer: its envelope with the layer's certificate, chain
    /// and Rekor SET annotations (cosign `pkg/oci/static`), or why they cannot be read.
    static func sigstoreForm(of envelope: DSSEEnvelope, annotations: [String: String]) -> Result<SigstoreBundle, LayerRejection> {
        do {
            return .success(try SigstoreBundle(
                cosignAttestation: envelope, certificatePEM: annotations[KeylessVerifier.certificateAnnotation],
                chainPEM: annotations[KeylessVerifier.chainAnnotation], rekorBundleJSON: annotations[KeylessVerifier.rekorBundleAnnotation]))
        } catch {
            return .failure(LayerRejection(step: "annotations", reason: "\(error)"))
        }
    }
}
