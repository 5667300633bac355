/// An HTTP/1.1 and HTTP/2 client over libcurl (``CurlMultiDriver`` on its own thread), for the
/// signet modules that call out, such as the Kubernetes API client: plain requests, and streamed
/// responses for long-lived bodies such as Kubernetes watches (RFC 9112 chunked transfer coding
/// or HTTP/2 DATA frames, delivered as they arrive).
package final class HTTPClient: Sendable {
    /// Settings for every exchange of one transport.
    package struct Configuration: Sendable {
        /// PEM bundle of the CAs to trust; the system store when `nil`.
        package var caBundlePath: String?
        package var connectTimeout: Duration
        /// A transfer that receives nothing for this long is aborted (watch streams should
        /// allow more than the server's bookmark interval).
        package var idleTimeout: Duration
        package var userAgent: String
        /// PEM client certificate and key for TLS client authentication (both, or neither).
        package var clientCertificatePath: String?
        package var clientKeyPath: String?

        package init(caBundlePath: String? = nil, connectTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(120), userAgent: String) {
            self.caBundlePath = caBundlePath
            self.connectTimeout = connectTimeout
            self.idleTimeout = idleTimeout
            self.userAgent = userAgent
        }
    }

    /// A completed response.
    package struct Response: Sendable {
        package var status: Int
        /// Lowercased names, in arrival order.
        package var headers: [(name: String, value: String)]
        package var body: [UInt8]
        /// The numeric address of the peer that answered (empty when unknown).
        package var remoteAddress: String = ""
    }

    /// Why no response arrived.
    package struct Failure: Error, Sendable, CustomStringConvertible {
        package var description: String
        /// The deadline passed.
        package var isTimeout: Bool
        /// The task was cancelled.
        package var isCancelled: Bool
        /// The response was larger than the request allowed.
        package var isTooLarge = false
        /// The `connectionCheck` refused every address of the host; nothing was sent.
        package var isRefusedAddress = false
    }

    private let driver: CurlMultiDriver

    package init(configuration: Configuration) throws(Failure) {
        var settings = CurlTransferSettings(
            caBundlePath: configuration.caBundlePath, connectTimeout: configuration.connectTimeout,
            lowSpeedTimeout: configuration.idleTimeout, maximumRedirects: 0, userAgent: configuration.userAgent)
        settings.clientCertificatePath = configuration.clientCertificatePath
        settings.clientKeyPath = configuration.clientKeyPath
        do {
            driver = try CurlMultiDriver(settings: settings)
        } catch {
            throw Failure(description: "libcurl could not start: \(error)", isTimeout: false, isCancelled: false)
        }
    }

    deinit { driver.shutdown() }

    /// Stops the transfer thread.
    package func shutdown() { driver.shutdown() }

    /// Sends a request and collects the response (at most `maximumResponseBytes` of body).
    /// `connectionCheck`, when given, is asked before each connection is opened
    /// (``HTTPRequest/connectionCheck``).
    package func send(
        method: String, url: String, headers: [(name: String, value: String)], body: [UInt8]? = nil,
        maximumResponseBytes: Int, deadline: ContinuousClock.Instant,
        connectionCheck: (@Sendable (_ address: String, _ port: Int) -> Bool)? = nil
    ) async throws(Failure) -> Response {
        var request = HTTPRequest(
            method: try Self.method(method), url: url, headers: headers, body: body,
            maximumResponseBytes: maximumResponseBytes, deadline: deadline)
        request.connectionCheck = connectionCheck
        let response = try await perform(request)
        return Response(status: response.status, headers: response.headers, body: response.body, remoteAddress: response.remoteAddress)
    }

    /// Sends a GET and hands the body to `onBytes` as it arrives (with the response status),
    /// until the server ends the response, the connection breaks, or `deadline` passes.
    /// Returns the response with an empty body when the server ended it.
    package func stream(
        url: String, headers: [(name: String, value: String)], deadline: ContinuousClock.Instant,
        onBytes: @escaping @Sendable (_ status: Int, _ bytes: [UInt8]) -> Void
    ) async throws(Failure) -> Response {
        var request = HTTPRequest(method: .get, url: url, headers: headers, maximumResponseBytes: 0, deadline: deadline)
        request.bodyStream = onBytes
        let response = try await perform(request)
        return Response(status: response.status, headers: response.headers, body: [])
    }

    private func perform(_ request: HTTPRequest) async throws(Failure) -> HTTPResponse {
        do {
            return try await driver.perform(request)
        } catch let failure as TransportFailure {
            switch failure {
            case .cancelled: throw Failure(description: "cancelled", isTimeout: false, isCancelled: true)
            case .deadlineExceeded: throw Failure(description: "the deadline passed", isTimeout: true, isCancelled: false)
            case .tooLarge(let limit):
                throw Failure(description: "response larger than \(limit) bytes", isTimeout: false, isCancelled: false, isTooLarge: true)
            case .connection(let message, _): throw Failure(description: message, isTimeout: false, isCancelled: false)
            case .invalidRequest(let message): throw Failure(description: message, isTimeout: false, isCancelled: false)
            case .overBudget(let limit):
                throw Failure(description: "stopped to keep responses within \(limit) bytes", isTimeout: false, isCancelled: false)
            case .refusedAddress(let addresses):
                throw Failure(description: "not connecting to \(addresses)", isTimeout: false, isCancelled: false, isRefusedAddress: true)
            }
        } catch {
            throw Failure(description: "\(error)", isTimeout: false, isCancelled: false)
        }
    }

    private static func method(_ text: String) throws(Failure) -> HTTPRequest.Method {
        guard let method = HTTPRequest.Method(rawValue: text) else {
            throw Failure(description: "unsupported method \(text)", isTimeout: false, isCancelled: false)
        }
        return method
    }
}
