import Foundation
import SignetCrypto

/// An X.509 distinguished name as a list of attribute type and value pairs, read from the
/// string form (RFC 4514, as `trustedIdentities` write it: `C=US, ST=WA, O=wabbit-networks.io`,
/// with `\` escapes). `S` is read as `ST`, as Notation does.
public struct DistinguishedName: Sendable, Hashable, CustomStringConvertible {
    /// Attribute types upper-cased, values as written (escapes removed).
    public let attributes: [(type: String, value: String)]

    /// Reads the string form, one Unicode scalar at a time: a backslash escapes the scalar
    /// after it whatever that scalar is, and `,` `+` `;` separate attributes. (Characters, that
    /// is grapheme clusters, would join a backslash to a "Prepend" scalar before it, such as
    /// U+0600, and lose the escape.)
    public init(parsing text: String) throws(NotationTrustPolicyError) {
        var parts: [String.UnicodeScalarView] = []
        var current = String.UnicodeScalarView()
        var escaped = false
        for scalar in text.unicodeScalars {
            if escaped {
                current.append(scalar)
                escaped = false
            } else if scalar == "\\" {
                current.append(scalar)
                escaped = true
            } else if scalar == "," || scalar == "+" || scalar == ";" {
                parts.append(current)
                current = String.UnicodeScalarView()
            } else {
                current.append(scalar)
            }
        }
        guard !escaped else { throw NotationTrustPolicyError("ends with a lone backslash") }
        parts.append(current)
        var attributes: [(String, String)] = []
        for part in parts {
            guard let equals = Self.unescapedEquals(in: part) else { throw NotationTrustPolicyError("\"\(String(part))\" is not TYPE=value") }
            let type = String(part[..<equals]).trimmingCharacters(in: .whitespaces)
            try Self.append(type: type, value: Self.unescape(part[part.index(after: equals)...]), to: &attributes, part: String(part))
        }
        self.attributes = attributes
    }

    /// The subject of `certificate`, read from its attributes (``Certificate/subjectAttributes``),
    /// not from its printed form read back: a value can hold any text, and only the name itself
    /// says where one attribute ends.
    public init(subjectOf certificate: Certificate) throws(NotationTrustPolicyError) {
        guard let read = certificate.subjectAttributes else {
            throw NotationTrustPolicyError("the subject of \"\(certificate.subject)\" holds a value that is not text")
        }
        var attributes: [(String, String)] = []
        for attribute in read {
            try Self.append(type: attribute.type, value: attribute.value, to: &attributes, part: "\(attribute.type)=\(attribute.value)")
        }
        self.attributes = attributes
    }

    /// Adds one attribute, its type upper-cased (`S` read as `ST`); a type that is not letters,
    /// digits and dots, or one already present, is refused.
    private static func append(
        type: String, value: String, to attributes: inout [(String, String)], part: String
    ) throws(NotationTrustPolicyError) {
        var type = type.uppercased()
        if type == "S" { type = "ST" }
        guard !type.isEmpty, type.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == ".") }) else {
            throw NotationTrustPolicyError("\"\(part)\" has no valid attribute type")
        }
        guard !attributes.contains(where: { $0.0 == type }) else { throw NotationTrustPolicyError("attribute \(type) appears twice") }
        attributes.append((type, value))
    }

    public func has(_ type: String) -> Bool { attributes.contains { $0.type == type } }

    /// Whether every attribute of this name is in `other` with the same value, compared on the
    /// bytes as notation-go compares them (Swift's `==` takes canonically equivalent characters,
    /// such as a Kelvin sign and `K`, for equal).
    public func isSubset(of other: DistinguishedName) -> Bool {
        attributes.allSatisfy { attribute in
            other.attributes.contains { $0.type.utf8.elementsEqual(attribute.type.utf8) && $0.value.utf8.elementsEqual(attribute.value.utf8) }
        }
    }

    public var description: String { attributes.map { "\($0.type)=\($0.value)" }.joined(separator: ", ") }

    public static func == (lhs: DistinguishedName, rhs: DistinguishedName) -> Bool {
        lhs.isSubset(of: rhs) && rhs.isSubset(of: lhs)
    }

    public func hash(into hasher: inout Hasher) {
        for attribute in attributes.sorted(by: { $0.type < $1.type }) {
            hasher.combine(attribute.type)
            hasher.combine(attribute.value)
        }
    }

    private static func unescapedEquals(in text: String.UnicodeScalarView) -> String.UnicodeScalarView.Index? {
        var escaped = false
        var index = text.startIndex
        while index < text.endIndex {
            let scalar = text[index]
            if escaped { escaped = false } else if scalar == "\\" { escaped = true } else if scalar == "=" { return index }
            index = text.index(after: index)
        }
        return nil
    }

    /// Removes escapes and the spaces around a value that are not escaped, scalar by scalar.
    private static func unescape(_ text: Substring.UnicodeScalarView) -> String {
        var value = String.UnicodeScalarView()
        var escaped = false
        var trailingUnescapedSpaces = 0
        for scalar in text.drop(while: { $0 == " " }) {
            if escaped {
                value.append(scalar)
                escaped = false
                trailingUnescapedSpaces = 0
            } else if scalar == "\\" {
                escaped = true
            } else {
                value.append(scalar)
                trailingUnescapedSpaces = scalar == " " ? trailingUnescapedSpaces + 1 : 0
            }
        }
        value.removeLast(trailingUnescapedSpaces)
        return String(value)
    }
}

