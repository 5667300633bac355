import Foundation

/// One step of Sigstore verification and what it found, in the order of sigstore-go
/// `pkg/verify/signed_entity.go`: transparency log, timestamps, certificate chain, SCTs,
/// signature, identity.
public struct SigstoreVerificationStep: Sendable, Hashable, CustomStringConvertible, Encodable {
    /// Which step.
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        case transparencyLog = "tlog"
        case timestamps
        case certificateChain = "chain"
        case certificateTransparency = "sct"
        case signature
        case identity
    }

    /// What the step concluded.
    public enum Outcome: Sendable, Hashable {
        case passed(String)
        case failed(SigstoreVerificationFailure)
        /// The step does not apply (for example the certificate steps for a managed key).
        case notApplicable(String)
        /// An earlier step failed.
        case notRun
    }

    public var kind: Kind
    public var outcome: Outcome

    private enum CodingKeys: String, CodingKey {
        case step, outcome, detail
    }

    /// `{"step": "tlog", "outcome": "passed" | "failed" | "notApplicable" | "notRun", "detail": ...}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind.rawValue, forKey: .step)
        switch outcome {
        case .passed(let detail):
            try container.encode("passed", forKey: .outcome)
            try container.encode(detail, forKey: .detail)
        case .failed(let failure):
            try container.encode("failed", forKey: .outcome)
            try container.encode(failure.description, forKey: .detail)
        case .notApplicable(let reason):
            try container.encode("notApplicable", forKey: .outcome)
            try container.encode(reason, forKey: .detail)
        case .notRun:
            try container.encode("notRun", forKey: .outcome)
        }
    }

    public var description: String {
        switch outcome {
        case .passed(let detail): "\(kind.rawValue): passed (\(detail))"
        case .failed(let failure): "\(kind.rawValue): FAILED (\(failure))"
        case .notApplicable(let reason): "\(kind.rawValue): not applicable (\(reason))"
        case .notRun: "\(kind.rawValue): not run"
        }
    }
}

/// A time at which the signature is known to have existed, and who vouches for it (sigstore-go
/// `verify.TimestampVerificationResult`: a Rekor v1 integrated time or an RFC 3161 genTime).
public struct VerifiedTimestamp: Sendable, Hashable, CustomStringConvertible {
    public enum Source: Sendable, Hashable {
        /// A Rekor v1 integrated time, under a verified signed entry timestamp.
        case transparencyLog(String)
        /// An RFC 3161 time-stamp token from a trusted TSA.
        case timestampAuthority(String)
    }

    public var time: Date
    public var source: Source

    public var description: String {
        switch source {
        case .transparencyLog(let url): "\(time.formatted(.iso8601)) (tlog \(url))"
        case .timestampAuthority(let uri): "\(time.formatted(.iso8601)) (TSA \(uri))"
        }
    }
}

/// The verdict on one bundle: every step with its outcome, and what was established. Verified
/// when no step failed (sigstore-go `verify.VerificationResult`, extended with the step record).
public struct SigstoreVerificationResult: Sendable, CustomStringConvertible, Encodable {
    /// The steps in order; after a failure the rest are ``SigstoreVerificationStep/Outcome/notRun``.
    public var steps: [SigstoreVerificationStep]
    /// The first failure; nil when verified.
    public var failure: SigstoreVerificationFailure?
    /// The verified signing times.
    public var timestamps: [VerifiedTimestamp]
    /// The signer's identity, for a certificate.
    public var identity: FulcioCertificateIdentity?
    /// The identity policy entry that matched.
    public var matchedIdentity: CertificateIdentity?
    /// The certification path validated for the signing certificate (at the first signing
    /// time), each certificate as its subject, leaf first and trust anchor last; empty for a
    /// key without a certificate.
    public var certificatePath: [String] = []

    /// Whether every step passed or did not apply.
    public var isVerified: Bool { failure == nil }

    private enum CodingKeys: String, CodingKey {
        case verified, failure, steps, timestamps, subjectAlternativeName, issuer
    }

    /// The audit form: the verdict, the first failure, every step, the signing times and identity.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(isVerified, forKey: .verified)
        try container.encodeIfPresent(failure?.description, forKey: .failure)
        try container.encode(steps, forKey: .steps)
        try container.encode(timestamps.map(\.description), forKey: .timestamps)
        try container.encodeIfPresent(identity?.subjectAlternativeName, forKey: .subjectAlternativeName)
        try container.encodeIfPresent(identity?.issuer, forKey: .issuer)
    }

    public var description: String {
        (isVerified ? "verified" : "not verified: \(failure!)") + "\n" + steps.map { "  \($0)" }.joined(separator: "\n")
    }
}
