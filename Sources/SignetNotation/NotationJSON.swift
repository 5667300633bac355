import Foundation

/// Reads the JSON a Notary Project signature carries (the JWS envelope, its protected header,
/// the signed payload) with Foundation's `JSONSerialization`, after a scan that refuses a
/// document of more than ``maximumContainers`` objects and arrays.
///
/// These documents come from a registry and are read before the signature is verified.
/// `JSONSerialization` builds every object and array, reserving room in each: an envelope of
/// 1 MiB made of tiny objects grew to half a gigabyte. Signatures hold a few dozen at most.
enum NotationJSON {
    static let maximumContainers = 1_000

    /// The JSON object `bytes` hold, or nil when they hold something else, are not JSON, or
    /// hold more than ``maximumContainers`` objects and arrays.
    static func object(_ bytes: [UInt8]) -> [String: Any]? {
        guard containerCount(bytes, stoppingAfter: maximumContainers) <= maximumContainers else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
    }

    /// The `{` and `[` outside strings, counted up to one past `limit`.
    static func containerCount(_ bytes: [UInt8], stoppingAfter limit: Int) -> Int {
        var count = 0
        var inString = false
        var escaped = false
        for byte in bytes {
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
                count += 1
                if count > limit { return count }
            }
        }
        return count
    }
}
