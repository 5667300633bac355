/// How a metadata format turns the `signed` object into the bytes its signatures cover.
///
/// TUF specification section 4.2 ("Document formats") signs the canonical JSON of `signed`;
/// Notary v1 signs Go's canonical JSON (docker/go `canonical/json`), which escapes strings
/// differently. Each is one conforming type.
public protocol CanonicalJSONEncoding: Sendable {
    /// The bytes a signature over `value` covers.
    func encode(_ value: JSONValue) throws(TUFError) -> [UInt8]
}

/// OLPC canonical JSON as TUF uses it (TUF specification section 4.2, securesystemslib
/// `encode_canonical`): no whitespace, object members sorted by the Unicode code points of
/// their names, integers only, and strings escaped only for `"` and `\` (every other character,
/// newlines in PEM keys included, is written as its UTF-8 bytes).
public struct OLPCCanonicalJSON: CanonicalJSONEncoding {
    public init() {}

    public func encode(_ value: JSONValue) throws(TUFError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(4096)
        try write(value, into: &output)
        return output
    }

    private func write(_ value: JSONValue, into output: inout [UInt8]) throws(TUFError) {
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): output.append(contentsOf: String(number).utf8)
        case .number(let text):
            throw TUFError(.malformedMetadata, "canonical JSON has no encoding for the number \(text)")
        case .string(let text): writeString(text, into: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                try write(element, into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            let names = members.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) { $0.value < $1.value } }
            for (position, name) in names.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                writeString(name, into: &output)
                output.append(UInt8(ascii: ":"))
                try write(members[name]!, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    private func writeString(_ text: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { output.append(UInt8(ascii: "\\")) }
            output.append(byte)
        }
        output.append(UInt8(ascii: "\""))
    }
}
