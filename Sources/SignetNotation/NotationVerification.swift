import Foundation

/// The outcome of verifying one Notary Project signature: each check with its action and
/// result in the specification's words, the chain, and where the signing time came from.
public struct NotationVerification: Sendable, Hashable, Codable {
    /// One check as it ran.
    public struct CheckOutcome: Sendable, Hashable, Codable {
        public var check: String
        /// `enforce`, `log` or `skip`.
        public var action: String
        /// nil when skipped.
        public var passed: Bool?
        public var detail: String
    }

    public var statement: String
    public var level: String
    public var checks: [CheckOutcome] = []
    /// The first enforced failure, as `authenticity validation failed: ...`; nil when verified.
    public var failure: String?
    public var signer: String?
    /// Subjects, signing certificate first.
    public var chain: [String] = []
    public var signingScheme: NotationSigningScheme?
    public var signingTimeSource: String?
    /// When a pass stops holding as time goes on: the signature's expiry, the chain's
    /// `notAfter` when it is judged at the time of verification, the CRLs' `nextUpdate`.
    public var validUntil: Date?
    /// CRL distribution points (`http` URLs) the revocation step needs and
    /// ``NotationVerifier/downloads`` does not hold yet: download them and verify again.
    public var crlLocationsToDownload: [String] = []
    /// Whether revocation was unavailable because a download failed in a way that may pass later
    /// (a timeout, a refused connection): a verdict that should not be kept.
    public var crlDownloadFailedTransiently = false
    /// Downloaded CRLs found unusable (not the issuer's, out of scope, without `nextUpdate`, not
    /// the delta they were fetched as): a downloader should not keep them.
    public var crlLocationsRejected: [String] = []

    init(statement: String, level: NotationTrustPolicy.VerificationLevel) {
        self.statement = statement
        self.level = level.rawValue
    }

    public var passed: Bool { failure == nil }

    /// Failures that were only logged (`authenticTimestamp was set to "log" and failed: ...`).
    public var loggedFailures: [String] {
        checks.filter { $0.action == "log" && $0.passed == false }.map { "\($0.check) was set to \"log\" and failed: \($0.detail)" }
    }

    mutating func record(_ check: NotationTrustPolicy.Check, action: NotationTrustPolicy.Action, failure: String) {
        checks.append(CheckOutcome(check: check.rawValue, action: action.rawValue, passed: false, detail: failure))
        if action == .enforce, self.failure == nil { self.failure = "\(check.rawValue) validation failed: \(failure)" }
    }

    mutating func record(_ check: NotationTrustPolicy.Check, action: NotationTrustPolicy.Action, passed detail: String) {
        checks.append(CheckOutcome(check: check.rawValue, action: action.rawValue, passed: true, detail: detail))
    }

    /// Runs the bookkeeping of one check; false when an enforced failure ends the verification.
    mutating func proceed(_ check: NotationTrustPolicy.Check, _ action: NotationTrustPolicy.Action, failure: @autoclosure () -> String?, passed: String) -> Bool {
        guard action != .skip else {
            checks.append(CheckOutcome(check: check.rawValue, action: "skip", passed: nil, detail: "skipped by the trust policy"))
            return true
        }
        if let problem = failure() {
            record(check, action: action, failure: problem)
            return action != .enforce
        }
        record(check, action: action, passed: passed)
        return true
    }
}

/// The artifact a signature must name: the image manifest's descriptor (Notary Project
/// signature specification, "Payload": `targetArtifact` with `mediaType`, `digest`, `size`).
public struct NotationTarget: Sendable, Hashable {
    public var digest: String
    public var mediaType: String
    public var size: Int64

    public init(digest: String, mediaType: String, size: Int64) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
    }

    /// Why `payload` does not name `expected`; nil when it does.
    static func mismatch(payload: [UInt8], expected: NotationTarget) -> String? {
        guard let object = NotationJSON.object(payload), let target = object["targetArtifact"] as? [String: Any] else {
            return "the payload is not \(NotationJSON.expected) with targetArtifact"
        }
        guard let digest = target["digest"] as? String, let mediaType = target["mediaType"] as? String,
              let size = (target["size"] as? NSNumber)?.int64Value else {
            return "the payload's targetArtifact lacks digest, mediaType or size"
        }
        if digest != expected.digest { return "the signature is for \(digest), not for the image \(expected.digest)" }
        if mediaType != expected.mediaType { return "the signature's target media type \(mediaType) is not the image's \(expected.mediaType)" }
        if size != expected.size { return "the signature's target size \(size) is not the image manifest's \(expected.size) bytes" }
        return nil
    }
}
