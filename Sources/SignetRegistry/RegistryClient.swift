import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SignetHTTPClient
import SignetJSON

/// A client for the OCI distribution API (OCI distribution specification v1.1) over libcurl.
///
/// One client serves every registry: it keeps connections open across calls (one curl multi
/// handle and share handle, HTTP/2 where the registry offers it over TLS), caches bearer tokens
/// per registry and scope until they expire, and retries only what the specification calls
/// transient (429, 502, 503, 504, reset connections) and only within the caller's deadline.
///
/// Authentication: anonymous; Basic (RFC 7617) when a registry challenges with it; the bearer
/// token flow of the Docker registry token authentication specification (RFC 6750 challenge,
/// `GET realm?service=...&scope=...` with the registry's credentials, `token`/`access_token`,
/// `expires_in`). Credentials come from the ``RequestCredentials`` of the calling task (a pod's
/// pull secrets) and then from the client's own ``RegistryCredentialStore``; tokens are cached
/// per registry, scope and credential.
///
/// All libcurl work runs on one thread per client; async callers suspend without blocking the
/// cooperative pool, and cancelling the calling task cancels its transfer. Call ``shutdown()``
/// (or release the client) to stop that thread.
///
/// Which digest identifies an image: see ``resolve(_:deadline:)``.
public final class RegistryClient: Sendable {
    let configuration: RegistryClientConfiguration
    let credentials: RegistryCredentialStore
    let logger: Logger
    private let driver: CurlMultiDriver
    /// The token flow and the challenges learnt, shared with nothing else by default.
    private let authenticator: TokenAuthenticator
    private let totalRequests = NIOLockedValueBox(0)

    /// Creates a client and starts its transfer thread.
    public init(
        configuration: RegistryClientConfiguration = RegistryClientConfiguration(),
        credentials: RegistryCredentialStore = RegistryCredentialStore(),
        logger: Logger = Logger(label: "signet.registry")
    ) throws(RegistryError) {
        self.configuration = configuration
        self.credentials = credentials
        self.logger = logger
        authenticator = TokenAuthenticator(defaultTokenLifetime: configuration.defaultTokenLifetime, limits: configuration.tokenCacheLimits)
        if let path = configuration.caBundlePath, !FileManager.default.isReadableFile(atPath: path) {
            throw RegistryError(.invalidConfiguration("CA bundle \(path) is not readable"))
        }
        guard configuration.maximumBufferedResponseBytes >= 1 << 20 else {
            throw RegistryError(.invalidConfiguration("maximumBufferedResponseBytes must be at least 1 MiB"))
        }
        guard configuration.maximumUnfinishedLookups >= 1 else {
            throw RegistryError(.invalidConfiguration("maximumUnfinishedLookups must be at least 1"))
        }
        var settings = CurlTransferSettings(
            caBundlePath: configuration.caBundlePath,
            connectTimeout: configuration.connectTimeout,
            lowSpeedTimeout: configuration.lowSpeedTimeout,
            maximumRedirects: configuration.maximumRedirects,
            userAgent: configuration.userAgent)
        settings.responseBufferLimit = configuration.maximumBufferedResponseBytes
        settings.maximumUnfinishedLookups = configuration.maximumUnfinishedLookups
        settings.onResponseBufferChange = Self.recordResponseBuffer
        do {
            driver = try CurlMultiDriver(settings: settings)
        } catch {
            throw RegistryError(.invalidConfiguration("libcurl could not start: \(error)"))
        }
    }

    deinit {
        driver.shutdown()
    }

    /// Stops the transfer thread; calls after this fail. Transfers in flight fail as cancelled.
    public func shutdown() {
        driver.shutdown()
    }

    /// HTTP requests this client has sent (token requests and retries included).
    public var requestCount: Int {
        totalRequests.withLockedValue { $0 }
    }

    // MARK: - Addressing

    /// The repository an operation works on and the registry that serves it.
    struct Target: Sendable {
        /// As in the reference (`docker.io`), for credentials, messages and metrics.
        var registry: String
        /// The host for API calls (`registry-1.docker.io`).
        var apiHost: String
        var repository: String

        init(_ reference: ImageReference) {
            registry = reference.registry
            apiHost = reference.apiHost
            repository = reference.repository
        }

        func scope(push: Bool) -> String {
            "repository:\(repository):" + (push ? "pull,push" : "pull")
        }
    }

    func isInsecure(_ target: Target) -> Bool {
        configuration.allowInsecureRegistries.contains(target.registry)
            || configuration.allowInsecureRegistries.contains(target.apiHost)
    }

    /// `https://host/v2/<name>/<path>` (`http` only for registries allowed to be insecure).
    func url(_ target: Target, _ path: String) -> String {
        (isInsecure(target) ? "http://" : "https://") + target.apiHost + "/v2/" + target.repository + "/" + path
    }

    // MARK: - Sending with authentication and retries

