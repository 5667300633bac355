import Foundation
import SignetCrypto

/// What a signature must cover: the artifact itself, or only its digest (as for a container
/// image, whose manifest digest is all the verifier holds). Sigstore client specification,
/// "Verification": the artifact or its digest is an input of every verification.
public enum SigstoreArtifact: Sendable, Hashable {
    case bytes([UInt8])
    case digest(ArtifactDigest)

    /// The digest under `algorithm`; nil when only a digest under another algorithm is known.
    func digest(_ algorithm: DigestAlgorithm) -> ArtifactDigest? {
        switch self {
        case .bytes(let bytes): ArtifactDigest(of: bytes, algorithm: algorithm)
        case .digest(let digest): digest.algorithm == algorithm ? digest : nil
        }
    }
}

/// The per-call policy: who must have signed, and what (sigstore-go `verify.PolicyBuilder`:
/// an artifact or digest, and a certificate identity or a key).
public struct SigstoreVerificationPolicy: Sendable, Hashable {
    /// Who must have signed.
    public enum Signer: Sendable, Hashable {
        /// A certificate from a trusted CA attesting one of these identities.
        case certificateIdentities([CertificateIdentity])
        /// A key managed out of band (`--key`); the bundle must carry no certificate.
        case publicKey(PublicKey)
    }

    public var signer: Signer
    public var artifact: SigstoreArtifact
    /// How a managed key signs, when the deployment says (an RSA key with PSS padding, a
    /// P-256 key with SHA-384): tried before the key type's defaults. Ignored for certificates.
    public var keyScheme: SignatureScheme?

    public init(signer: Signer, artifact: SigstoreArtifact, keyScheme: SignatureScheme? = nil) {
        self.signer = signer
        self.artifact = artifact
        self.keyScheme = keyScheme
    }
}

/// The deployment's verification settings. The defaults are the secure ones sigstore-go's
/// conformance client uses: one transparency log entry, one verified timestamp and one SCT.
public struct SigstoreVerifierConfiguration: Sendable {
    /// Verified transparency log entries required.
    public var transparencyLogThreshold: Int = 1
    /// Verified timestamps (Rekor v1 integrated times and RFC 3161 tokens) required.
    public var timestampThreshold: Int = 1
    /// Valid SCTs from trusted CT logs required in a Fulcio certificate.
    public var signedCertificateTimestampThreshold: Int = 1
    /// How far in the future an integrated time may lie before it is refused.
    public var allowedClockSkew: TimeInterval = 60
    /// The current time; injected so that tests can pin it.
    public var clock: @Sendable () -> Date = { Date() }

    public init() {}
}

/// Verifies Sigstore bundles offline against a ``TrustedRoot``, following the Sigstore client
/// specification ("Verification") in sigstore-go `pkg/verify` order: transparency log entries
/// (SETs, inclusion proofs and checkpoints, entry bodies), timestamps (integrated times and
/// RFC 3161), the certificate chain at each signing time, SCTs, the signature over the artifact or
/// DSSE envelope, and the signer's identity.
///
/// The verifier holds the deployment's trust; each call takes the per-request policy.
public struct SigstoreVerifier: Sendable {
    public let trustedRoot: TrustedRoot
    public let configuration: SigstoreVerifierConfiguration

    public init(trustedRoot: TrustedRoot, configuration: SigstoreVerifierConfiguration = SigstoreVerifierConfiguration()) {
        self.trustedRoot = trustedRoot
        self.configuration = configuration
    }

    /// Verifies `bundle` under `policy`. Never throws: a bundle that does not verify is a verdict.
    public func verify(_ bundle: SigstoreBundle, policy: SigstoreVerificationPolicy) -> SigstoreVerificationResult {
        var run = Run(bundle: bundle, policy: policy)
        var steps: [SigstoreVerificationStep] = []
        var failure: SigstoreVerificationFailure?
        let order: [(SigstoreVerificationStep.Kind, (inout Run) throws(SigstoreVerificationFailure) -> SigstoreVerificationStep.Outcome)] = [
            (.transparencyLog, verifyTransparencyLog),
            (.timestamps, verifyTimestamps),
            (.certificateChain, verifyCertificateChain),
            (.certificateTransparency, verifyCertificateTransparency),
            (.signature, verifySignature),
            (.identity, verifyIdentity),
        ]
        for (kind, step) in order {
            guard failure == nil else {
                steps.append(SigstoreVerificationStep(kind: kind, outcome: .notRun))
                continue
            }
            do {
                steps.append(SigstoreVerificationStep(kind: kind, outcome: try step(&run)))
            } catch {
                failure = error
                steps.append(SigstoreVerificationStep(kind: kind, outcome: .failed(error)))
            }
        }
        var result = SigstoreVerificationResult(
            steps: steps, failure: failure, timestamps: run.timestamps, identity: run.identity, matchedIdentity: run.matchedIdentity)
        result.certificatePath = run.chains.first?.certificates.map(\.description) ?? []
        return result
    }

    /// What the steps learn and pass on.
    struct Run {
        let bundle: SigstoreBundle
        let policy: SigstoreVerificationPolicy
        var timestamps: [VerifiedTimestamp] = []
        var rekorV2Logs: [TransparencyLogInstance] = []
        /// Logs of Rekor v1 entries verified by their inclusion proof alone: without a signed
        /// entry timestamp their integrated time is the bundle's word, so each log must be valid
        /// at the times step 2 verifies instead (at the verification time when there are none).
        var unstampedLogs: [TransparencyLogInstance] = []
        var chains: [VerifiedCertificateChain] = []
        var identity: FulcioCertificateIdentity?
        var matchedIdentity: CertificateIdentity?
        /// A DSSE statement larger than a registry document, whose subjects step 6 matches once
        /// the signer's identity is one the policy trusts.
        var statementAfterIdentity: DSSEEnvelope?

        init(bundle: SigstoreBundle, policy: SigstoreVerificationPolicy) {
            self.bundle = bundle
            self.policy = policy
        }

        /// The one signature the bundle's log entries and timestamps must attest. A DSSE envelope
        /// with several signatures is refused, as sigstore-go does (`ErrInvSigCount`): otherwise
        /// one signature could carry the timestamp and another the verdict.
        func attestedSignature() throws(SigstoreVerificationFailure) -> [UInt8] {
            guard let signature = bundle.signatureBytes else {
                let count = if case .dsseEnvelope(let envelope) = bundle.content { envelope.signatures.count } else { 0 }
                throw SigstoreVerificationFailure(.material(SigstoreBundle.envelopeSignatureCountRule(count)))
            }
            return signature
        }

        /// The key that made the signature: the policy's managed key or the certificate's key.
        func signingKey() throws(SigstoreVerificationFailure) -> PublicKey {
            switch (policy.signer, bundle.verificationMaterial) {
            case (.publicKey(let key), .publicKey):
                return key
            case (.certificateIdentities, .certificate(let certificate)):
                do {
                    return try certificate.publicKey()
                } catch {
                    throw SigstoreVerificationFailure(.material("certificate key: \(error)"))
                }
            case (.publicKey, .certificate):
                throw SigstoreVerificationFailure(.material("a public key was given but the bundle carries a certificate"))
            case (.certificateIdentities, .publicKey):
                throw SigstoreVerificationFailure(.material("the bundle names a managed key (no certificate) but no key was given"))
            }
        }
    }
}

extension TrustedRoot {
    /// The production Sigstore trusted root compiled into signet (``productionJSON``).
    public static func production() throws(TrustedRootError) -> TrustedRoot {
        try TrustedRoot(json: Array(productionJSON.utf8))
    }
}
