/// A minimal reader for ASN.1 DER (ITU-T X.690 section 10): definite-length TLVs, object
/// identifiers and strings. Enough to read certificate extensions that OpenSSL hands over as raw
/// bytes (subject alternative names, extended key usage, Fulcio's extensions).
public enum DER {
    /// One tag-length-value element.
    public struct Element: Sendable, Hashable {
        /// The identifier octet (class, constructed bit and tag number below 31).
        public var tag: UInt8
        /// The content octets.
        public var content: ArraySlice<UInt8>

        /// The tag number without class and constructed bits.
        public var tagNumber: UInt8 { tag & 0x1f }
        /// Whether the element is context-specific (`[n]`).
        public var isContextSpecific: Bool { tag & 0xc0 == 0x80 }

        /// The children of a constructed element; nil when the content is not a run of TLVs.
        public var children: [Element]? { DER.elements(content) }

        /// The content as a string when the tag is UTF8String, IA5String, PrintableString or
        /// VisibleString (X.680 section 41), or an implicit context tag.
        public var string: String? {
            switch tag {
            case 0x0c, 0x16, 0x13, 0x1a: String(validating: content, as: UTF8.self)
            default: isContextSpecific && tag & 0x20 == 0 ? String(validating: content, as: UTF8.self) : nil
            }
        }

        /// The dotted form of an OBJECT IDENTIFIER (X.690 section 8.19); nil for another tag.
        public var objectIdentifier: String? {
            guard tag == 0x06 else { return nil }
            return DER.objectIdentifier(content)
        }
    }

    /// Reads consecutive TLVs that exactly fill `bytes`; nil when they do not.
    public static func elements(_ bytes: ArraySlice<UInt8>) -> [Element]? {
        var result: [Element] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            guard let (element, next) = element(in: bytes, at: index) else { return nil }
            result.append(element)
            index = next
        }
        return result
    }

    /// Reads exactly one TLV that fills `bytes`.
    public static func element(_ bytes: some Collection<UInt8>) -> Element? {
        let slice = ArraySlice(bytes)
        guard let elements = elements(slice), elements.count == 1 else { return nil }
        return elements[0]
    }

    private static func element(in bytes: ArraySlice<UInt8>, at start: Int) -> (Element, Int)? {
        var index = start
        guard index < bytes.endIndex else { return nil }
        let tag = bytes[index]
        // High tag numbers (0x1f) do not occur in the structures read here.
        guard tag & 0x1f != 0x1f else { return nil }
        index += 1
        guard index < bytes.endIndex else { return nil }
        let first = bytes[index]
        index += 1
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7f)
            guard count > 0, count <= 4, index + count <= bytes.endIndex else { return nil }
            for _ in 0..<count {
                length = length << 8 | Int(bytes[index])
                index += 1
            }
        }
        guard length <= bytes.endIndex - index else { return nil }
        return (Element(tag: tag, content: bytes[index..<index + length]), index + length)
    }

    /// The dotted decimal form of OBJECT IDENTIFIER content octets.
    public static func objectIdentifier(_ content: ArraySlice<UInt8>) -> String? {
        guard !content.isEmpty else { return nil }
        var arcs: [UInt64] = []
        var value: UInt64 = 0
        for byte in content {
            guard value < (1 << 56) else { return nil }
            value = value << 7 | UInt64(byte & 0x7f)
            if byte & 0x80 == 0 {
                if arcs.isEmpty {
                    let first: UInt64 = value < 40 ? 0 : (value < 80 ? 1 : 2)
                    arcs.append(first)
                    arcs.append(value - first * 40)
                } else {
                    arcs.append(value)
                }
                value = 0
            }
        }
        guard content.last! & 0x80 == 0 else { return nil }
        return arcs.map(String.init).joined(separator: ".")
    }
}