/// Named trust stores (Notary Project trust store specification, "Trust Store"): certificates
/// under `{type}:{name}`, where type is `ca`, `signingAuthority` or `tsa`.
public struct NotationTrustStores: Sendable, Hashable {
    public private(set) var stores: [NotationTrustPolicy.TrustStoreName: [Certificate]]

    public init(_ stores: [NotationTrustPolicy.TrustStoreName: [Certificate]] = [:]) {
        self.stores = stores
    }

    /// Adds certificates to the named store.
    public mutating func add(_ certificates: [Certificate], to store: NotationTrustPolicy.TrustStoreName) {
        stores[store, default: []] += certificates.filter { !(stores[store] ?? []).contains($0) }
    }

    /// Reads a Notation trust store directory: `x509/{type}/{name}/*.{pem,crt,cer}` under
    /// `directory` (the layout `notation cert add` writes), PEM or DER.
    public static func directory(_ directory: String) throws(NotationTrustPolicyError) -> NotationTrustStores {
        var result = NotationTrustStores()
        let manager = FileManager.default
        let base = URL(fileURLWithPath: directory).appendingPathComponent("x509")
        for type in NotationTrustPolicy.TrustStoreName.StoreType.allCases {
            let typeURL = base.appendingPathComponent(type.rawValue)
            guard let names = try? manager.contentsOfDirectory(atPath: typeURL.path) else { continue }
            for name in names.sorted() {
                let storeURL = typeURL.appendingPathComponent(name)
                guard let files = try? manager.contentsOfDirectory(atPath: storeURL.path) else { continue }
                for file in files.sorted() where [".pem", ".crt", ".cer"].contains(where: { file.hasSuffix($0) }) {
                    let path = storeURL.appendingPathComponent(file).path
                    guard let data = manager.contents(atPath: path) else { throw NotationTrustPolicyError("cannot read trust store file \(path)") }
                    result.add(try certificates(in: [UInt8](data), origin: path), to: .init(type: type, name: name))
                }
            }
        }
        return result
    }

    /// Certificates from PEM (one or more blocks) or DER (one certificate, or several one after
    /// another, as notation-core-go reads trust store files).
    public static func certificates(in bytes: [UInt8], origin: String) throws(NotationTrustPolicyError) -> [Certificate] {
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains("-----BEGIN CERTIFICATE-----") {
            guard let parsed = try? Certificate.certificates(pemEncoded: text), !parsed.isEmpty else {
                throw NotationTrustPolicyError("\(origin) holds no readable PEM certificate")
            }
            return parsed
        }
        guard let elements = DER.elements(bytes[...]), !elements.isEmpty else {
            throw NotationTrustPolicyError("\(origin) is neither PEM certificates nor DER certificates")
        }
        var certificates: [Certificate] = []
        for element in elements {
            // The element's own bytes: its header ends where its content starts.
            let start = element.content.startIndex - Self.headerLength(contentLength: element.content.count)
            guard start >= bytes.startIndex, let certificate = try? Certificate(derEncoded: Array(bytes[start..<element.content.endIndex])) else {
                throw NotationTrustPolicyError("\(origin) is neither PEM certificates nor DER certificates")
            }
            certificates.append(certificate)
        }
        return certificates
    }

    /// The length of a DER tag (one byte) and definite length (X.690 section 8.1.3) for `contentLength`.
    static func headerLength(contentLength: Int) -> Int {
        guard contentLength >= 0x80 else { return 2 }
        var octets = 0
        var value = contentLength
        while value > 0 {
            octets += 1
            value >>= 8
        }
        return 2 + octets
    }

    public subscript(name: NotationTrustPolicy.TrustStoreName) -> [Certificate]? { stores[name] }

    public static func == (lhs: NotationTrustStores, rhs: NotationTrustStores) -> Bool { lhs.stores == rhs.stores }
    public func hash(into hasher: inout Hasher) { hasher.combine(stores) }
}
