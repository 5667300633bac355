/// A response to serialise with ``HTTPResponseEncoder``.
///
/// RFC 9112 §4 (status line) and RFC 9110 §15 (status codes). Framing fields (`Content-Length`,
/// `Transfer-Encoding`, `Connection`) are written by the encoder from the body and the connection
/// state, not taken from ``headers``.
public struct HTTPResponse: Sendable {
    /// The three-digit status code.
    public var status: Int
    /// The header fields to send, in order.
    public var headers: HTTPHeaders
    /// The body; sent with a Content-Length.
    public var body: [UInt8]
    /// A body sent as it is produced instead of ``body``, each element one chunk of the chunked
    /// transfer coding (RFC 9112 §7.1), the connection closed when the stream ends: what
    /// server-sent events (HTML Living Standard §9.2) need. `nil`: ``body`` with a Content-Length.
    public var stream: AsyncStream<[UInt8]>?

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response whose body is `chunks`, written as each arrives (see ``stream``).
    public static func streamed(_ status: Int, headers: HTTPHeaders, chunks: AsyncStream<[UInt8]>) -> HTTPResponse {
        var response = HTTPResponse(status: status, headers: headers)
        response.stream = chunks
        return response
    }

    /// A plain-text response (`text/plain; charset=utf-8`). An error's text can echo what a
    /// client sent (a path, a header value), so it is marked `X-Content-Type-Options: nosniff`:
    /// never read as HTML or script.
    public static func text(_ status: Int, _ text: String) -> HTTPResponse {
        Self.text(status, bytes: Array(text.utf8))
    }

    /// ``text(_:_:)`` of bytes already encoded as UTF-8.
    public static func text(_ status: Int, bytes: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: textHeaders, body: bytes)
    }

    /// A JSON response (`application/json`, RFC 8259 §11).
    public static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: jsonHeaders, body: body)
    }

    // Made once: every response shares them until one is changed.
    private static let textHeaders = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")])
    private static let jsonHeaders = HTTPHeaders([("Content-Type", "application/json")])

    /// The reason phrase RFC 9110 §15 gives `status`, or the empty string for codes it does not
    /// define (RFC 9112 §4 allows an empty reason-phrase).
    public static func reasonPhrase(for status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 203: "Non-Authoritative Information"
        case 204: "No Content"
        case 205: "Reset Content"
        case 206: "Partial Content"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 421: "Misdirected Request"
        case 422: "Unprocessable Content"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: ""
        }
    }
}
