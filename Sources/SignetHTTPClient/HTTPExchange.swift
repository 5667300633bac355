/// An HTTP request as a client (the registry client, the Kubernetes client) hands it to the transport.
package struct HTTPRequest: Sendable {
    package enum Method: String, Sendable {
        case get = "GET"
        case head = "HEAD"
        case post = "POST"
        case put = "PUT"
        case delete = "DELETE"
        case patch = "PATCH"
    }

    package var method: Method
    package var url: String
    package var headers: [(name: String, value: String)] = []
    package var body: [UInt8]? = nil
    /// The transfer is aborted once the response body grows past this many bytes.
    package var maximumResponseBytes: Int
    /// When the whole exchange (redirects included) must be over.
    package var deadline: ContinuousClock.Instant
    /// When set, body bytes are handed here as they arrive (on the transfer thread, with the
    /// response status) instead of being collected, and no size cap applies: for watch streams.
    package var bodyStream: (@Sendable (_ status: Int, _ bytes: [UInt8]) -> Void)? = nil
    /// Who the response is downloaded for (the namespace of an admission), for the driver's
    /// ``ResponseBufferBudget``: when room runs out, the group holding the most loses a download.
    package var budgetGroup: String = ""
    /// When set, asked for each connection the exchange opens (redirects included) with the
    /// numeric address and the port it is about to connect to, before anything is sent; `false`
    /// refuses it, and unless another address of the host is accepted the exchange fails with
    /// ``TransportFailure/refusedAddress(_:)``. Such an exchange opens its own connections (one
    /// already open was not asked about) and uses no proxy (the address would be the proxy's).
    package var connectionCheck: (@Sendable (_ address: String, _ port: Int) -> Bool)? = nil

    package init(
        method: Method, url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
        maximumResponseBytes: Int, deadline: ContinuousClock.Instant,
        bodyStream: (@Sendable (_ status: Int, _ bytes: [UInt8]) -> Void)? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.maximumResponseBytes = maximumResponseBytes
        self.deadline = deadline
        self.bodyStream = bodyStream
    }
}

/// The response to an ``HTTPRequest``: the final response after redirects.
package struct HTTPResponse: Sendable {
    package var status: Int
    /// Header fields of the final response, names lowercased, in arrival order.
    package var headers: [(name: String, value: String)]
    package var body: [UInt8]
    /// The URL after redirects.
    package var effectiveURL: String
    /// 1 for HTTP/1.x, 2 for HTTP/2, 3 for HTTP/3.
    package var httpVersion: Int
    /// Connections opened for this exchange: 0 when an open one was reused.
    package var newConnections: Int = 0
    /// The numeric address of the peer the final response came from (empty when curl did not say).
    package var remoteAddress: String = ""
    /// The user name of the credential the registry client had for this request, for messages.
    package var credentialUsername: String? = nil
    /// Which credentials the registry client's source did not read, when a registry refused
    /// (``RegistryCredentialSource``), for messages.
    package var credentialsWithheld: String? = nil

    /// The first value of the field `name` (case-insensitive).
    package func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first(where: { $0.name == lowered })?.value
    }

    /// Every value of the field `name` (case-insensitive), in order.
    package func headers(named name: String) -> [String] {
        let lowered = name.lowercased()
        return headers.filter { $0.name == lowered }.map(\.value)
    }
}

/// Why the transport could not produce a response.
package enum TransportFailure: Error, Sendable {
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
    /// Stopped to keep the response bodies of all transfers within `limit` bytes
    /// (``ResponseBufferBudget``): this one held, or asked for, the most. Worth another try.
    case overBudget(limit: Int)
    /// Every address the host resolved to was refused by ``HTTPRequest/connectionCheck``
    /// (numeric addresses, comma-separated); nothing was sent.
    case refusedAddress(String)
}
