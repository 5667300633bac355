import CSignetOpenSSL
import Foundation

/// An X.509 v2 certificate revocation list (RFC 5280 section 5), owning an OpenSSL `X509_CRL`.
///
/// Read from DER or PEM (RFC 7468 section 6, `-----BEGIN X509 CRL-----`). A CRL says nothing
/// until ``isIssued(by:)`` has checked its signature against the issuing certificate.
///
/// `@unchecked Sendable`: the `X509_CRL` is never mutated after `init` (lookups only read it;
/// OpenSSL 3 sorts the revoked list under a lock on first lookup).
public final class CertificateRevocationList: @unchecked Sendable, Hashable {
    let handle: OpaquePointer
    /// The DER encoding.
    public let derEncoded: [UInt8]

    /// Reads a DER CRL; trailing bytes are refused.
    public init(derEncoded: [UInt8]) throws(CertificateError) {
        var parsed: OpaquePointer?
        derEncoded.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            parsed = d2i_X509_CRL(nil, &cursor, buffer.count)
            if let crl = parsed, let cursor, cursor != buffer.baseAddress! + buffer.count {
                X509_CRL_free(crl)
                parsed = nil
            }
        }
        guard let handle = parsed else {
            ERR_clear_error()
            throw CertificateError(.invalidEncoding)
        }
        self.handle = handle
        self.derEncoded = derEncoded
    }

    /// Every CRL in `bytes`: PEM `X509 CRL` blocks, or one DER CRL.
    public static func lists(in bytes: [UInt8]) throws(CertificateError) -> [CertificateRevocationList] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.contains("-----BEGIN X509 CRL-----") else { return [try CertificateRevocationList(derEncoded: bytes)] }
        var result: [CertificateRevocationList] = []
        for der in try PEMBlocks.der("X509 CRL", in: text) {
            result.append(try CertificateRevocationList(derEncoded: der))
        }
        return result
    }

    deinit {
        X509_CRL_free(handle)
    }

    public static func == (lhs: CertificateRevocationList, rhs: CertificateRevocationList) -> Bool { lhs.derEncoded == rhs.derEncoded }
    public func hash(into hasher: inout Hasher) { hasher.combine(derEncoded) }

    /// `nextUpdate` (RFC 5280 section 5.1.2.5); nil when absent.
    public var nextUpdate: Date? {
        guard let time = X509_CRL_get0_nextUpdate(handle) else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    /// Whether this is a delta CRL (a `deltaCRLIndicator` extension, RFC 5280 section 5.2.4): it
    /// lists only the changes since a base CRL, so it never stands for a complete CRL.
    public var isDelta: Bool {
        X509_CRL_get_ext_by_NID(handle, NID_delta_crl, -1) >= 0
    }

    /// Whether `issuer` issued this CRL: the CRL's issuer name is its subject and the CRL's
    /// signature verifies with its key (RFC 5280 section 6.3.3 (f)).
    public func isIssued(by issuer: Certificate) -> Bool {
        defer { ERR_clear_error() }
        guard X509_NAME_cmp(X509_CRL_get_issuer(handle), X509_get_subject_name(issuer.handle)) == 0,
              let key = X509_get0_pubkey(issuer.handle) else { return false }
        return X509_CRL_verify(handle, key) == 1
    }

    /// When `certificate` was revoked, if this CRL lists it (by issuer and serial number);
    /// nil when it does not. An entry `removeFromCRL` is not a revocation.
    public func revocationDate(of certificate: Certificate) -> Date? {
        var entry: OpaquePointer?
        guard X509_CRL_get0_by_cert(handle, &entry, certificate.handle) == 1 else { return nil }
        guard let entry, let time = X509_REVOKED_get0_revocationDate(entry) else { return .distantPast }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return .distantPast }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
