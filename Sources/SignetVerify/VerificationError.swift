import SignetRegistry
import SignetPolicy

/// Why a verification could not find out whether an image is signed: the registry could not be
/// asked, the deadline passed, or no verifier handles the authority. A verdict ("the signature
/// is invalid") is never one of these; see ``VerificationResult``.
///
/// A struct over a private code (the pattern of swift-certificates' `Error.swift`), so new
/// reasons do not break callers; branch on ``isTransient`` and show ``description``.
public struct VerificationError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case registry(RegistryError)
        case deadlineExceeded
        case unsupportedAuthority(String)
        case cancelled
        case trustServer(String)
        case trustServerRefusal(String, credentials: Bool)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    /// Wraps a registry failure.
    public init(_ error: RegistryError) {
        switch error.kind {
        case .deadlineExceeded: code = .deadlineExceeded
        case .cancelled: code = .cancelled
        default: code = .registry(error)
        }
    }

    /// The registry error behind this one, if any.
    public var registryError: RegistryError? {
        if case .registry(let error) = code { return error }
        return nil
    }

    /// Whether trying again later could succeed.
    public var isTransient: Bool {
        switch code {
        case .registry(let error): error.isTransient
        case .deadlineExceeded, .cancelled: true
        case .unsupportedAuthority: false
        case .trustServer: true
        case .trustServerRefusal: false
        }
    }

    public var description: String {
        switch code {
        case .registry(let error): error.description
        case .deadlineExceeded: "the verification deadline passed"
        case .unsupportedAuthority(let kind): "no verifier is configured for \(kind) authorities"
        case .cancelled: "the verification was cancelled"
        case .trustServer(let reason), .trustServerRefusal(let reason, _): reason
        }
    }

    /// A server that holds signatures or trust data outside the registry (a Notary v1 server, a
    /// CRL distribution point) could not be reached or answered with an error; `reason` names the
    /// server and what failed.
    public static func trustServerUnavailable(_ reason: String) -> VerificationError {
        VerificationError(.trustServer(reason))
    }

    /// A server that holds signatures or trust data outside the registry answered in a way a
    /// later try would meet again: a refusal (401), a status other than 429 and 502 to 504, or
    /// metadata that does not verify. `reason` names the server and what failed; `credentials`:
    /// it refused the credentials sent (or asked for some), which another caller's may pass.
    public static func trustServerRefused(_ reason: String, credentials: Bool = false) -> VerificationError {
        VerificationError(.trustServerRefusal(reason, credentials: credentials))
    }

    /// A server refused the credentials sent: another caller's may be accepted.
    public var isCredentialRefusal: Bool {
        switch code {
        case .registry(let error): error.kind == .unauthorized || error.kind == .denied
        case .trustServerRefusal(_, let credentials): credentials
        default: false
        }
    }

    /// The verification deadline passed.
    public static let deadlineExceeded = VerificationError(.deadlineExceeded)

    static func unsupported(_ kind: String) -> VerificationError {
        VerificationError(.unsupportedAuthority(kind))
    }

    static let deadline = VerificationError(.deadlineExceeded)
}

extension VerificationError: TransientVerificationFailure {}
