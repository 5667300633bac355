import Foundation

/// Base64 (RFC 4648 section 4) as protobuf JSON writes `bytes` fields, with the URL-safe alphabet
/// (section 5) also accepted, as the protobuf JSON mapping requires of parsers.
enum Base64 {
    /// Decodes standard or URL-safe base64, padded or not, ignoring line breaks (as Go's
    /// `encoding/base64` and MIME-wrapped encoders do); nil on any other character.
    static func decode(_ text: String) -> [UInt8]? {
        // Byte by byte into one buffer (a string of Characters took 16 bytes per byte of a
        // payload that may be megabytes).
        var normalized = Data()
        normalized.reserveCapacity(text.utf8.count + 3)
        for byte in text.utf8 where byte != UInt8(ascii: "\n") && byte != UInt8(ascii: "\r") {
            switch byte {
            case UInt8(ascii: "-"): normalized.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): normalized.append(UInt8(ascii: "/"))
            default: normalized.append(byte)
            }
        }
        let remainder = normalized.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { normalized.append(contentsOf: [UInt8](repeating: UInt8(ascii: "="), count: 4 - remainder)) }
        return Data(base64Encoded: normalized).map { [UInt8]($0) }
    }

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
    }
}

/// Reads RFC 3339 timestamps as protobuf JSON writes `google.protobuf.Timestamp`.
enum RFC3339 {
    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

/// A protobuf JSON `int64`: a string of decimal digits, or a JSON number.
struct JSONInt64: Decodable, Sendable, Hashable {
    var value: Int64

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            value = number
        } else {
            let text = try container.decode(String.self)
            guard let number = Int64(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an int64: \(text)")
            }
            value = number
        }
    }
}