    /// Sends `request` to `target`'s registry: adds cached authorisation, answers one 401
    /// challenge, retries transient failures with backoff within the deadline. The response may
    /// have any status; callers map statuses to errors.
    func send(_ request: HTTPRequest, to target: Target, push: Bool = false, operation: String) async throws -> HTTPResponse {
        let credential = await credential(for: target)
        do {
            return try await send(request, to: target, push: push, operation: operation, credential: credential)
        } catch let error as RegistryError where error.kind == .unauthorized {
            // A token service that refused: say which credentials were not read, if any.
            guard let withheld = await RequestCredentials.current?.withheldReason() else { throw error }
            throw error.withCredentialsWithheld(withheld, credentialSent: credential != nil)
        }
    }

    private func send(
        _ request: HTTPRequest, to target: Target, push: Bool, operation: String, credential: RegistryCredential?
    ) async throws -> HTTPResponse {
        let scope = target.scope(push: push)
        var answeredChallenge = false
        var attempt = 1
        let server = TokenAuthenticator.Server(name: target.registry, allowsPlainHTTPRealm: isInsecure(target))
        let exchange = tokenExchange(target)
        while true {
            var attemptRequest = request
            let sentAuthorization = try await authenticator.authorization(
                for: server, scope: scope, credential: credential, deadline: request.deadline, exchange: exchange)
            if let sentAuthorization {
                attemptRequest.headers.append(("Authorization", sentAuthorization))
            }
            var response: HTTPResponse
            do {
                response = try await transport(attemptRequest, target: target, operation: operation)
                response.credentialUsername = credential?.username
                if response.status == 401 || response.status == 403 {
                    response.credentialsWithheld = await RequestCredentials.current?.withheldReason()
                }
            } catch let error as RegistryError {
                if error.isRetryableReset, attempt < configuration.retry.maximumAttempts,
                   try await waitBeforeRetry(attempt: attempt, retryAfter: nil, target: target, deadline: request.deadline) {
                    attempt += 1
                    continue
                }
                throw error
            }
            if response.status == 401 && !answeredChallenge {
                answeredChallenge = true
                guard Self.sameOrigin(response.effectiveURL, attemptRequest.url) else {
                    // A redirect led elsewhere (a storage host, a proxy's upstream) and that
                    // place asked for credentials: its challenge is not the registry's, and
                    // answering it would fetch tokens from its realm, with the registry's
                    // credentials, for every later request to the registry.
                    logger.warning("registry redirect answered 401; its challenge is not answered", metadata: [
                        "registry": "\(target.registry)", "redirected_to": "\(UntrustedText.clipped(response.effectiveURL, limit: 200))",
                    ])
                    return response
                }
                if try await authenticator.answer(
                    challenges: response.headers(named: "WWW-Authenticate"), server: server, scope: scope, credential: credential,
                    sent: sentAuthorization, deadline: request.deadline, exchange: exchange) {
                    continue
                }
                return response
            }
            if RetryPolicy.isRetryable(status: response.status), attempt < configuration.retry.maximumAttempts,
               try await waitBeforeRetry(
                   attempt: attempt, retryAfter: response.header("Retry-After"), target: target, deadline: request.deadline) {
                attempt += 1
                continue
            }
            return response
        }
    }

    /// Sleeps before retry number `attempt`; false (without sleeping) when the wait would pass the
    /// deadline. `Retry-After` replaces the computed backoff when present.
    private func waitBeforeRetry(attempt: Int, retryAfter: String?, target: Target, deadline: ContinuousClock.Instant) async throws -> Bool {
        let wait = retryAfter.flatMap { RetryAfter.delay($0) } ?? configuration.retry.backoff(forRetry: attempt)
        // Leave room for the retried request itself.
        let remaining = ContinuousClock.now.duration(to: deadline)
        guard wait + .milliseconds(50) < remaining else { return false }
        Counter(label: "signet_registry_retries_total", dimensions: [("registry", RegistryMetricLabel.shared.label(for: target.registry))]).increment()
        logger.debug("retrying registry request", metadata: ["registry": "\(target.registry)", "wait": "\(wait)"])
        do {
            try await Task.sleep(for: wait)
        } catch {
            throw RegistryError(.cancelled)
        }
        return true
    }

    /// The room registry responses in flight take, and the downloads stopped to stay within it,
    /// as metrics (`docs/metrics.md`).
    @Sendable private static func recordResponseBuffer(_ level: ResponseBufferLevel) {
        Gauge(label: "signet_registry_response_buffer_bytes").record(level.bufferedBytes)
        if level.stoppedTransfers > 0 {
            Counter(label: "signet_registry_downloads_stopped_total").increment(by: level.stoppedTransfers)
        }
    }

