import Foundation
import Metrics
import NIOConcurrencyHelpers
import SignetHTTPClient
import SignetJSON

/// The authentication a server asks for in its 401 challenges, as the Docker registry token
/// authentication specification describes it (RFC 6750 `WWW-Authenticate: Bearer
/// realm=...,service=...,scope=...`, `GET realm?service=...&scope=...&account=...` with HTTP Basic
/// credentials, answers with `token`/`access_token` and `expires_in`), and HTTP Basic (RFC 7617)
/// for servers that challenge with it. Registries and Notary servers (which use the same token
/// flow) share it: ``RegistryClient`` for the OCI distribution API, Notary v1 for
/// `/v2/<gun>/_trust/tuf/`.
///
/// It remembers each server's last challenge, so later requests carry authorisation before the
/// server asks, and caches tokens per server, scope and credential (a token one credential
/// earned never serves another) until shortly before they expire; concurrent requests for the
/// same token share one token request. Both are bounded: at most ``Limits/tokens`` tokens and
/// ``Limits/servers`` servers' challenges are kept (an expired token, or the one stored longest
/// ago, makes room; a challenge is learnt again after ``Limits/challengeLifetime``; a token is
/// kept for at most ``maximumTokenLifetime``, whatever its `expires_in` says), so requests
/// naming endless repositories or credentials cannot grow the process. It sends nothing itself:
/// each call takes the ``Exchange`` that carries the token request on the caller's transport.
///
/// Metrics: `signet_registry_token_cache_hits_total` and `signet_registry_token_cache_misses_total`,
/// labelled by server (bounded by ``RegistryMetricLabel``).
public final class TokenAuthenticator: Sendable {
    /// A server as the authenticator keys it.
    public struct Server: Sendable, Hashable {
        /// The host (and port) challenges and tokens are kept under: `ghcr.io`, `notary.example:4443`.
        public var name: String
        /// Whether a token realm over plain HTTP is acceptable: only for servers the deployment
        /// allows to be insecure; for others such a realm is refused rather than sent credentials.
        public var allowsPlainHTTPRealm: Bool

        public init(name: String, allowsPlainHTTPRealm: Bool) {
            self.name = name
            self.allowsPlainHTTPRealm = allowsPlainHTTPRealm
        }
    }

    /// Sends one GET for a token (`url` with its query, `headers` including any Basic
    /// authorisation) and returns the status and body; errors it throws pass through.
    public typealias Exchange = @Sendable (_ url: String, _ headers: [(String, String)], _ deadline: ContinuousClock.Instant) async throws -> (status: Int, body: [UInt8])

    /// How much the authenticator remembers.
    public struct Limits: Sendable {
        /// The most tokens kept (one per server, scope and credential).
        public var tokens: Int
        /// The most servers whose last challenge is kept.
        public var servers: Int
        /// How long a server's challenge is used before the server is asked again.
        public var challengeLifetime: Duration

        public init(tokens: Int = 4_096, servers: Int = 1_024, challengeLifetime: Duration = .seconds(3_600)) {
            self.tokens = tokens
            self.servers = servers
            self.challengeLifetime = challengeLifetime
        }
    }

    private let defaultTokenLifetime: Duration
    private let limits: Limits
    private let state: NIOLockedValueBox<State>

    /// `defaultTokenLifetime`: how long a token without `expires_in` is used.
    public init(defaultTokenLifetime: Duration = .seconds(60), limits: Limits = Limits()) {
        self.defaultTokenLifetime = defaultTokenLifetime
        self.limits = limits
        self.state = NIOLockedValueBox(State(limits: limits))
    }

    /// Tokens longer than this are used for the request they were fetched for but not kept:
    /// registries' tokens are a few kilobytes at most, and a token server may answer up to a
    /// mebibyte, so keeping any would let the token server of a registry a policy covers fill
    /// ``Limits/tokens`` entries of a mebibyte each (one per repository it names).
    public static let maximumCachedTokenBytes = 16 * 1024

    /// How many tokens are held (expired ones not yet dropped included).
    var cachedTokenCount: Int { state.withLockedValue { $0.tokens.count } }

