
/// An error from the TLS layer: making a context from files, or a connection failing.
///
/// A struct over a private code enum, so new cases do not break callers; compare with `==`
/// against the static members (`error == .handshakeFailed`), which compares codes only.
/// ``reason`` is a readable sentence that includes OpenSSL's error queue (`ERR_get_error(3)`)
/// and, for certificate problems, the verification result (`SSL_get_verify_result(3)`).
public struct TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case fileUnreadable
        case invalidCertificate
        case invalidPrivateKey
        case privateKeyMismatch
        case invalidTrustAnchors
        case invalidConfiguration
        case resourceExhausted
        case handshakeFailed
        case certificateRejected
        case protocolViolation
        case plaintextHTTP
        case truncated
        case connectionClosed
    }

    private let code: Code
    /// What went wrong, for logs.
    public let reason: String

    private init(_ code: Code, _ reason: String = "") {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason.isEmpty ? "\(code)" : reason }

    public static func == (lhs: TLSError, rhs: TLSError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// A certificate, key or CA file is missing or unreadable.
    public static let fileUnreadable = TLSError(.fileUnreadable)
    /// The certificate chain file holds no usable PEM certificate.
    public static let invalidCertificate = TLSError(.invalidCertificate)
    /// The private key file holds no usable (unencrypted) PEM key.
    public static let invalidPrivateKey = TLSError(.invalidPrivateKey)
    /// The private key does not belong to the leaf certificate.
    public static let privateKeyMismatch = TLSError(.privateKeyMismatch)
    /// A CA file holds no usable certificates.
    public static let invalidTrustAnchors = TLSError(.invalidTrustAnchors)
    /// A setting OpenSSL refused (protocol version range, ALPN list, server name).
    public static let invalidConfiguration = TLSError(.invalidConfiguration)
    /// OpenSSL could not allocate a context, connection or buffer.
    public static let resourceExhausted = TLSError(.resourceExhausted)
    /// The handshake failed: no common version, cipher or application protocol, or an alert.
    public static let handshakeFailed = TLSError(.handshakeFailed)
    /// A certificate was missing or failed verification (ours at the peer, or the peer's here).
    public static let certificateRejected = TLSError(.certificateRejected)
    /// The peer sent bytes that are not valid TLS records.
    public static let protocolViolation = TLSError(.protocolViolation)
    /// The peer spoke plaintext HTTP to the TLS port.
    public static let plaintextHTTP = TLSError(.plaintextHTTP)
    /// The stream ended without close_notify (RFC 8446 section 6.1), possibly mid-handshake.
    public static let truncated = TLSError(.truncated)
    /// The connection was shut down or had already failed; nothing more can be sent.
    public static let connectionClosed = TLSError(.connectionClosed)

    /// This error with a specific reason.
    func with(reason: String) -> TLSError { TLSError(code, reason) }
}
