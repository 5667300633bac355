import Foundation
import Logging
import Metrics
import SignetHTTPClient

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
    private let authState = Locked(AuthState())
    private let totalRequests = Locked(0)

    /// Creates a client and starts its transfer thread.
    public init(
        configuration: RegistryClientConfiguration = RegistryClientConfiguration(),
        credentials: RegistryCredentialStore = RegistryCredentialStore(),
        logger: Logger = Logger(label: "signet.registry")
    ) throws(RegistryError) {
        self.configuration = configuration
        self.credentials = credentials
        self.logger = logger
        if let path = configuration.caBundlePath, !FileManager.default.isReadableFile(atPath: path) {
            throw RegistryError(.invalidConfiguration("CA bundle \(path) is not readable"))
        }
        let settings = CurlTransferSettings(
            caBundlePath: configuration.caBundlePath,
            connectTimeout: configuration.connectTimeout,
            lowSpeedTimeout: configuration.lowSpeedTimeout,
            maximumRedirects: configuration.maximumRedirects,
            userAgent: configuration.userAgent)
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
        totalRequests.withLock { $0 }
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
        let scope = target.scope(push: push)
        let credential = await credential(for: target)
        var answeredChallenge = false
        var attempt = 1
        while true {
            var attemptRequest = request
            let sentAuthorization = try await authorization(for: target, scope: scope, credential: credential, deadline: request.deadline)
            if let sentAuthorization {
                attemptRequest.headers.append(("Authorization", sentAuthorization))
            }
            var response: HTTPResponse
            do {
                response = try await transport(attemptRequest, target: target, operation: operation)
                response.credentialUsername = credential?.username
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
                let challenges = AuthenticationChallenge.parse(response.headers(named: "WWW-Authenticate"))
                if try await answer(
                    challenges, target: target, scope: scope, credential: credential, sent: sentAuthorization, deadline: request.deadline) {
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

    /// One HTTP exchange, counted, with transport failures turned into registry errors.
    func transport(_ request: HTTPRequest, target: Target, operation: String) async throws -> HTTPResponse {
        totalRequests.withLock { $0 += 1 }
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
            case .connection(let message, let isReset):
                if ContinuousClock.now >= request.deadline {
                    throw RegistryError(.deadlineExceeded(operation: operation))
                }
                throw RegistryError(.connectionFailed(registry: target.registry, detail: message, reset: isReset))
            case .invalidRequest(let message):
                throw RegistryError(.badResponse(registry: target.registry, detail: message))
            }
        }
    }

    // MARK: - Authentication

    /// The credential for `target`'s registry: the calling task's ``RequestCredentials`` first,
    /// then the client's own.
    func credential(for target: Target) async -> RegistryCredential? {
        if let source = RequestCredentials.current, let credential = await source.credential(for: target.registry) {
            return credential
        }
        return credentials.credential(for: target.registry)
    }

    /// The `Authorization` value to send to `target` for `scope`, from what earlier challenges
    /// taught: Basic for registries that asked for it, a cached token, or a new token fetched
    /// before the request when the registry is known to want one (saving the 401 round trip).
    private func authorization(
        for target: Target, scope: String, credential: RegistryCredential?, deadline: ContinuousClock.Instant
    ) async throws -> String? {
        // A pull-and-push token serves pulls of the same repository too.
        var keys = [AuthState.TokenKey(registry: target.registry, scope: scope, credential: credential)]
        if scope.hasSuffix(":pull") {
            keys.append(AuthState.TokenKey(registry: target.registry, scope: scope + ",push", credential: credential))
        }
        let now = ContinuousClock.now
        let (challenge, token) = authState.withLock { state -> (AuthenticationChallenge?, String?) in
            let cached = keys.compactMap { state.tokens[$0] }.first { $0.expires > now }
            return (state.challenges[target.registry], cached?.value)
        }
        guard let challenge else { return nil }
        switch challenge.scheme {
        case "basic":
            return credential?.basicAuthorization
        case "bearer":
            if let token {
                Counter(label: "signet_registry_token_cache_hits_total", dimensions: [("registry", RegistryMetricLabel.shared.label(for: target.registry))]).increment()
                return "Bearer " + token
            }
            return try await sharedToken(challenge: challenge, target: target, scope: scope, credential: credential, deadline: deadline)
                .map { "Bearer " + $0 }
        default:
            return nil
        }
    }

    /// Learns from a 401's challenges; true when the request should be sent again with the
    /// new authorisation. `sent` is the authorisation the refused request carried.
    private func answer(
        _ challenges: [AuthenticationChallenge], target: Target, scope: String, credential: RegistryCredential?, sent: String?,
        deadline: ContinuousClock.Instant
    ) async throws -> Bool {
        let key = AuthState.TokenKey(registry: target.registry, scope: scope, credential: credential)
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }) {
            let now = ContinuousClock.now
            let newer = authState.withLock { state -> Bool in
                state.challenges[target.registry] = bearer
                // Another call may have fetched a token since this request left: use that one.
                if let token = state.tokens[key], token.expires > now, "Bearer " + token.value != sent {
                    return true
                }
                state.tokens[key] = nil
                return false
            }
            if newer { return true }
            return try await sharedToken(challenge: bearer, target: target, scope: scope, credential: credential, deadline: deadline) != nil
        }
        if let basic = challenges.first(where: { $0.scheme == "basic" }) {
            let hadBasic = authState.withLock { state in
                defer { state.challenges[target.registry] = basic }
                return state.challenges[target.registry]?.scheme == "basic"
            }
            // Credentials already sent and refused: sending them again will not help.
            return !hadBasic && credential != nil
        }
        return false
    }

    /// A token for `scope`, fetched once however many calls ask at the same time: the first
    /// caller fetches, the others wait for its result.
    private func sharedToken(
        challenge: AuthenticationChallenge, target: Target, scope: String, credential: RegistryCredential?, deadline: ContinuousClock.Instant
    ) async throws -> String? {
        let key = AuthState.TokenKey(registry: target.registry, scope: scope, credential: credential)
        let (task, isOwner) = authState.withLock { state -> (Task<String?, any Error>, Bool) in
            if let running = state.fetching[key] { return (running, false) }
            let task = Task {
                try await self.fetchToken(challenge: challenge, target: target, scope: scope, credential: credential, deadline: deadline)
            }
            state.fetching[key] = task
            return (task, true)
        }
        defer {
            if isOwner { authState.withLock { $0.fetching[key] = nil } }
        }
        return try await task.value
    }

    /// Fetches a bearer token for `scope` from the challenge's realm and caches it.
    private func fetchToken(
        challenge: AuthenticationChallenge, target: Target, scope: String, credential: RegistryCredential?, deadline: ContinuousClock.Instant
    ) async throws -> String? {
        guard let realm = challenge.realm, var components = URLComponents(string: realm),
              let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http" else {
            throw RegistryError(.badResponse(registry: target.registry, detail: "bearer challenge without a usable realm"))
        }
        if scheme == "http" && !isInsecure(target) {
            throw RegistryError(.badResponse(
                registry: target.registry, detail: "token realm \(realm) is plain HTTP; only registries allowed to be insecure may use one"))
        }
        var query = components.queryItems ?? []
        if let service = challenge.service { query.append(URLQueryItem(name: "service", value: service)) }
        query.append(URLQueryItem(name: "scope", value: scope))
        if let credential { query.append(URLQueryItem(name: "account", value: credential.username)) }
        components.queryItems = query
        // URLComponents leaves "+" and ":" alone; encode what a strict server would misread.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        guard let url = components.string else {
            throw RegistryError(.badResponse(registry: target.registry, detail: "token realm \(realm) is not a URL"))
        }
        var request = HTTPRequest(method: .get, url: url, maximumResponseBytes: 1024 * 1024, deadline: deadline)
        request.headers.append(("Accept", "application/json"))
        if let credential { request.headers.append(("Authorization", credential.basicAuthorization)) }
        let issued = ContinuousClock.now
        Counter(label: "signet_registry_token_cache_misses_total", dimensions: [("registry", RegistryMetricLabel.shared.label(for: target.registry))]).increment()
        let response = try await transport(request, target: target, operation: "token for \(target.registry)")
        switch response.status {
        case 200:
            break
        case 401, 403:
            throw RegistryError(.unauthorized(
                registry: target.registry,
                detail: credential.map { "token service refused the credentials of \($0.username)" } ?? "no credentials for this registry"))
        default:
            throw RegistryError(.badResponse(registry: target.registry, detail: "token service answered HTTP \(response.status)"))
        }
        struct TokenResponse: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Int?
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(response.body)),
              let token = decoded.access_token ?? decoded.token, !token.isEmpty else {
            throw RegistryError(.badResponse(registry: target.registry, detail: "token service answer has no token"))
        }
        var lifetime = decoded.expires_in.map { Duration.seconds($0) } ?? configuration.defaultTokenLifetime
        // Renew a little early so a token does not expire in flight.
        lifetime = max(.zero, lifetime - min(.seconds(10), lifetime / 10))
        authState.withLock { state in
            state.tokens[AuthState.TokenKey(registry: target.registry, scope: scope, credential: credential)] =
                AuthState.CachedToken(value: token, expires: issued + lifetime)
        }
        return token
    }

    // MARK: - Mapping statuses

    /// The error for a response that did not succeed.
    func failure(_ response: HTTPResponse, target: Target, reference: String, operation: String) -> RegistryError {
        let detail = Self.errorDetail(response)
        switch response.status {
        case 404:
            return RegistryError(.notFound(reference: reference))
        case 401:
            let credentials = response.credentialUsername.map { "credentials of \($0) refused" } ?? "no credentials for this registry"
            return RegistryError(.unauthorized(registry: target.registry, detail: detail.isEmpty ? credentials : "\(detail) (\(credentials))"))
        case 403:
            return RegistryError(.denied(reference: reference, detail: detail))
        case 429, 502, 503, 504:
            return RegistryError(.connectionFailed(
                registry: target.registry, detail: "\(operation): HTTP \(response.status) after \(configuration.retry.maximumAttempts) attempts"))
        default:
            return RegistryError(.badResponse(
                registry: target.registry, detail: "\(operation): HTTP \(response.status)" + (detail.isEmpty ? "" : " \(detail)")))
        }
    }

    /// The distribution spec's error body (`{"errors":[{"code","message"}]}`) as one line.
    static func errorDetail(_ response: HTTPResponse) -> String {
        struct Body: Decodable {
            struct Entry: Decodable {
                var code: String?
                var message: String?
            }
            var errors: [Entry]?
        }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(response.body)), let errors = body.errors else { return "" }
        return errors.map { [$0.code, $0.message].compactMap { $0 }.joined(separator: ": ") }.joined(separator: "; ")
    }
}

/// What the client learnt about registries' authentication.
struct AuthState: Sendable {
    /// Tokens are kept per credential: a token one credential earned never serves another.
    struct TokenKey: Hashable, Sendable {
        var registry: String
        var scope: String
        var credential: RegistryCredential?
    }

    struct CachedToken: Sendable {
        var value: String
        var expires: ContinuousClock.Instant
    }

    /// The last challenge each registry sent.
    var challenges: [String: AuthenticationChallenge] = [:]
    var tokens: [TokenKey: CachedToken] = [:]
    /// Token requests in flight, so concurrent calls share one.
    var fetching: [TokenKey: Task<String?, any Error>] = [:]
}
