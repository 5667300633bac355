internal import CSignetOpenSSL

/// A TLS protocol version signet accepts: TLS 1.2 (RFC 5246) and TLS 1.3 (RFC 8446).
///
/// Older versions are deliberately not representable (RFC 8996 deprecates TLS 1.0 and 1.1). The raw
/// value is the name OpenSSL reports for the version (`SSL_get_version(3)`).
public enum TLSProtocolVersion: String, Sendable, CaseIterable {
    /// TLS 1.2, RFC 5246.
    case tls1_2 = "TLSv1.2"
    /// TLS 1.3, RFC 8446.
    case tls1_3 = "TLSv1.3"

    /// The OpenSSL version constant (`TLS1_2_VERSION`, `TLS1_3_VERSION`).
    var openSSLValue: Int32 {
        switch self {
        case .tls1_2: return TLS1_2_VERSION
        case .tls1_3: return TLS1_3_VERSION
        }
    }
}

extension TLSProtocolVersion: Comparable {
    public static func < (lhs: TLSProtocolVersion, rhs: TLSProtocolVersion) -> Bool {
        lhs.openSSLValue < rhs.openSSLValue
    }
}
