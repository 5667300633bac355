import Foundation
import SignetCrypto
import SignetJSON

extension SigstoreVerifier {
    /// Step 5: the signature verifies with the signer's key over the artifact (message
    /// signature) or over the DSSE PAE, and the artifact is the one signed: its digest is the
    /// message digest, or a subject of the in-toto statement (in-toto Statement v1 `subject`).
    func verifySignature(_ run: inout Run) throws(SigstoreVerificationFailure) -> SigstoreVerificationStep.Outcome {
        let key = try run.signingKey()
        switch run.bundle.content {
        case .messageSignature(let message):
            let algorithm = message.digest?.algorithm ?? run.policy.keyScheme?.hash ?? .sha256
            if let given = message.digest, let artifact = run.policy.artifact.digest(algorithm), artifact != given {
                throw SigstoreVerificationFailure(.signature("the bundle's message digest \(given) is not the artifact's \(artifact)"))
            }
            let valid: Bool
            switch (run.policy.artifact, key.algorithm) {
            case (.bytes(let bytes), .ed25519):
                valid = key.verify(signature: message.signature, message: bytes)
            case (.digest, .ed25519):
                throw SigstoreVerificationFailure(.signature("an Ed25519 signature needs the artifact, not only its digest"))
            default:
                guard let digest = run.policy.artifact.digest(algorithm) else {
                    throw SigstoreVerificationFailure(.signature("the signature is over a \(algorithm.rawValue) digest, which the artifact reference does not give"))
                }
                // The digest's algorithm decides the hash; a managed key's scheme its padding.
                let padding = run.policy.keyScheme?.rsaPadding ?? .pkcs1v15
                valid = key.verify(signature: message.signature, digest: digest.value, scheme: SignatureScheme(hash: algorithm, rsaPadding: padding))
            }
            guard valid else {
                throw SigstoreVerificationFailure(.signature("the message signature does not verify with \(key) over the artifact"))
            }
            return .passed("message signature by \(key)")
        case .dsseEnvelope(let envelope):
            guard !envelope.payloadType.isEmpty else {
                throw SigstoreVerificationFailure(.signature("DSSE envelope has an empty payloadType"))
            }
            let signature = try run.attestedSignature()
            let pae = envelope.preAuthenticationEncoding
            // The key type's hash (P-384 signs with SHA-384), then SHA-256, which older clients
            // used with every curve (sigstore-go accepts both for bundles v0.1 to v0.3).
            // A managed key's configured scheme comes first.
            let schemes = (run.policy.keyScheme.map { [$0] } ?? []) + [SignatureScheme(hash: key.algorithm.defaultHash), SignatureScheme()]
            guard let scheme = schemes.first(where: { key.verify(signature: signature, message: pae, scheme: $0) }) else {
                throw SigstoreVerificationFailure(.signature(
                    "the DSSE signature does not verify with \(key) over the envelope's PAE (hash \(key.algorithm.defaultHash.rawValue) or sha256)"))
            }
            try matchStatementSubject(envelope, run: &run)
            return .passed("DSSE \(envelope.payloadType) signed by \(key) (\(scheme))")
        }
    }

    /// The artifact must be a subject of the statement. Its subjects alone are decoded, and a
    /// statement larger than a registry document (an SBOM's, up to
    /// `UntrustedJSON.Limits.inTotoStatement`) is decoded only once step 6 found the signer to be
    /// one of the policy's identities: until then any Fulcio identity may have signed it, and
    /// Foundation's index of a million values is tens of megabytes.
    private func matchStatementSubject(_ envelope: DSSEEnvelope, run: inout Run) throws(SigstoreVerificationFailure) {
        guard envelope.payloadType == "application/vnd.in-toto+json" else {
            throw SigstoreVerificationFailure(.signature("DSSE payload type \(envelope.payloadType) does not name an artifact"))
        }
        if case .certificateIdentities = run.policy.signer, (try? UntrustedJSON.check(envelope.payload, limits: .registryDocument)) == nil {
            run.statementAfterIdentity = envelope
            return
        }
        try Self.matchStatementSubject(envelope, artifact: run.policy.artifact)
    }

    static func matchStatementSubject(_ envelope: DSSEEnvelope, artifact: SigstoreArtifact) throws(SigstoreVerificationFailure) {
        guard let subjects = InTotoStatementHead(envelope.payload)?.subject else {
            throw SigstoreVerificationFailure(.signature(InTotoStatementHead.problem(envelope.payload, otherwise: "the in-toto statement has no subject list")))
        }
        for subject in subjects {
            for (name, text) in subject.digest ?? [:] {
                guard let algorithm = DigestAlgorithm(rawValue: name), let expected = Hex.decode(text),
                      let digest = artifact.digest(algorithm) else { continue }
                if digest.value == expected { return }
            }
        }
        throw SigstoreVerificationFailure(.signature("the artifact is not a subject of the in-toto statement"))
    }

    /// Step 6: the certificate attests one of the policy's identities.
    func verifyIdentity(_ run: inout Run) throws(SigstoreVerificationFailure) -> SigstoreVerificationStep.Outcome {
        guard case .certificateIdentities(let identities) = run.policy.signer, let leaf = run.bundle.certificate else {
            return .notApplicable("managed key, no certificate")
        }
        let identity = try FulcioCertificateIdentity(certificate: leaf)
        run.identity = identity
        guard !identities.isEmpty else {
            throw SigstoreVerificationFailure(.identity("the policy names no identity"))
        }
        var reasons: [String] = []
        for expected in identities {
            if let reason = expected.mismatch(identity) {
                reasons.append(reason)
            } else {
                run.matchedIdentity = expected
                // Step 5's subject match of a large statement, now that its signer is trusted.
                if let envelope = run.statementAfterIdentity { try Self.matchStatementSubject(envelope, artifact: run.policy.artifact) }
                return .passed("\(identity.subjectAlternativeName ?? "?") from \(identity.issuer ?? "?")")
            }
        }
        throw SigstoreVerificationFailure(.identity(reasons.joined(separator: "; ")))
    }
}
