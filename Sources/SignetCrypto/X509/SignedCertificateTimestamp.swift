import CSignetOpenSSL
import Foundation

/// A version 1 signed certificate timestamp embedded in a certificate (RFC 6962 section 3.2 and
/// 3.3, extension 1.3.6.1.4.1.11129.2.4.2): a CT log's promise to include the precertificate.
public struct SignedCertificateTimestamp: Sendable, Hashable {
    /// The extension OID of an embedded SCT list.
    public static let embeddedListOID = "1.3.6.1.4.1.11129.2.4.2"

    /// The SHA-256 of the log's DER public key (RFC 6962 section 3.2, `LogID`).
    public var logID: [UInt8]
    /// Milliseconds since the epoch.
    public var timestampMilliseconds: UInt64
    /// `CtExtensions`, opaque.
    public var extensions: [UInt8]
    /// TLS HashAlgorithm (RFC 5246 section 7.4.1.4.1): 4 SHA-256, 5 SHA-384, 6 SHA-512.
    public var hashAlgorithm: UInt8
    /// TLS SignatureAlgorithm: 1 RSA, 3 ECDSA.
    public var signatureAlgorithm: UInt8
    /// The signature over the `digitally-signed` structure.
    public var signature: [UInt8]

    /// The timestamp as a date.
    public var timestamp: Date { Date(timeIntervalSince1970: TimeInterval(timestampMilliseconds) / 1000) }

    /// The well-formed SCTs in `certificate`'s embedded SCT list; empty when it has none. A
    /// malformed SCT is left out (``embeddedReadingEach(in:)`` says which and why); only a
    /// malformed list throws.
    public static func embedded(in certificate: Certificate) throws(CertificateError) -> [SignedCertificateTimestamp] {
        try embeddedReadingEach(in: certificate).timestamps
    }

    /// The SCTs of `certificate`'s embedded SCT list, each read on its own: an SCT that is not a
    /// well-formed v1 `SignedCertificateTimestamp` (RFC 6962 section 3.2) is reported in
    /// `malformed` (its position and why) rather than failing the others, as sigstore-go skips an
    /// SCT it cannot verify. Throws only when the list itself is malformed.
    public static func embeddedReadingEach(in certificate: Certificate) throws(CertificateError)
        -> (timestamps: [SignedCertificateTimestamp], malformed: [String])
    {
        guard let value = certificate.extensionValue(oid: embeddedListOID) else { return ([], []) }
        // The extension value is an OCTET STRING holding the TLS-encoded SignedCertificateTimestampList.
        guard let octets = DER.element(value), octets.tag == 0x04 else { throw CertificateError(.invalidExtension("SCT list")) }
        var reader = TLSReader(octets.content)
        guard let list = reader.vector(lengthBytes: 2), reader.isAtEnd else { throw CertificateError(.invalidExtension("SCT list")) }
        var listReader = TLSReader(list)
        var result: [SignedCertificateTimestamp] = []
        var malformed: [String] = []
        var position = 0
        while !listReader.isAtEnd {
            guard let serialized = listReader.vector(lengthBytes: 2) else { throw CertificateError(.invalidExtension("SCT list")) }
            defer { position += 1 }
            var sct = TLSReader(serialized)
            guard let version = sct.integer(bytes: 1) else {
                malformed.append("SCT \(position) is empty")
                continue
            }
            guard version == 0 else {
                malformed.append("SCT \(position) has version \(version), not v1")
                continue
            }
            guard let logID = sct.bytes(32),
                  let timestamp = sct.integer(bytes: 8),
                  let extensions = sct.vector(lengthBytes: 2),
                  let hash = sct.integer(bytes: 1),
                  let algorithm = sct.integer(bytes: 1),
                  let signature = sct.vector(lengthBytes: 2), sct.isAtEnd else {
                malformed.append("SCT \(position) is truncated or has trailing bytes")
                continue
            }
            result.append(SignedCertificateTimestamp(
                logID: Array(logID), timestampMilliseconds: timestamp, extensions: Array(extensions),
                hashAlgorithm: UInt8(hash), signatureAlgorithm: UInt8(algorithm), signature: Array(signature)))
        }
        return (result, malformed)
    }

    /// Whether the SCT is a valid signature by `logKey` over `certificate` as a precertificate
    /// entry issued by `issuer` (RFC 6962 section 3.2, `digitally-signed` struct with
    /// `entry_type = precert_entry`).
    public func verify(certificate: Certificate, issuer: Certificate, logKey: PublicKey) -> Bool {
        var tbsPointer: UnsafeMutablePointer<UInt8>?
        let tbsLength = signet_X509_precertificate_tbs(certificate.handle, &tbsPointer)
        ERR_clear_error()
        guard tbsLength > 0, let tbsPointer else { return false }
        let tbs = Array(UnsafeBufferPointer(start: tbsPointer, count: Int(tbsLength)))
        signet_OPENSSL_free(tbsPointer)
        let hash: DigestAlgorithm
        switch hashAlgorithm {
        case 4: hash = .sha256
        case 5: hash = .sha384
        case 6: hash = .sha512
        default: return false
        }
        var signed: [UInt8] = [0, 0] // sct_version v1, signature_type certificate_timestamp
        signed += Self.bigEndian(timestampMilliseconds, bytes: 8)
        signed += [0, 1] // entry_type precert_entry
        signed += DigestAlgorithm.sha256.hash(issuer.subjectPublicKeyInfo)
        signed += Self.bigEndian(UInt64(tbs.count), bytes: 3) + tbs
        signed += Self.bigEndian(UInt64(extensions.count), bytes: 2) + extensions
        return logKey.verify(signature: signature, message: signed, scheme: SignatureScheme(hash: hash))
    }

    private static func bigEndian(_ value: UInt64, bytes: Int) -> [UInt8] {
        (0..<bytes).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }
}

/// Reads TLS presentation-language structures (RFC 5246 section 4).
struct TLSReader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { bytes.isEmpty }

    mutating func bytes(_ count: Int) -> ArraySlice<UInt8>? {
        guard bytes.count >= count else { return nil }
        defer { bytes = bytes.dropFirst(count) }
        return bytes.prefix(count)
    }

    mutating func integer(bytes count: Int) -> UInt64? {
        guard let raw = bytes(count) else { return nil }
        return raw.reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func vector(lengthBytes: Int) -> ArraySlice<UInt8>? {
        guard let length = integer(bytes: lengthBytes) else { return nil }
        return bytes(Int(length))
    }
}
