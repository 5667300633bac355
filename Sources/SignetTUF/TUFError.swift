/// Why the TUF client could not establish trusted metadata or a trusted target.
///
/// Each code is one of the refusals of the client workflow (TUF specification section 5,
/// "Detailed client workflow"): a threshold of signatures not met (5.3.4, 5.4.2, 5.5.3, 5.6.3),
/// a version that went backwards (5.4.3, 5.5.5), expired metadata (5.3.10, 5.4.4, 5.5.6, 5.6.5),
/// a length or hash that differs (5.5.2, 5.6.2, 5.7.3). A struct over a private code so that
/// new reasons do not break callers; compare ``code`` with the static codes.
public struct TUFError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of refusal this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Backing: String, Sendable, Hashable {
            case malformedJSON = "malformed JSON"
            case malformedMetadata = "malformed metadata"
            case unsupportedKey = "unsupported key"
            case thresholdNotMet = "signature threshold not met"
            case wrongType = "wrong metadata type"
            case badVersion = "unexpected version"
            case rollback = "rollback"
            case expired = "expired metadata"
            case lengthMismatch = "length mismatch"
            case hashMismatch = "hash mismatch"
            case fetchFailed = "fetch failed"
            case notFound = "not found"
            case targetNotFound = "unknown target"
            case storage = "local storage"
            case tooManyRotations = "too many root rotations"
            case unusableTarget = "unusable target"
            case certificateNotValid = "key certificate outside its validity"
        }

        fileprivate let backing: Backing

        /// Bytes that are not JSON (RFC 8259).
        public static let malformedJSON = Code(backing: .malformedJSON)
        /// JSON that is not the metadata the specification describes (section 4).
        public static let malformedMetadata = Code(backing: .malformedMetadata)
        /// A key whose type or scheme the client cannot verify with (section 4.2).
        public static let unsupportedKey = Code(backing: .unsupportedKey)
        /// Fewer valid signatures by distinct keys than the role's threshold.
        public static let thresholdNotMet = Code(backing: .thresholdNotMet)
        /// `_type` is not the role expected.
        public static let wrongType = Code(backing: .wrongType)
        /// A version other than the one the root chain, timestamp or snapshot requires.
        public static let badVersion = Code(backing: .badVersion)
        /// A version lower than the trusted one (rollback attack).
        public static let rollback = Code(backing: .rollback)
        /// Metadata past its `expires` at the update's start time (freeze attack).
        public static let expired = Code(backing: .expired)
        /// A file longer than its trusted length or the configured bound (endless data attack).
        public static let lengthMismatch = Code(backing: .lengthMismatch)
        /// A file whose hash differs from its trusted hash (mix-and-match, arbitrary software).
        public static let hashMismatch = Code(backing: .hashMismatch)
        /// The repository could not be reached or answered with an error.
        public static let fetchFailed = Code(backing: .fetchFailed)
        /// The repository has no such file.
        public static let notFound = Code(backing: .notFound)
        /// No trusted targets role lists the target.
        public static let targetNotFound = Code(backing: .targetNotFound)
        /// The local metadata cache could not be read or written.
        public static let storage = Code(backing: .storage)
        /// More root versions than the configured bound (section 5.3.3).
        public static let tooManyRotations = Code(backing: .tooManyRotations)
        /// A trusted target the application cannot use (not the format it expects).
        public static let unusableTarget = Code(backing: .unusableTarget)
        /// A key carried as an X.509 certificate (Notary's `ecdsa-x509`, `rsa-x509`) is used
        /// outside the certificate's validity (RFC 5280 section 4.1.2.5): not yet valid or expired.
        public static let certificateNotValid = Code(backing: .certificateNotValid)

        public var description: String { backing.rawValue }
    }

    /// What kind of refusal this is.
    public let code: Code
    /// A sentence naming the file, role, versions or times involved.
    public let reason: String
    /// For ``Code/fetchFailed``: the server could not be reached, timed out or answered 429,
    /// 502, 503 or 504, so a later try could succeed (a refusal, 401, or another status would
    /// be met again).
    public let isTransient: Bool
    /// For ``Code/fetchFailed``: the server (or its token service) refused the credentials
    /// sent, or asked for some and none were: another caller's may be accepted.
    public let refusedCredentials: Bool

    /// An error of `code`; public so that metadata formats and applications outside this
    /// module (Notary v1, the Sigstore root updater) report in the same terms.
    public init(_ code: Code, _ reason: String, transient: Bool = false, refusedCredentials: Bool = false) {
        self.code = code
        self.reason = reason
        self.isTransient = transient
        self.refusedCredentials = refusedCredentials
    }

    public var description: String { "\(code): \(reason)" }
}
