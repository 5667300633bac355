import Foundation

/// Base64url without padding (RFC 4648 section 5, as RFC 7515 section 2 uses it for JWS and JWT).
public enum Base64URL {
    /// The bytes `text` encodes; nil for padding, the standard alphabet's `+` and `/`, or anything
    /// else that is not base64url.
    public static func decode(_ text: String) -> [UInt8]? {
        guard !text.contains("="), !text.contains("+"), !text.contains("/") else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: standard).map { [UInt8]($0) }
    }
}
