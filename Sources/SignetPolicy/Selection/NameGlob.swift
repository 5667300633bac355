/// A glob over Kubernetes object names (`spec.names` of a `PolicyException`): `*` matches any
/// run of characters, `?` one character, everything else itself. Names are DNS subdomains or
/// labels (RFC 1123), so the glob may hold only lowercase letters, digits, `-`, `.`, `*` and `?`.
public struct NameGlob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let bytes: [UInt8]

    /// Validates `pattern`; the error says which character is not allowed.
    public init(_ pattern: String) throws(ImageGlobError) {
        guard !pattern.isEmpty else { throw ImageGlobError(pattern: pattern, reason: "name glob is empty") }
        for scalar in pattern.unicodeScalars {
            let ok = ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || "-.*?".unicodeScalars.contains(scalar)
            guard ok else {
                throw ImageGlobError(pattern: pattern, reason: "name glob may contain only lowercase letters, digits, '-', '.', '*' and '?', found \"\(scalar)\"")
            }
        }
        self.pattern = pattern
        self.bytes = Array(pattern.utf8)
    }

    public var description: String { pattern }

    /// Whether `name` matches.
    public func matches(_ name: String) -> Bool {
        let text = Array(name.utf8)
        var p = 0, t = 0
        var star = -1, mark = 0
        while t < text.count {
            if p < bytes.count, bytes[p] == UInt8(ascii: "?") || bytes[p] == text[t] && bytes[p] != UInt8(ascii: "*") {
                p += 1; t += 1
            } else if p < bytes.count, bytes[p] == UInt8(ascii: "*") {
                star = p; mark = t; p += 1
            } else if star >= 0 {
                p = star + 1; mark += 1; t = mark
            } else {
                return false
            }
        }
        while p < bytes.count, bytes[p] == UInt8(ascii: "*") { p += 1 }
        return p == bytes.count
    }
}
