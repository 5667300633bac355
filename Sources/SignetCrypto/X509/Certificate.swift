import CSignetOpenSSL
import Foundation

/// An X.509 v3 certificate (RFC 5280 section 4.1), owning an OpenSSL `X509`.
///
/// Read from DER or PEM (RFC 7468 section 5, `-----BEGIN CERTIFICATE-----`). An unverified
/// certificate says nothing about trust: ``CertificateChainVerifier`` turns one into a
/// ``VerifiedCertificateChain`` at a chosen time.
///
/// `@unchecked Sendable`: the `X509` is never mutated after `init`; OpenSSL 3 allows concurrent
/// reads of a certificate (its cached extension data is filled under a lock).
public final class Certificate: @unchecked Sendable, Hashable, CustomStringConvertible {
    let handle: OpaquePointer
    /// The DER encoding.
    public let derEncoded: [UInt8]

    /// Reads a DER certificate; trailing bytes are refused.
    public init(derEncoded: [UInt8]) throws(CertificateError) {
        var parsed: OpaquePointer?
        derEncoded.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            parsed = d2i_X509(nil, &cursor, buffer.count)
            if let certificate = parsed, let cursor, cursor != buffer.baseAddress! + buffer.count {
                X509_free(certificate)
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

    /// Takes ownership of one reference to `handle`.
    init(taking handle: OpaquePointer) {
        self.handle = handle
        var pointer: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(handle, &pointer)
        if length > 0, let pointer {
            derEncoded = Array(UnsafeBufferPointer(start: pointer, count: Int(length)))
            signet_OPENSSL_free(pointer)
        } else {
            derEncoded = []
        }
    }

    /// Reads the first PEM `CERTIFICATE` block in `pemEncoded`.
    public convenience init(pemEncoded: String) throws(CertificateError) {
        guard let first = try PEMBlocks.firstDER("CERTIFICATE", in: pemEncoded) else { throw CertificateError(.notPEM) }
        try self.init(derEncoded: first)
    }

    /// Reads every PEM `CERTIFICATE` block in `pemEncoded`, in order.
    public static func certificates(pemEncoded: String) throws(CertificateError) -> [Certificate] {
        var result: [Certificate] = []
        for der in try PEMBlocks.der("CERTIFICATE", in: pemEncoded) {
            result.append(try Certificate(derEncoded: der))
        }
        return result
    }

    deinit {
        X509_free(handle)
    }

    public static func == (lhs: Certificate, rhs: Certificate) -> Bool {
        lhs.derEncoded == rhs.derEncoded
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(derEncoded)
    }

    /// The PEM form (RFC 7468 section 5).
    public var pemEncoded: String {
        let body = Data(derEncoded).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN CERTIFICATE-----\n\(body)\n-----END CERTIFICATE-----\n"
    }

    /// `subject <RFC 2253 name> serial <hex>`, or the SHA-256 of the DER when the subject is empty.
    public var description: String {
        let subject = self.subject
        return subject.isEmpty ? "certificate sha256:\(DigestAlgorithm.sha256.hexHash(derEncoded).prefix(12))" : subject
    }

    /// The subject's commonName entries (RFC 5280 section 4.1.2.6, X.520 `CN`), as UTF-8, in
    /// the order the name holds them; one holding a newline or NUL is left out.
    public var commonNames: [String] {
        var buffer = [CChar](repeating: 0, count: 256)
        var length = buffer.withUnsafeMutableBufferPointer { signet_X509_common_names(handle, $0.baseAddress, $0.count) }
        if length > buffer.count {
            buffer = [CChar](repeating: 0, count: length)
            length = buffer.withUnsafeMutableBufferPointer { signet_X509_common_names(handle, $0.baseAddress, $0.count) }
        }
        let bytes = buffer.prefix(length).map { UInt8(bitPattern: $0) }
        return bytes.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The subject name in RFC 2253 form, for people to read. Matching a name against an
    /// identity reads ``subjectAttributes`` instead: printed text read back can be split in
    /// places the name never was.
    public var subject: String { Self.name(X509_get_subject_name(handle)) }

    /// One attribute of a distinguished name (RFC 5280 section 4.1.2.4, X.501 AttributeTypeAndValue).
    public struct NameAttribute: Sendable, Hashable {
        /// The type's short name as RFC 2253 output names it (`CN`, `OU`, `O`, `L`, `ST`, `C`,
        /// `emailAddress`, ...), or its OID in dotted form when it has none.
        public var type: String
        /// The value as UTF-8 (converted from whichever string type the certificate holds it in).
        public var value: String
    }

    /// The subject's attributes in the order the name holds them (each of a multi-valued RDN
    /// on its own), read from the name itself, never from its printed form; nil when a value is
    /// not a string (it could not be compared as one, so nothing may match it).
    public var subjectAttributes: [NameAttribute]? {
        guard let name = X509_get_subject_name(handle) else { return [] }
        var attributes: [NameAttribute] = []
        for index in 0..<max(0, X509_NAME_entry_count(name)) {
            guard let entry = X509_NAME_get_entry(name, index), let object = X509_NAME_ENTRY_get_object(entry),
                  let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
            let type: String
            let nid = OBJ_obj2nid(object)
            if nid != NID_undef, let shortName = OBJ_nid2sn(nid) {
                type = String(cString: shortName)
            } else {
                var buffer = [CChar](repeating: 0, count: 128)
                let length = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
                guard length > 0, Int(length) < buffer.count else { return nil }
                type = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            var utf8: UnsafeMutablePointer<UInt8>?
            let length = ASN1_STRING_to_UTF8(&utf8, data)
            guard length >= 0, let utf8 else {
                ERR_clear_error()
                return nil
            }
            let bytes = UnsafeBufferPointer(start: utf8, count: Int(length))
            // Text, or nothing: bytes that are not UTF-8 are not silently repaired into a match.
            let value = String(validating: bytes, as: UTF8.self)
            CRYPTO_free(utf8, #fileID, #line)
            guard let value else { return nil }
            attributes.append(NameAttribute(type: type, value: value))
        }
        return attributes
    }
    /// The issuer name in RFC 2253 form.
    public var issuer: String { Self.name(X509_get_issuer_name(handle)) }

    /// The whole name, however long: a name cut short could match an identity that is only its
    /// beginning (a subject ending `O=acme-evil` cut after `O=acme`).
    private static func name(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        var capacity = 1024
        while true {
            var buffer = [CChar](repeating: 0, count: capacity)
            let length = signet_X509_NAME_to_rfc2253(name, &buffer, buffer.count)
            if length < capacity { return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
            // The shim reports the whole length: one more call with room for it.
            capacity = length + 1
        }
    }

    /// The start of the validity period (RFC 5280 section 4.1.2.5).
    public var notValidBefore: Date { Self.date(X509_get0_notBefore(handle)) }
    /// The end of the validity period, inclusive (RFC 5280 section 4.1.2.5).
    public var notValidAfter: Date { Self.date(X509_get0_notAfter(handle)) }

    /// Whether `time` lies within the validity period, both ends inclusive.
    public func isValid(at time: Date) -> Bool {
        notValidBefore <= time && time <= notValidAfter
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return .distantPast }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    /// The DER SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7).
    public var subjectPublicKeyInfo: [UInt8] {
        guard let key = X509_get0_pubkey(handle) else { return [] }
        var pointer: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(key, &pointer)
        guard length > 0, let pointer else { return [] }
        defer { signet_OPENSSL_free(pointer) }
        return Array(UnsafeBufferPointer(start: pointer, count: Int(length)))
    }

    /// The subject's public key.
    public func publicKey() throws(PublicKeyError) -> PublicKey {
        try PublicKey(der: subjectPublicKeyInfo)
    }

    /// The extnValue of the extension `oid` (dotted form): the DER inside the OCTET STRING
    /// (RFC 5280 section 4.1). Nil when absent.
    public func extensionValue(oid: String) -> [UInt8]? {
        guard let object = OBJ_txt2obj(oid, 1) else { return nil }
        defer { ASN1_OBJECT_free(object) }
        let index = X509_get_ext_by_OBJ(handle, object, -1)
        guard index >= 0, let ext = X509_get_ext(handle, index), let data = X509_EXTENSION_get_data(ext) else {
            return nil
        }
        let length = Int(ASN1_STRING_length(data))
        guard length > 0, let bytes = ASN1_STRING_get0_data(data) else { return [] }
        return Array(UnsafeBufferPointer(start: bytes, count: length))
    }

    /// The hash the issuer's signature over this certificate uses (RFC 5280 section 4.1.1.2),
    /// as OpenSSL names it (`SHA1`, `SHA256`, `MD5`; for RSASSA-PSS the hash of its
    /// parameters); nil when OpenSSL cannot tell (an algorithm without a separate hash, such
    /// as Ed25519, or one it does not know).
    public var signatureHashName: String? {
        var hash: Int32 = 0
        var key: Int32 = 0
        var bits: Int32 = 0
        var flags: UInt32 = 0
        defer { ERR_clear_error() }
        guard X509_get_signature_info(handle, &hash, &key, &bits, &flags) == 1, hash != NID_undef,
              let name = OBJ_nid2sn(hash) else { return nil }
        return String(cString: name)
    }

    /// Where the certificate says its revocation status is published (RFC 5280 sections
    /// 4.2.1.13 and 4.2.2.1): the URIs of its CRL distribution points, and of the OCSP
    /// responders its authority information access names. A distribution point named otherwise
    /// (a directory name) or that cannot be read still counts, with a placeholder, so a
    /// certificate that carries such information is never taken for one that carries none.
    public var revocationSources: (crlDistributionPoints: [String], ocspResponders: [String]) {
        var crls: [String] = []
        if let value = extensionValue(oid: "2.5.29.31") {
            let points = DER.element(value).flatMap { $0.tag == 0x30 ? $0.children : nil }
            for point in points ?? [] {
                let uris = Self.uniformResourceIdentifiers(in: point, depth: 4)
                crls += uris.isEmpty ? ["(a distribution point without a URI)"] : uris
            }
            if points?.isEmpty != false { crls.append("(a CRL distribution points extension that cannot be read)") }
        }
        var ocsp: [String] = []
        if let value = extensionValue(oid: "1.3.6.1.5.5.7.1.1") {
            let descriptions = DER.element(value).flatMap { $0.tag == 0x30 ? $0.children : nil }
            for description in descriptions ?? [] {
                guard let parts = description.children, parts.count == 2, parts[0].objectIdentifier == "1.3.6.1.5.5.7.48.1" else { continue }
                ocsp.append(parts[1].tag == 0x86 ? String(decoding: parts[1].content, as: UTF8.self) : "(an OCSP responder without a URI)")
            }
            if descriptions == nil { ocsp.append("(an authority information access extension that cannot be read)") }
        }
        return (crls, ocsp)
    }

    /// The `uniformResourceIdentifier` general names (`[6]`) inside `element`, at most `depth`
    /// levels down: a DistributionPoint holds them three levels down (`[0]` distributionPoint,
    /// `[0]` fullName, the name), and a certificate signet has not yet trusted may nest its
    /// extension a hundred thousand levels deep, which an unbounded walk would follow down the stack.
    package static func uniformResourceIdentifiers(in element: DER.Element, depth: Int) -> [String] {
        if element.tag == 0x86 { return [String(decoding: element.content, as: UTF8.self)] }
        guard depth > 0, element.tag & 0x20 != 0, let children = element.children else { return [] }
        return children.flatMap { uniformResourceIdentifiers(in: $0, depth: depth - 1) }
    }

    /// The object identifiers of every extension, in order.
    public var extensionIdentifiers: [String] {
        (0..<max(0, Int(X509_get_ext_count(handle)))).compactMap { index in
            guard let ext = X509_get_ext(handle, Int32(index)), let object = X509_EXTENSION_get_object(ext) else { return nil }
            var buffer = [CChar](repeating: 0, count: 128)
            let length = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
            guard length > 0 else { return nil }
            return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The subject alternative names (RFC 5280 section 4.2.1.6), in order.
    public var subjectAlternativeNames: [GeneralName] {
        guard let value = extensionValue(oid: "2.5.29.17"), let sequence = DER.element(value),
              sequence.tag == 0x30, let names = sequence.children else { return [] }
        return names.map(GeneralName.init(element:))
    }

    /// The key purposes of the extended key usage extension (RFC 5280 section 4.2.1.12), as
    /// dotted OIDs; nil when the certificate has no such extension.
    public var extendedKeyUsages: [String]? {
        guard let value = extensionValue(oid: "2.5.29.37") else { return nil }
        guard let sequence = DER.element(value), sequence.tag == 0x30, let purposes = sequence.children else { return [] }
        return purposes.compactMap(\.objectIdentifier)
    }

    /// Whether the certificate is a CA (basicConstraints cA, RFC 5280 section 4.2.1.9).
    public var isCertificateAuthority: Bool {
        X509_check_ca(handle) != 0
    }

    /// Whether the certificate is self-issued and its signature verifies with its own key.
    public var isSelfSigned: Bool {
        guard let key = X509_get0_pubkey(handle) else { return false }
        defer { ERR_clear_error() }
        return X509_NAME_cmp(X509_get_subject_name(handle), X509_get_issuer_name(handle)) == 0
            && X509_verify(handle, key) == 1
    }
}

/// A GeneralName (RFC 5280 section 4.2.1.6) from a subject alternative name extension.
public enum GeneralName: Sendable, Hashable, CustomStringConvertible {
    /// rfc822Name `[1]`.
    case email(String)
    /// dNSName `[2]`.
    case dnsName(String)
    /// uniformResourceIdentifier `[6]`.
    case uri(String)
    /// otherName `[0]`: the type OID and, when it is a string, the value.
    case otherName(typeIdentifier: String, value: String?)
    /// Any other form, by tag number.
    case other(tagNumber: UInt8)

    init(element: DER.Element) {
        guard element.isContextSpecific else {
            self = .other(tagNumber: element.tagNumber)
            return
        }
        switch element.tagNumber {
        case 1: self = element.string.map(GeneralName.email) ?? .other(tagNumber: 1)
        case 2: self = element.string.map(GeneralName.dnsName) ?? .other(tagNumber: 2)
        case 6: self = element.string.map(GeneralName.uri) ?? .other(tagNumber: 6)
        case 0:
            // OtherName ::= SEQUENCE { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY }
            let children = element.children ?? []
            let typeIdentifier = children.first?.objectIdentifier ?? ""
            let value = children.count > 1 ? children[1].children?.first?.string : nil
            self = .otherName(typeIdentifier: typeIdentifier, value: value)
        default:
            self = .other(tagNumber: element.tagNumber)
        }
    }

    /// The string value, when the name has one.
    public var stringValue: String? {
        switch self {
        case .email(let value), .dnsName(let value), .uri(let value): value
        case .otherName(_, let value): value
        case .other: nil
        }
    }

    public var description: String {
        switch self {
        case .email(let value): "email:\(value)"
        case .dnsName(let value): "dns:\(value)"
        case .uri(let value): "uri:\(value)"
        case .otherName(let type, let value): "otherName(\(type)):\(value ?? "?")"
        case .other(let tag): "generalName[\(tag)]"
        }
    }
}

/// Why a certificate could not be read. A struct over a private code so that new reasons do not
/// break callers.
public struct CertificateError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case notPEM
        case invalidEncoding
        case invalidExtension(String)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    public var description: String {
        switch code {
        case .notPEM: "not a PEM certificate (expected a -----BEGIN CERTIFICATE----- block with base64 content)"
        case .invalidEncoding: "not a valid DER X.509 certificate (RFC 5280 section 4.1)"
        case .invalidExtension(let name): "malformed \(name) extension"
        }
    }
}
