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
        wildcardMatches(bytes, name)
    }
}

/// A glob over image tags (`spec.images[].tags`, or the `:tag` part of a glob): `*` matches any
/// run of characters, `?` one character, everything else itself. A tag is `[\w][\w.-]{0,127}`
/// (distribution reference grammar), so the glob may hold only those characters, `*` and `?`.
public struct TagGlob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let bytes: [UInt8]

    /// Validates `pattern`; the error says which character is not allowed.
    public init(_ pattern: String) throws(ImageGlobError) {
        guard !pattern.isEmpty else { throw ImageGlobError(pattern: pattern, reason: "tag glob is empty") }
        guard pattern.utf8.count <= 128 else { throw ImageGlobError(pattern: pattern, reason: "tag glob is longer than 128 characters") }
        for byte in pattern.utf8 {
            let ok = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "_.-*?".utf8.contains(byte)
            guard ok else {
                throw ImageGlobError(pattern: pattern, reason: "tag glob may contain only letters, digits, '_', '.', '-', '*' and '?'")
            }
        }
        self.pattern = pattern
        self.bytes = Array(pattern.utf8)
    }

    public var description: String { pattern }

    /// Whether `tag` matches.
    public func matches(_ tag: String) -> Bool {
        wildcardMatches(bytes, tag)
    }
}

/// `*` (any run) and `?` (one character) matching of `pattern` against the whole of `name`,
/// without backtracking beyond the last `*`.
private func wildcardMatches(_ bytes: [UInt8], _ name: String) -> Bool {
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
