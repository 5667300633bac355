import Foundation
import SignetPolicy
import SignetVerify

/// One verification asked for in the console, as it unfolds and once decided: the image, who
/// asked, a step per stage (resolution, each authority with its signature, certificate chain,
/// transparency log, timestamp and identity checks), timings, and the admission verdict.
/// Encoded as JSON by `/api/verifications/<id>`.
public struct VerificationRun: Sendable, Codable {
    public enum State: String, Sendable, Codable {
        case running
        case finished
    }

    public var id: String
    public var image: String
    /// The namespace the image was checked for (exceptions and namespace selectors apply), if any.
    public var namespace: String?
    public var user: String
    public var startedAt: Date
    public var state: State
    /// The stages reported so far, in order.
    public var events: [VerificationRunEvent]
    /// Each authority consulted, with the engine's full result.
    public var authorities: [AuthorityReport]
    /// The verdict, once finished.
    public var verdict: ImageVerdict?
    public var totalMilliseconds: Double?

    /// The digest verified, when an authority checked one.
    public var digest: String? {
        verdict?.verifiedDigest?.description ?? authorities.lazy.compactMap { $0.result?.digest.description }.first
    }
}

/// One stage of a run, as server-sent events carry it.
public struct VerificationRunEvent: Sendable, Codable, Hashable {
    public enum Stage: String, Sendable, Codable, Hashable {
        case started
        case resolution
        case authority
        case step
        case decision
    }

    public var stage: Stage
    /// Milliseconds since the run started.
    public var atMilliseconds: Double
    public var title: String
    /// `nil`: neither passed nor failed (informational).
    public var passed: Bool?
    public var detail: String
    public var durationMilliseconds: Double?
}

/// How one authority of one policy decided during a run, with what the engine knows beyond the
/// verdict: format, signers, timings and cache outcome.
public struct AuthorityReport: Sendable, Codable, Hashable {
    public var policy: String
    public var authority: String
    /// The Sigstore trust root or other anchor the authority trusts, when it names one.
    public var trustRoot: String?
    /// The engine's result; `nil` when the verifier could not find out (see ``error``).
    public var result: VerificationResult?
    public var error: String?
    public var elapsedMilliseconds: Double
}