    /// The `Authorization` value to send to `server` for `scope`, from what earlier challenges
    /// taught: Basic for servers that asked for it, a cached token, or a new token fetched
    /// before the request when the server is known to want one (saving the 401 round trip).
    /// Nil when the server has not challenged yet.
    public func authorization(
        for server: Server, scope: String, credential: RegistryCredential?, deadline: ContinuousClock.Instant, exchange: @escaping Exchange
    ) async throws -> String? {
        // A pull-and-push token serves pulls of the same repository too.
        var keys = [TokenKey(server: server.name, scope: scope, credential: credential)]
        if scope.hasSuffix(":pull") {
            keys.append(TokenKey(server: server.name, scope: scope + ",push", credential: credential))
        }
        let now = ContinuousClock.now
        let (challenge, token) = state.withLockedValue { state -> (AuthenticationChallenge?, String?) in
            var cached: String?
            for key in keys where cached == nil { cached = state.tokens.value(for: key, now: now) }
            return (state.challenges.value(for: server.name, now: now), cached)
        }
        guard let challenge else { return nil }
        switch challenge.scheme {
        case "basic":
            return credential?.basicAuthorization
        case "bearer":
            if let token {
                Counter(label: "signet_registry_token_cache_hits_total", dimensions: [("registry", RegistryMetricLabel.shared.label(for: server.name))]).increment()
                return "Bearer " + token
            }
            return try await sharedToken(challenge: challenge, server: server, scope: scope, credential: credential, deadline: deadline, exchange: exchange)
                .map { "Bearer " + $0 }
        default:
            return nil
        }
    }

