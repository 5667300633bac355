/// Why a request could not be parsed, with the status code the server answers before closing.
///
/// RFC 9112 §2.2 and §3: a malformed message gets 400; RFC 9112 §6.1 and §6.3 (framing that
/// could smuggle a request) 400 or 501; RFC 9110 §15.5.14 413, §15.5.18 417, RFC 6585 §5 431 and
/// RFC 9110 §15.6.6 505. After a parse error the connection must not be reused (RFC 9112 §9.6).
public struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The response status: 400, 413, 417, 431, 501 or 505.
    public var status: Int
    /// A readable account of what was wrong, e.g. `request header section exceeds 32768 bytes`.
    public var reason: String

    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String {
        "\(status) \(HTTPResponse.reasonPhrase(for: status)): \(reason)"
    }

    static func badRequest(_ reason: String) -> HTTPParseError {
        HTTPParseError(status: 400, reason: reason)
    }

    static func contentTooLarge(_ reason: String) -> HTTPParseError {
        HTTPParseError(status: 413, reason: reason)
    }

    static func expectationFailed(_ reason: String) -> HTTPParseError {
        HTTPParseError(status: 417, reason: reason)
    }

    static func headerFieldsTooLarge(_ reason: String) -> HTTPParseError {
        HTTPParseError(status: 431, reason: reason)
    }

    static func notImplemented(_ reason: String) -> HTTPParseError {
        HTTPParseError(status: 501, reason: reason)
    }

    static func versionNotSupported(_ reason: String) -> HTTPParseError {
        HTTPParseError(status: 505, reason: reason)
    }
}
