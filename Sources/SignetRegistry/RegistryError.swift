/// Why a registry operation could not find out what it was asked.
///
/// The cases follow the error codes of the OCI distribution specification v1.1 ("Error Codes":
/// `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `UNAUTHORIZED`, `DENIED`, ...) and the transport failures
/// around them. A struct over a private code, so new reasons do not break callers: branch on
/// ``kind`` and show ``description``, which names the reference or registry concerned.
///
/// A missing signature is not an error: discovery returns an empty result and the verifier turns
/// that into a verdict. These errors mean "could not find out".
public struct RegistryError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case notFound(reference: String)
        case unauthorized(registry: String, detail: String)
        case denied(reference: String, detail: String)
        case connectionFailed(registry: String, detail: String, reset: Bool = false)
        case deadlineExceeded(operation: String)
        case digestMismatch(reference: String, expected: String, actual: String)
        case tooLarge(what: String, limit: Int)
        case overBudget(registry: String, limit: Int)
        case badResponse(registry: String, detail: String)
        case invalidConfiguration(String)
        case cancelled
    }

    /// This refusal with which credentials were not read (``RegistryCredentialStore/withheld``):
    /// why there were none, or beside the one refused.
    func withCredentialsWithheld(_ reason: String, credentialSent: Bool) -> RegistryError {
        switch code {
        case .unauthorized(let registry, let detail):
            RegistryError(.unauthorized(registry: registry, detail: detail + (credentialSent ? "; " : ": ") + reason))
        default: self
        }
    }

    /// The broad reason, stable across releases, for callers that branch on it.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        let name: String
        public var description: String { name }
        /// The manifest, tag, blob or repository does not exist (HTTP 404).
        public static let notFound = Kind(name: "notFound")
        /// The registry wants credentials, or refused the ones given (HTTP 401).
        public static let unauthorized = Kind(name: "unauthorized")
        /// The credentials are valid but lack access (HTTP 403).
        public static let denied = Kind(name: "denied")
        /// No connection could be made, or it broke.
        public static let connectionFailed = Kind(name: "connectionFailed")
        /// The caller's deadline passed.
        public static let deadlineExceeded = Kind(name: "deadlineExceeded")
        /// Content fetched by digest does not hash to that digest.
        public static let digestMismatch = Kind(name: "digestMismatch")
        /// A manifest or blob is larger than the configured cap.
        public static let tooLarge = Kind(name: "tooLarge")
        /// The download was stopped to keep the registry responses held at once within
        /// ``RegistryClientConfiguration/maximumBufferedResponseBytes``; it held the most.
        public static let overBudget = Kind(name: "overBudget")
        /// The registry answered something the protocol does not allow.
        public static let badResponse = Kind(name: "badResponse")
        /// Credentials or client settings could not be read.
        public static let invalidConfiguration = Kind(name: "invalidConfiguration")
        /// The calling task was cancelled.
        public static let cancelled = Kind(name: "cancelled")
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    /// The broad reason.
    public var kind: Kind {
        switch code {
        case .notFound: .notFound
        case .unauthorized: .unauthorized
        case .denied: .denied
        case .connectionFailed: .connectionFailed
        case .deadlineExceeded: .deadlineExceeded
        case .digestMismatch: .digestMismatch
        case .tooLarge: .tooLarge
        case .overBudget: .overBudget
        case .badResponse: .badResponse
        case .invalidConfiguration: .invalidConfiguration
        case .cancelled: .cancelled
        }
    }

    /// Whether trying again later could succeed (the registry was unreachable or slow), as
    /// opposed to an answer that will not change (not found, denied, tampered content).
    public var isTransient: Bool {
        switch code {
        case .connectionFailed, .deadlineExceeded, .cancelled, .overBudget: true
        default: false
        }
    }

    /// A connection the peer reset or closed mid-exchange, or a download stopped to keep within
    /// the response budget: worth another try.
    var isRetryableReset: Bool {
        switch code {
        case .connectionFailed(_, _, true), .overBudget: true
        default: false
        }
    }

    public var description: String {
        switch code {
        case .notFound(let reference):
            "\(reference): not found"
        case .unauthorized(let registry, let detail):
            "\(registry): unauthorized" + (detail.isEmpty ? "" : " (\(detail))")
        case .denied(let reference, let detail):
            "\(reference): access denied" + (detail.isEmpty ? "" : " (\(detail))")
        case .connectionFailed(let registry, let detail, _):
            "\(registry): connection failed: \(detail)"
        case .deadlineExceeded(let operation):
            "\(operation): deadline exceeded"
        case .digestMismatch(let reference, let expected, let actual):
            "\(reference): content does not match its digest (expected \(expected), got \(actual))"
        case .tooLarge(let what, let limit):
            "\(what): larger than the limit of \(limit) bytes"
        case .overBudget(let registry, let limit):
            "\(registry): download stopped: registry responses in flight reached signet's limit of \(limit) bytes "
                + "(--max-buffered-registry-bytes), and this download held the most"
        case .badResponse(let registry, let detail):
            "\(registry): unexpected response: \(detail)"
        case .invalidConfiguration(let detail):
            "invalid registry configuration: \(detail)"
        case .cancelled:
            "registry request cancelled"
        }
    }
}
