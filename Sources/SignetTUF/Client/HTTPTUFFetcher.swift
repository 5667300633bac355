import SignetHTTPClient

/// A ``TUFFetcher`` over HTTP(S) (TUF specification section 5, the downloads of the client
/// workflow) through SignetHTTPClient (libcurl on a thread of its own), so
/// no blocking socket call runs on Swift's cooperative pool.
public final class HTTPTUFFetcher: TUFFetcher {
    /// Transport settings.
    public struct Configuration: Sendable {
        /// PEM bundle of the CAs to trust for an HTTPS mirror; the system store when nil.
        public var caBundlePath: String?
        /// How long one file may take, connection included.
        public var requestTimeout: Duration
        public var userAgent: String

        public init(caBundlePath: String? = nil, requestTimeout: Duration = .seconds(30), userAgent: String = "signet-tuf") {
            self.caBundlePath = caBundlePath
            self.requestTimeout = requestTimeout
            self.userAgent = userAgent
        }
    }

    private let client: HTTPClient
    private let configuration: Configuration

    public init(configuration: Configuration = Configuration()) throws(TUFError) {
        self.configuration = configuration
        client = try Self.makeClient(configuration)
    }

    /// The HTTP client for `configuration`'s settings; for other fetchers of metadata (Notary v1).
    package static func makeClient(_ configuration: Configuration) throws(TUFError) -> HTTPClient {
        do {
            return try HTTPClient(configuration: HTTPClient.Configuration(
                caBundlePath: configuration.caBundlePath, connectTimeout: min(configuration.requestTimeout, .seconds(10)),
                idleTimeout: configuration.requestTimeout, userAgent: configuration.userAgent))
        } catch {
            throw TUFError(.fetchFailed, "cannot start the HTTP client: \(error)")
        }
    }

    /// Stops the transfer thread.
    public func shutdown() { client.shutdown() }

    public func fetch(_ url: String, maximumLength: Int) async throws(TUFError) -> [UInt8]? {
        let response: HTTPClient.Response
        do {
            response = try await client.send(
                method: "GET", url: url, headers: [], maximumResponseBytes: maximumLength,
                deadline: .now + configuration.requestTimeout)
        } catch {
            if error.description.hasPrefix("response larger than") {
                throw TUFError(.lengthMismatch, "\(url) is longer than \(maximumLength) bytes")
            }
            throw TUFError(.fetchFailed, "\(url): \(error.description)")
        }
        switch response.status {
        case 200: return response.body
        case 403, 404: return nil
        default: throw TUFError(.fetchFailed, "\(url): HTTP status \(response.status)")
        }
    }
}
