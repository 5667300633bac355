import CSignetOpenSSL
import Foundation
import NIOConcurrencyHelpers

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
    /// Issuers (by certificate DER) whose signature check ran, with its result: a CRL is judged
    /// against the same issuer for every certificate, signature and verification that uses it.
    private let issuerChecks = IssuerCheckMemo()

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

    /// `nextUpdate` (RFC 5280 section 5.1.2.5); nil when absent, `distantPast` when it cannot
    /// be read (so an unreadable time never keeps a CRL current).
    public var nextUpdate: Date? {
        guard let time = X509_CRL_get0_nextUpdate(handle) else { return nil }
        return Self.date(time) ?? .distantPast
    }

    /// `thisUpdate` (RFC 5280 section 5.1.2.4); `distantFuture` when it cannot be read.
    public var thisUpdate: Date {
        X509_CRL_get0_lastUpdate(handle).flatMap(Self.date) ?? .distantFuture
    }

    /// How many certificates the CRL lists.
    public var entryCount: Int { Int(signet_X509_CRL_entry_count(handle)) }

    /// The memory the parsed CRL takes, estimated: its DER and about 200 bytes per listed
    /// certificate (OpenSSL keeps each entry as an `X509_REVOKED` with its own allocations, ten
    /// times the 20 bytes a minimal entry takes in DER).
    public var estimatedMemory: Int { derEncoded.count + entryCount * 200 }

    /// Where delta CRLs that update this CRL are published: the freshest CRL extension's
    /// distribution points (RFC 5280 section 5.2.6, the syntax of section 4.2.1.13); nil when
    /// it cannot be read.
    public var deltaDistributionPoints: [CRLDistributionPoint]? {
        let index = X509_CRL_get_ext_by_NID(handle, NID_freshest_crl, -1)
        guard index >= 0 else { return [] }
        guard let ext = X509_CRL_get_ext(handle, index), let data = X509_EXTENSION_get_data(ext), let bytes = ASN1_STRING_get0_data(data) else { return nil }
        return CRLDistributionPoint.points(in: Array(UnsafeBufferPointer(start: bytes, count: Int(ASN1_STRING_length(data)))))
    }

    /// How a delta CRL relates to a complete CRL `base` (RFC 5280 section 5.2.4, as OpenSSL's
    /// delta check reads it).
    public enum DeltaRelation: Sendable, Equatable {
        /// Its base CRL number is at most `base`'s CRL number, and its own number is higher.
        case updates
        /// Its base CRL number is higher than `base`'s number: `base` is older than the CRL the
        /// delta was made against (a newer complete CRL exists).
        case baseIsOlder
        /// Its own CRL number is not higher than `base`'s: an old delta, superseded by `base`.
        case supersededByBase
        /// A CRL number is missing, or this is not a delta CRL.
        case unrelated
    }

    /// How this delta CRL relates to `base`.
    public func deltaRelation(to base: CertificateRevocationList) -> DeltaRelation {
        defer { ERR_clear_error() }
        guard let baseNumber = integerExtension(NID_delta_crl), let deltaNumber = integerExtension(NID_crl_number),
              let number = base.integerExtension(NID_crl_number) else { return .unrelated }
        defer {
            ASN1_INTEGER_free(baseNumber)
            ASN1_INTEGER_free(deltaNumber)
            ASN1_INTEGER_free(number)
        }
        if ASN1_INTEGER_cmp(baseNumber, number) > 0 { return .baseIsOlder }
        if ASN1_INTEGER_cmp(deltaNumber, number) <= 0 { return .supersededByBase }
        return .updates
    }

    /// The CRL number (RFC 5280 section 5.2.3) as decimal text; nil when absent.
    public var number: String? {
        defer { ERR_clear_error() }
        guard let value = integerExtension(NID_crl_number) else { return nil }
        defer { ASN1_INTEGER_free(value) }
        guard let big = ASN1_INTEGER_to_BN(value, nil) else { return nil }
        defer { BN_free(big) }
        guard let text = BN_bn2dec(big) else { return nil }
        defer { CRYPTO_free(text, #file, #line) }
        return String(cString: text)
    }

    /// An INTEGER extension of the CRL, owned by the caller; nil when absent or unreadable.
    private func integerExtension(_ nid: Int32) -> UnsafeMutablePointer<ASN1_INTEGER>? {
        X509_CRL_get_ext_d2i(handle, nid, nil, nil)?.assumingMemoryBound(to: ASN1_INTEGER.self)
    }

    /// The reason code of `certificate`'s entry (RFC 5280 section 5.3.1: 6 is certificateHold,
    /// 8 removeFromCRL); nil when the CRL does not list it or the entry has no reason.
    public func revocationReason(of certificate: Certificate) -> Int? {
        defer { ERR_clear_error() }
        var entry: OpaquePointer?
        guard X509_CRL_get0_by_cert(handle, &entry, certificate.handle) != 0, let entry,
              let reason = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nil, nil)?.assumingMemoryBound(to: ASN1_ENUMERATED.self) else { return nil }
        defer { ASN1_ENUMERATED_free(reason) }
        return ASN1_ENUMERATED_get(reason)
    }

    /// Whether the CRL lists `certificate` with the reason `removeFromCRL` (a delta CRL taking a
    /// certificate off hold, RFC 5280 section 5.3.1).
    public func removesFromCRL(_ certificate: Certificate) -> Bool {
        defer { ERR_clear_error() }
        var entry: OpaquePointer?
        return X509_CRL_get0_by_cert(handle, &entry, certificate.handle) == 2
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>) -> Date? {
        defer { ERR_clear_error() }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    /// Whether this is a delta CRL (a `deltaCRLIndicator` extension, RFC 5280 section 5.2.4): it
    /// lists only the changes since a base CRL, so it never stands for a complete CRL.
    public var isDelta: Bool {
        X509_CRL_get_ext_by_NID(handle, NID_delta_crl, -1) >= 0
    }

    /// Whether `issuer` issued this CRL: the CRL's issuer name is its subject, the issuer may
    /// sign CRLs (no key usage extension, or one with `cRLSign`, RFC 5280 section 4.2.1.3), and
    /// the CRL's signature verifies with its key (RFC 5280 section 6.3.3 (f)). Remembered per
    /// issuer, so a large CRL's signature is checked once.
    public func isIssued(by issuer: Certificate) -> Bool {
        if let known = issuerChecks.result(for: issuer.derEncoded) { return known }
        defer { ERR_clear_error() }
        var issued = false
        if X509_NAME_cmp(X509_CRL_get_issuer(handle), X509_get_subject_name(issuer.handle)) == 0,
           issuer.keyUsage.map({ $0.contains(.cRLSign) }) ?? true, let key = X509_get0_pubkey(issuer.handle) {
            issued = X509_CRL_verify(handle, key) == 1
        }
        issuerChecks.store(issued, for: issuer.derEncoded)
        return issued
    }

    /// Why this CRL cannot tell `certificate`'s status even when its issuer signed it; nil when it
    /// can. `location` is where it was fetched from (nil when the policy supplied it).
    ///
    /// - A critical extension signet does not process (RFC 5280 section 5.2: the CRL must not be
    ///   used); the delta CRL indicator is judged by ``isDelta``.
    /// - An issuing distribution point (RFC 5280 section 5.2.5, and 6.3.3 (b)(2)) that narrows the
    ///   CRL's scope to leave the certificate out: a distribution point that is neither where the
    ///   CRL was fetched from nor one the certificate names, only CA or only end-entity
    ///   certificates of the other kind, only some reasons, an indirect CRL, or attribute
    ///   certificates. Without this, a CRL of another partition (a plain HTTP download someone on
    ///   the path replaced) would be taken to say that the certificate is not revoked.
    public func scopeProblem(for certificate: Certificate, location: String?) -> String? {
        defer { ERR_clear_error() }
        for index in 0..<max(0, X509_CRL_get_ext_count(handle)) {
            guard let ext = X509_CRL_get_ext(handle, index), X509_EXTENSION_get_critical(ext) != 0 else { continue }
            let nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext))
            guard nid != NID_issuing_distribution_point && nid != NID_delta_crl else { continue }
            var buffer = [CChar](repeating: 0, count: 128)
            let length = OBJ_obj2txt(&buffer, Int32(buffer.count), X509_EXTENSION_get_object(ext), 1)
            let name = String(decoding: buffer.prefix(min(buffer.count - 1, Int(max(0, length)))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return "the CRL has a critical extension signet does not process (\(name))"
        }
        let index = X509_CRL_get_ext_by_NID(handle, NID_issuing_distribution_point, -1)
        guard index >= 0 else { return nil }
        guard let ext = X509_CRL_get_ext(handle, index), let data = X509_EXTENSION_get_data(ext), let bytes = ASN1_STRING_get0_data(data),
              let sequence = DER.element(UnsafeBufferPointer(start: bytes, count: Int(ASN1_STRING_length(data)))), sequence.tag == 0x30,
              let fields = sequence.children else {
            return "the CRL's issuing distribution point cannot be read"
        }
        let isAuthority = certificate.basicConstraints?.isCertificateAuthority == true
        for field in fields {
            let isTrue = field.content.first.map { $0 != 0 } ?? false
            switch field.tag {
            case 0xa0:
                guard let names = field.children, names.count == 1, names[0].tag == 0xa0, let generalNames = names[0].children else {
                    return "the CRL's issuing distribution point is named relative to its issuer, which signet does not match"
                }
                let scope = generalNames.filter { $0.tag == 0x86 }.map { String(decoding: $0.content, as: UTF8.self) }
                let named = (certificate.crlDistributionPoints ?? []).flatMap(\.locations)
                let matches = location.map { scope.contains($0) } ?? scope.contains(where: named.contains)
                if !matches {
                    let source = location.map { "was fetched from \($0)" } ?? "is not for a distribution point the certificate names (\(named.joined(separator: ", ")))"
                    return "the CRL covers distribution point \(scope.joined(separator: ", ")) and \(source)"
                }
            case 0x81 where isTrue && isAuthority: return "the CRL covers end-entity certificates only, and \"\(certificate.subject)\" is a CA"
            case 0x82 where isTrue && !isAuthority: return "the CRL covers CA certificates only, and \"\(certificate.subject)\" is not a CA"
            case 0x83: return "the CRL covers some revocation reasons only (a partitioned CRL)"
            case 0x84 where isTrue: return "the CRL is an indirect CRL, which signet does not process"
            case 0x85 where isTrue: return "the CRL covers attribute certificates only"
            case 0x81, 0x82, 0x84, 0x85: continue
            default: return "the CRL's issuing distribution point has a field signet does not know (tag 0x\(String(field.tag, radix: 16)))"
            }
        }
        return nil
    }

    /// When `certificate` was revoked, if this CRL lists it (by issuer and serial number);
    /// nil when it does not. An entry `removeFromCRL` is not a revocation.
    public func revocationDate(of certificate: Certificate) -> Date? {
        defer { ERR_clear_error() }
        var entry: OpaquePointer?
        guard X509_CRL_get0_by_cert(handle, &entry, certificate.handle) == 1 else { return nil }
        guard let entry, let time = X509_REVOKED_get0_revocationDate(entry) else { return .distantPast }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return .distantPast }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}

/// Results of ``CertificateRevocationList/isIssued(by:)`` for the few issuers a CRL is checked
/// against (usually one), under a lock: CRLs are shared by concurrent verifications.
private final class IssuerCheckMemo: Sendable {
    private let results = NIOLockedValueBox<[[UInt8]: Bool]>([:])

    func result(for issuer: [UInt8]) -> Bool? {
        results.withLockedValue { $0[issuer] }
    }

    func store(_ result: Bool, for issuer: [UInt8]) {
        results.withLockedValue { results in
            if results.count >= 8 { results.removeAll() }
            results[issuer] = result
        }
    }
}