    /// Learns from a 401's `WWW-Authenticate` values; true when the request should be sent again
    /// (a token was fetched, or Basic credentials exist that were not sent). `sent` is the
    /// authorisation the refused request carried.
    public func answer(
        challenges headerValues: [String], server: Server, scope: String, credential: RegistryCredential?, sent: String?,
        deadline: ContinuousClock.Instant, exchange: @escaping Exchange
    ) async throws -> Bool {
        let challenges = AuthenticationChallenge.parse(headerValues)
        let key = TokenKey(server: server.name, scope: scope, credential: credential)
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }) {
            let now = ContinuousClock.now
            let newer = state.withLockedValue { state -> Bool in
                state.challenges.insert(bearer, for: server.name, expires: now + limits.challengeLifetime, now: now)
                // Another call may have fetched a token since this request left: use that one.
                if let token = state.tokens.value(for: key, now: now), "Bearer " + token != sent {
                    return true
                }
                state.tokens.removeValue(for: key)
                return false
            }
            if newer { return true }
            return try await sharedToken(challenge: bearer, server: server, scope: scope, credential: credential, deadline: deadline, exchange: exchange) != nil
        }
        if let basic = challenges.first(where: { $0.scheme == "basic" }) {
            let now = ContinuousClock.now
            let hadBasic = state.withLockedValue { state in
                defer { state.challenges.insert(basic, for: server.name, expires: now + limits.challengeLifetime, now: now) }
                return state.challenges.value(for: server.name, now: now)?.scheme == "basic"
            }
            // Credentials already sent and refused: sending them again will not help.
            return !hadBasic && credential != nil
        }
        return false
    }

    /// A token for `scope`, fetched once however many calls ask at the same time: the first
    /// caller fetches, the others wait for its result.
    private func sharedToken(
        challenge: AuthenticationChallenge, server: Server, scope: String, credential: RegistryCredential?, deadline: ContinuousClock.Instant,
        exchange: @escaping Exchange
    ) async throws -> String? {
        let key = TokenKey(server: server.name, scope: scope, credential: credential)
        let (task, isOwner) = state.withLockedValue { state -> (Task<String?, any Error>, Bool) in
            if let running = state.fetching[key] { return (running, false) }
            let task = Task {
                try await self.fetchToken(challenge: challenge, server: server, scope: scope, credential: credential, deadline: deadline, exchange: exchange)
            }
            state.fetching[key] = task
            return (task, true)
        }
        defer {
            if isOwner { state.withLockedValue { $0.fetching[key] = nil } }
        }
        return try await task.value
    }

    /// Fetches a bearer token for `scope` from the challenge's realm and caches it.
    private func fetchToken(
        challenge: AuthenticationChallenge, server: Server, scope: String, credential: RegistryCredential?, deadline: ContinuousClock.Instant,
        exchange: @escaping Exchange
    ) async throws -> String? {
        guard let realm = challenge.realm, var components = URLComponents(string: realm),
              let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http" else {
            throw RegistryError(.badResponse(registry: server.name, detail: "bearer challenge without a usable realm"))
        }
        if scheme == "http" && !server.allowsPlainHTTPRealm {
            throw RegistryError(.badResponse(
                registry: server.name, detail: "token realm \(realm) is plain HTTP; only registries allowed to be insecure may use one"))
        }
        var query = components.queryItems ?? []
        if let service = challenge.service { query.append(URLQueryItem(name: "service", value: service)) }
        query.append(URLQueryItem(name: "scope", value: scope))
        if let credential { query.append(URLQueryItem(name: "account", value: credential.username)) }
        components.queryItems = query
        // URLComponents leaves "+" and ":" alone; encode what a strict server would misread.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        guard let url = components.string else {
            throw RegistryError(.badResponse(registry: server.name, detail: "token realm \(realm) is not a URL"))
        }
        var headers = [("Accept", "application/json")]
        if let credential { headers.append(("Authorization", credential.basicAuthorization)) }
        let issued = ContinuousClock.now
        Counter(label: "signet_registry_token_cache_misses_total", dimensions: [("registry", RegistryMetricLabel.shared.label(for: server.name))]).increment()
        let response = try await exchange(url, headers, deadline)
        switch response.status {
        case 200:
            break
        case 401, 403:
            throw RegistryError(.unauthorized(
                registry: server.name,
                detail: credential.map { "token service refused the credentials of \($0.username)" } ?? "no credentials for this registry"))
        case 429, 502, 503, 504:
            // Busy or down: a later try may get a token (transient, as for the registry itself).
            throw RegistryError(.connectionFailed(registry: server.name, detail: "token service answered HTTP \(response.status)"))
        default:
            throw RegistryError(.badResponse(registry: server.name, detail: "token service answered HTTP \(response.status)"))
        }
        struct TokenResponse: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Int?
        }
        let decoded: TokenResponse?
        do {
            decoded = try UntrustedJSON.decode(TokenResponse.self, from: response.body)
        } catch let refusal as UntrustedJSON.Refusal {
            throw RegistryError(.badResponse(registry: server.name, detail: "token service answer: \(refusal)"))
        } catch {
            decoded = nil
        }
        guard let decoded, let token = decoded.access_token ?? decoded.token, !token.isEmpty else {
            throw RegistryError(.badResponse(registry: server.name, detail: "token service answer has no token"))
        }
        let lifetime = Self.keptLifetime(expiresIn: decoded.expires_in, default: defaultTokenLifetime)
        guard token.utf8.count <= Self.maximumCachedTokenBytes else { return token }
        let now = ContinuousClock.now
        state.withLockedValue { state in
            _ = state.tokens.insert(token, for: TokenKey(server: server.name, scope: scope, credential: credential), expires: issued + lifetime, now: now)
        }
        return token
    }

    /// The longest a token is kept: registries' tokens live minutes (Docker Hub's and GHCR's
    /// five), and a token server that answers years would otherwise keep a token its registry
    /// may have revoked, and its cache entries, for as long.
    public static let maximumTokenLifetime: Duration = .seconds(3_600)

    /// How long a token whose answer said `expiresIn` seconds (nil: `defaultLifetime`) is used:
    /// at most ``maximumTokenLifetime``, and a little less than it lives, so that it does not
    /// expire in flight; never negative.
    static func keptLifetime(expiresIn: Int?, default defaultLifetime: Duration) -> Duration {
        let lifetime = min(expiresIn.map { Duration.seconds($0) } ?? defaultLifetime, maximumTokenLifetime)
        return max(.zero, lifetime - min(.seconds(10), lifetime / 10))
    }

    /// Tokens are kept per credential: a token one credential earned never serves another.
    struct TokenKey: Hashable, Sendable {
        var server: String
        var scope: String
        var credential: RegistryCredential?
    }

    /// What the authenticator learnt about servers.
    struct State: Sendable {
        /// The last challenge each server sent.
        var challenges: ExpiringTable<String, AuthenticationChallenge, ContinuousClock.Instant>
        /// Tokens by server, scope and credential.
        var tokens: ExpiringTable<TokenKey, String, ContinuousClock.Instant>
        /// Token requests in flight, so concurrent calls share one.
        var fetching: [TokenKey: Task<String?, any Error>] = [:]

        init(limits: Limits) {
            challenges = ExpiringTable(capacity: limits.servers)
            tokens = ExpiringTable(capacity: limits.tokens)
        }
    }
}
