import CSignetOpenSSL

extension Certificate {
    /// The key usage bits (RFC 5280 section 4.2.1.3, `KeyUsage ::= BIT STRING`).
    public struct KeyUsage: OptionSet, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        public static let digitalSignature = KeyUsage(rawValue: 1 << 0)
        public static let contentCommitment = KeyUsage(rawValue: 1 << 1)
        public static let keyEncipherment = KeyUsage(rawValue: 1 << 2)
        public static let dataEncipherment = KeyUsage(rawValue: 1 << 3)
        public static let keyAgreement = KeyUsage(rawValue: 1 << 4)
        public static let keyCertSign = KeyUsage(rawValue: 1 << 5)
        public static let cRLSign = KeyUsage(rawValue: 1 << 6)
        public static let encipherOnly = KeyUsage(rawValue: 1 << 7)
        public static let decipherOnly = KeyUsage(rawValue: 1 << 8)

        /// Each bit by its RFC 5280 name, in bit order.
        public static let named: [(KeyUsage, String)] = [
            (.digitalSignature, "digitalSignature"), (.contentCommitment, "contentCommitment"), (.keyEncipherment, "keyEncipherment"),
            (.dataEncipherment, "dataEncipherment"), (.keyAgreement, "keyAgreement"), (.keyCertSign, "keyCertSign"),
            (.cRLSign, "cRLSign"), (.encipherOnly, "encipherOnly"), (.decipherOnly, "decipherOnly"),
        ]

        /// The names of the bits set, comma-separated.
        public var description: String {
            Self.named.filter { contains($0.0) }.map(\.1).joined(separator: ", ")
        }
    }

    /// The basic constraints extension (RFC 5280 section 4.2.1.9).
    public struct BasicConstraints: Sendable, Hashable {
        /// `cA` (DEFAULT FALSE).
        public var isCertificateAuthority: Bool
        /// `pathLenConstraint`, when present.
        public var pathLengthConstraint: Int?

        public init(isCertificateAuthority: Bool, pathLengthConstraint: Int? = nil) {
            self.isCertificateAuthority = isCertificateAuthority
            self.pathLengthConstraint = pathLengthConstraint
        }
    }

    /// Whether extension `oid` (dotted form) is marked critical; nil when the certificate has no
    /// such extension (RFC 5280 section 4.2).
    public func isExtensionCritical(oid: String) -> Bool? {
        guard let object = OBJ_txt2obj(oid, 1) else { return nil }
        defer { ASN1_OBJECT_free(object) }
        let index = X509_get_ext_by_OBJ(handle, object, -1)
        guard index >= 0, let ext = X509_get_ext(handle, index) else { return nil }
        return X509_EXTENSION_get_critical(ext) != 0
    }

    /// The key usage extension's bits; nil when the extension is absent. A value that is not a
    /// DER BIT STRING reads as no bits set.
    public var keyUsage: KeyUsage? {
        guard let value = extensionValue(oid: "2.5.29.15") else { return nil }
        guard let element = DER.element(value), element.tag == 0x03, let unused = element.content.first, unused < 8 else { return KeyUsage() }
        var bits: UInt16 = 0
        for (byteIndex, byte) in element.content.dropFirst().prefix(2).enumerated() {
            for bit in 0..<8 where byte & (0x80 >> UInt8(bit)) != 0 {
                bits |= 1 << UInt16(byteIndex * 8 + bit)
            }
        }
        return KeyUsage(rawValue: bits)
    }

    /// The basic constraints extension; nil when absent. A value that does not parse reads as
    /// not a CA without a path length.
    public var basicConstraints: BasicConstraints? {
        guard let value = extensionValue(oid: "2.5.29.19") else { return nil }
        var constraints = BasicConstraints(isCertificateAuthority: false, pathLengthConstraint: nil)
        guard let sequence = DER.element(value), sequence.tag == 0x30, let fields = sequence.children else { return constraints }
        for field in fields {
            switch field.tag {
            case 0x01: constraints.isCertificateAuthority = field.content.first.map { $0 != 0 } ?? false
            case 0x02 where field.content.count <= 4 && field.content.first.map({ $0 & 0x80 == 0 }) ?? false:
                constraints.pathLengthConstraint = field.content.reduce(0) { $0 << 8 | Int($1) }
            default: break
            }
        }
        return constraints
    }
}
