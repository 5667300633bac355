/// The protocol version of an HTTP/1.x message, as written in the request line and status line.
///
/// RFC 9112 §2.3: `HTTP-version = HTTP-name "/" DIGIT "." DIGIT`. This codec speaks HTTP/1.1 and
/// understands HTTP/1.0 requests; any other version is refused with 505 (RFC 9110 §15.6.6).
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    /// The major version digit.
    public var major: Int
    /// The minor version digit.
    public var minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0 (RFC 1945): persistent connections only on request (`Connection: keep-alive`).
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1 (RFC 9112): persistent connections by default.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// The version as written on the wire, e.g. `HTTP/1.1`.
    public var description: String { "HTTP/\(major).\(minor)" }
}
