import Foundation

/// Reads the JSON a Notary Project signature carries (the JWS envelope, its protected header,
/// the signed payload) with Foundation's `JSONSerialization`, after a scan that refuses a
/// document of more than ``maximumContainers`` objects and arrays or ``maximumValues`` values,
/// or one not in UTF-8.
///
/// These documents come from a registry and are read before the signature is verified.
/// `JSONSerialization` builds every object and array, reserving room in each: an envelope of
/// 1 MiB made of tiny objects grew to half a gigabyte. Signatures hold a few dozen at most.
/// RFC 8259 section 8.1 requires UTF-8; `JSONSerialization` also reads UTF-16 and UTF-32, in
/// which a quote byte can hide inside another character and blind a byte scan, so a NUL byte
/// (every UTF-16 or UTF-32 text of JSON has some; UTF-8 JSON has none) refuses the document.
enum NotationJSON {
    static let maximumContainers = 1_000
    static let maximumValues = 10_000

    /// What a document must be, for messages.
    static let expected = "a JSON object in UTF-8 of at most \(maximumContainers) objects and arrays and \(maximumValues) values"

    /// The JSON object `bytes` hold, or nil when they hold something else, are not JSON in
    /// UTF-8, or exceed the bounds.
    static func object(_ bytes: [UInt8]) -> [String: Any]? {
        guard let shape = shape(bytes), shape.containers <= maximumContainers, shape.values <= maximumValues else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
    }

    /// The `{` and `[` outside strings, and the values (containers and the commas between
    /// members or elements, plus one); nil when a NUL byte shows the text is not UTF-8.
    static func shape(_ bytes: [UInt8]) -> (containers: Int, values: Int)? {
        var containers = 0
        var commas = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if byte == 0 { return nil }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                containers += 1
            } else if byte == UInt8(ascii: ",") {
                commas += 1
            }
        }
        return (containers, containers + commas + 1)
    }
}