    /// One HTTP exchange, counted, with transport failures turned into registry errors.
    func transport(_ request: HTTPRequest, target: Target, operation: String) async throws -> HTTPResponse {
        var request = request
        request.budgetGroup = RegistryRequestOrigin.current ?? ""
        totalRequests.withLockedValue { $0 += 1 }
        RegistryRequestCounter.current?.increment()
        do {
            let response = try await driver.perform(request)
            Counter(
                label: "signet_registry_requests_total",
                dimensions: [("registry", RegistryMetricLabel.shared.label(for: target.registry)), ("method", request.method.rawValue), ("status", "\(response.status / 100)xx")]
            ).increment()
            return response
        } catch let failure as TransportFailure {
            Counter(
                label: "signet_registry_requests_total",
                dimensions: [("registry", RegistryMetricLabel.shared.label(for: target.registry)), ("method", request.method.rawValue), ("status", "error")]
            ).increment()
            switch failure {
            case .cancelled:
                throw RegistryError(.cancelled)
            case .deadlineExceeded:
                throw RegistryError(.deadlineExceeded(operation: operation))
            case .tooLarge(let limit):
                throw RegistryError(.tooLarge(what: operation, limit: limit))
            case .overBudget(let limit):
                throw RegistryError(.overBudget(registry: target.registry, limit: limit))
            case .connection(let message, let isReset):
                if ContinuousClock.now >= request.deadline {
                    throw RegistryError(.deadlineExceeded(operation: operation))
                }
                throw RegistryError(.connectionFailed(registry: target.registry, detail: message, reset: isReset))
            case .invalidRequest(let message):
                throw RegistryError(.badResponse(registry: target.registry, detail: message))
            case .refusedAddress(let addresses):
                throw RegistryError(.connectionFailed(registry: target.registry, detail: "not connecting to \(addresses)", reset: false))
            }
        }
    }

    // MARK: - Authentication

    /// The credential for `target`'s registry: the calling task's ``RequestCredentials`` first,
    /// then the client's own.
    func credential(for target: Target) async -> RegistryCredential? {
        if let source = RequestCredentials.current,
           let credential = await source.credential(for: target.registry, repository: target.repository) {
            return credential
        }
        return credentials.credential(for: target.registry, repository: target.repository)
    }

    /// Carries a token request on this client's transport (counted like every request).
    private func tokenExchange(_ target: Target) -> TokenAuthenticator.Exchange {
        { [self] url, headers, deadline in
            var request = HTTPRequest(method: .get, url: url, maximumResponseBytes: 1024 * 1024, deadline: deadline)
            request.headers = headers.map { (name: $0.0, value: $0.1) }
            let response = try await transport(request, target: target, operation: "token for \(target.registry)")
            return (response.status, response.body)
        }
    }

    // MARK: - Mapping statuses

    /// The error for a response that did not succeed.
    func failure(_ response: HTTPResponse, target: Target, reference: String, operation: String) -> RegistryError {
        let detail = Self.errorDetail(response)
        switch response.status {
        case 404:
            return RegistryError(.notFound(reference: reference))
        case 401:
            var credentials = response.credentialUsername.map { "credentials of \($0) refused" } ?? "no credentials for this registry"
            if let withheld = response.credentialsWithheld { credentials += (response.credentialUsername == nil ? ": " : "; ") + withheld }
            return RegistryError(.unauthorized(registry: target.registry, detail: detail.isEmpty ? credentials : "\(detail) (\(credentials))"))
        case 403:
            let withheld = response.credentialsWithheld.map { response.credentialUsername == nil ? "no credentials sent: \($0)" : $0 }
            return RegistryError(.denied(reference: reference, detail: [detail, withheld].compactMap { $0?.isEmpty == false ? $0 : nil }.joined(separator: "; ")))
        case 429, 502, 503, 504:
            return RegistryError(.connectionFailed(
                registry: target.registry, detail: "\(operation): HTTP \(response.status) after \(configuration.retry.maximumAttempts) attempts"))
        default:
            return RegistryError(.badResponse(
                registry: target.registry, detail: "\(operation): HTTP \(response.status)" + (detail.isEmpty ? "" : " \(detail)")))
        }
    }

    /// The distribution spec's error body (`{"errors":[{"code","message"}]}`) as one line, at most
    /// 300 characters, control characters shown as `?` (``UntrustedText/clipped(_:limit:)``):
    /// the registry's words go into deny messages a terminal shows (`kubectl apply`), events
    /// and the history.
    static func errorDetail(_ response: HTTPResponse) -> String {
        struct Body: Decodable {
            struct Entry: Decodable {
                var code: String?
                var message: String?
            }
            var errors: [Entry]?
        }
        guard let body = try? UntrustedJSON.decode(Body.self, from: response.body), let errors = body.errors else { return "" }
        return UntrustedText.clipped(
            errors.map { [$0.code, $0.message].compactMap { $0 }.joined(separator: ": ") }.joined(separator: "; "), limit: 300)
    }
}
