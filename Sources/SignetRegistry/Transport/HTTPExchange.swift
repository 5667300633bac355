/// An HTTP request as the registry client hands it to the transport.
struct HTTPRequest: Sendable {
    enum Method: String, Sendable {
        case get = "GET"
        case head = "HEAD"
        case post = "POST"
        case put = "PUT"
        case delete = "DELETE"
        case patch = "PATCH"
    }

    var method: Method
    var url: String
    var headers: [(name: String, value: String)] = []
    var body: [UInt8]? = nil
    /// The transfer is aborted once the response body grows past this many bytes.
    var maximumResponseBytes: Int
    /// When the whole exchange (redirects included) must be over.
    var deadline: ContinuousClock.Instant
    /// When set, body bytes are handed here as they arrive (on the transfer thread, with the
    /// response status) instead of being collected, and no size cap applies: for watch streams.
    var bodyStream: (@Sendable (_ status: Int, _ bytes: [UInt8]) -> Void)? = nil
}

/// The response to an ``HTTPRequest``: the final response after redirects.
struct HTTPResponse: Sendable {
    var status: Int
    /// Header fields of the final response, names lowercased, in arrival order.
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// The URL after redirects.
    var effectiveURL: String
    /// 1 for HTTP/1.x, 2 for HTTP/2, 3 for HTTP/3.
    var httpVersion: Int
    /// Connections opened for this exchange: 0 when an open one was reused.
    var newConnections: Int = 0
    /// The user name of the credential the registry client had for this request, for messages.
    var credentialUsername: String? = nil

    /// The first value of the field `name` (case-insensitive).
    func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first(where: { $0.name == lowered })?.value
    }

    /// Every value of the field `name` (case-insensitive), in order.
    func headers(named name: String) -> [String] {
        let lowered = name.lowercased()
        return headers.filter { $0.name == lowered }.map(\.value)
    }
}

/// Why the transport could not produce a response.
enum TransportFailure: Error, Sendable {
    /// The Swift task was cancelled.
    case cancelled
    /// The deadline passed before the exchange finished.
    case deadlineExceeded
    /// The response body grew past ``HTTPRequest/maximumResponseBytes``.
    case tooLarge(limit: Int)
    /// The connection could not be made or broke; `isReset` marks failures worth a retry
    /// (the peer closed or reset an established connection).
    case connection(message: String, isReset: Bool)
    /// The request could not be set up (an invalid URL, an unusable CA bundle).
    case invalidRequest(String)
}
