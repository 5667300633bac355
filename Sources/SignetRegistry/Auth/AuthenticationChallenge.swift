/// One challenge of a `WWW-Authenticate` response field (RFC 9110 section 11.6.1): a scheme and
/// its parameters, as a registry sends it with a 401.
///
/// The grammar (RFC 9110 section 11.3): `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`,
/// `auth-param = token BWS "=" BWS ( token / quoted-string )`. Registries send `Basic realm="..."`
/// (RFC 7617) or `Bearer realm="...",service="...",scope="..."` (RFC 6750 section 3 and the
/// Docker registry token authentication specification). Parameter names are case-insensitive;
/// quoted strings may hold commas and backslash escapes.
struct AuthenticationChallenge: Sendable, Hashable {
    /// The scheme, lowercased: `basic`, `bearer`.
    var scheme: String
    /// Parameters by lowercased name.
    var parameters: [String: String]

    var realm: String? { parameters["realm"] }
    var service: String? { parameters["service"] }
    var scope: String? { parameters["scope"] }

    /// Every challenge in the field values (a field may hold several, separated by commas).
    static func parse(_ values: [String]) -> [AuthenticationChallenge] {
        values.flatMap { parse(field: $0) }
    }

    static func parse(field: String) -> [AuthenticationChallenge] {
        var scanner = Scanner(Array(field.utf8))
        var result: [AuthenticationChallenge] = []
        // Each turn consumes at least one byte, so the loop ends.
        while true {
            scanner.skipSeparators()
            guard let scheme = scanner.token() else {
                // Skip a byte that cannot start a scheme; stop at the end.
                guard scanner.peek != nil else { break }
                scanner.position += 1
                continue
            }
            var challenge = AuthenticationChallenge(scheme: scheme.lowercased(), parameters: [:])
            while true {
                let mark = scanner.position
                scanner.skipSeparators()
                guard let name = scanner.token() else {
                    scanner.position = mark
                    break
                }
                scanner.skipWhitespace()
                guard scanner.consume(UInt8(ascii: "=")) else {
                    // A token not followed by "=" starts the next challenge.
                    scanner.position = mark
                    break
                }
                scanner.skipWhitespace()
                if scanner.atSeparatorOrEnd || scanner.peek == UInt8(ascii: "=") {
                    // token68 with "=" padding (`Basic dXNlcg==`): not a parameter.
                    scanner.skip { $0 == UInt8(ascii: "=") }
                    continue
                }
                // Unquoted values should be tokens; accept anything up to a comma or space, as
                // registries send unquoted URLs.
                let value = scanner.peek == UInt8(ascii: "\"") ? scanner.quotedString() : scanner.bareValue()
                challenge.parameters[name.lowercased()] = value
            }
            result.append(challenge)
        }
        return result
    }

    /// A byte cursor over one field value.
    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }
        var atSeparatorOrEnd: Bool { peek == nil || peek == UInt8(ascii: ",") }

        mutating func skip(while predicate: (UInt8) -> Bool) {
            while position < bytes.count, predicate(bytes[position]) { position += 1 }
        }

        mutating func skipSeparators() {
            skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: ",") }
        }

        mutating func skipWhitespace() {
            skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            position += 1
            return true
        }

        /// `token = 1*tchar` (RFC 9110 section 5.6.2).
        mutating func token() -> String? {
            let start = position
            skip(while: Self.isTokenCharacter)
            return position > start ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
        }

        mutating func bareValue() -> String {
            let start = position
            skip { $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        /// `quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE` (RFC 9110 section 5.6.4).
        mutating func quotedString() -> String {
            position += 1
            var value: [UInt8] = []
            while let byte = peek {
                position += 1
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\"), let escaped = peek {
                    value.append(escaped)
                    position += 1
                } else {
                    value.append(byte)
                }
            }
            return String(decoding: value, as: UTF8.self)
        }

        static func isTokenCharacter(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
            }
        }
    }
}
