import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SignetCrypto
import SignetKube

/// The console's door: a TokenReview says who a bearer token belongs to, a SubjectAccessReview
/// whether that user may do the action (Kubernetes "Authenticating" and "Authorization";
/// `authentication.k8s.io/v1`, `authorization.k8s.io/v1`). Answers are kept briefly per token
/// and action (``ConsoleAccessCache``) so a page with its stylesheet and script costs one pair
/// of reviews, not three; failures to reach the API server are never kept, and deny.
///
/// With token audiences (`--console-token-audience`), only tokens issued for one of them are
/// accepted (`kubectl create token ACCOUNT --audience AUDIENCE`): the TokenReview asks for them,
/// and an answer that does not name one of them (a token for the API server itself, or an
/// authenticator that ignores audiences) is refused. A token made for the console is then no
/// good against the API server, so whoever reads the console's traffic or memory cannot replay
/// it there, and an API server token given to something else cannot open the console.
///
/// The webhook port's `/metrics` is guarded the same way when `--metrics-auth kubernetes` is
/// set (``decideScrape(token:path:peer:)``), by an instance of its own.
public final class KubernetesConsoleAuthorizer: ConsoleAuthorizer {
    private let client: KubernetesClient
    private let rules: ConsoleAccessRules
    private let cache: ConsoleAccessCache
    private let logger: Logger
    /// The audiences a token must be issued for; empty: the API server's own.
    private let audiences: [String]
    /// How many reviews a caller's address, and all callers together, may cause.
    private let limiter: ConsoleReviewLimiter

    public init(
        client: KubernetesClient, rules: ConsoleAccessRules, cacheTTL: Duration, cacheCapacity: Int, audiences: [String] = [],
        limiter: ConsoleReviewLimiter = ConsoleReviewLimiter(), logger: Logger
    ) {
        self.client = client
        self.limiter = limiter
        self.audiences = audiences
        self.rules = rules
        self.cache = ConsoleAccessCache(ttl: cacheTTL, capacity: cacheCapacity)
        self.logger = logger
    }

    public func decide(token: String, action: ConsoleAction, peer: String) async -> ConsoleAccessDecision {
        await decide(token: token, action: action.rawValue, attributes: rules.attributes(for: action), key: action.rawValue, consequence: "", peer: peer) {
            Self.count($0, action: action)
        }
    }

    /// Whether `token`'s user may `get` the non-resource URL `path` (Prometheus scraping
    /// `/metrics`: RBAC `nonResourceURLs`, as Kubernetes components guard their own metrics),
    /// reviewed, kept and throttled as console requests are; counted as
    /// `signet_metrics_access_total{decision}`.
    public func decideScrape(token: String, path: String, peer: String) async -> ConsoleAccessDecision {
        await decide(token: token, action: "scrape", attributes: .nonResource(verb: "get", path: path), key: "get " + path, consequence: "", peer: peer) {
            Counter(label: "signet_metrics_access_total", dimensions: [("decision", Self.decisionName($0))]).increment()
        }
    }

    public func decideCreatingPods(token: String, namespace: String, peer: String) async -> ConsoleAccessDecision {
        await decide(
            token: token, action: ConsoleAction.verify.rawValue,
            attributes: KubernetesResourceAttributes(verb: "create", group: "", resource: "pods", namespace: namespace),
            key: "create-pods/" + namespace,
            consequence: "; a verification as if in a namespace uses its pull secrets and exceptions, so it needs that right (leave the namespace empty to verify without them)",
            peer: peer) { Self.count($0, action: .verify) }
    }

    /// Who `token` is, then whether that user may do `attributes` (counted under `action`),
    /// each answer cached: keyed by a hash, so the cache never holds a usable token, and who the
    /// token is apart from what the user may do, so a second question costs one review, not two.
    private func decide(
        token: String, action: String, attributes: KubernetesResourceAttributes, key: String, consequence: String, peer: String,
        count: (ConsoleAccessDecision) -> Void
    ) async -> ConsoleAccessDecision {
        let tokenKey = DigestAlgorithm.sha256.hexHash(Array(token.utf8))
        let identity = await cached(tokenKey + "/identity", token: tokenKey, peer: peer) { await authenticate(token) }
        if case .allowed = identity { limiter.authenticated(token: tokenKey) }
        guard case .allowed(let user) = identity else {
            count(identity)
            return identity
        }
        let decision = await cached(tokenKey + "/" + key, token: tokenKey, peer: peer) {
            await authorize(user, attributes: attributes, action: action, consequence: consequence)
        }
        if case .allowed = decision { limiter.allowed(peer: peer) }
        count(decision)
        return decision
    }

    /// `signet_console_access_total{action,decision}`: `allowed`, `unauthenticated`, `forbidden`, `unavailable`, `throttled`.
    private static func count(_ decision: ConsoleAccessDecision, action: ConsoleAction) {
        Counter(label: "signet_console_access_total", dimensions: [("action", action.rawValue), ("decision", decisionName(decision))]).increment()
    }

    private static func decisionName(_ decision: ConsoleAccessDecision) -> String {
        switch decision {
        case .allowed: "allowed"
        case .unauthenticated: "unauthenticated"
        case .forbidden: "forbidden"
        case .unavailable: "unavailable"
        case .throttled: "throttled"
        }
    }

    /// The cached answer for `key`, else `ask`'s, kept unless the API server could not be asked;
    /// `peer`'s share of reviews pays for asking (``ConsoleReviewLimiter``).
    private func cached(_ key: String, token: String, peer: String, _ ask: () async -> ConsoleAccessDecision) async -> ConsoleAccessDecision {
        if let known = cache.value(for: key) { return known }
        guard limiter.mayReview(token: token, peer: peer) else {
            logger.notice("review not asked: the caller's address made more reviews than its share", metadata: [
                "address": "\(ConsoleReviewLimiter.address(of: peer))",
            ])
            return .throttled("too many sign-in and access checks from this address; retry in a few seconds")
        }
        let decision = await ask()
        if case .unavailable = decision { return decision }
        cache.store(decision, for: key)
        return decision
    }

    private func authenticate(_ token: String) async -> ConsoleAccessDecision {
        do {
            guard let review = try await client.reviewToken(token, audiences: audiences) else {
                logger.info("token refused by the TokenReview")
                return .unauthenticated(audiences.isEmpty
                    ? "the API server did not authenticate the token"
                    : "the API server did not authenticate the token for the console's audience (\(audiences.joined(separator: ", "))): "
                        + "create one with kubectl create token ACCOUNT --audience \(audiences[0])")
            }
            if !audiences.isEmpty && !review.audiences.contains(where: audiences.contains) {
                // Authenticated, but not for the console: the API server's own audience, or an
                // authenticator that does not check audiences at all (status.audiences empty).
                logger.warning("console token refused: the TokenReview did not confirm the console's audience", metadata: [
                    "user": "\(review.user.username)", "audiences": "\(review.audiences.joined(separator: ","))",
                ])
                return .unauthenticated(
                    "the token is not issued for the console's audience (\(audiences.joined(separator: ", "))): "
                        + "create one with kubectl create token ACCOUNT --audience \(audiences[0])")
            }
            if !audiences.isEmpty, let others = Self.otherAudiences(of: token, allowed: audiences), !others.isEmpty {
                // Issued for the console and for something else as well (`--audience` given twice,
                // one of them the API server's): the TokenReview confirms only the overlap, and
                // such a token read off the console would open the other services.
                logger.warning("console token refused: it is issued for other audiences too", metadata: [
                    "user": "\(review.user.username)", "audiences": "\(others.joined(separator: ","))",
                ])
                return .unauthenticated(
                    "the token is also issued for \(others.joined(separator: ", ")): a console token must be issued for "
                        + "the console's audience (\(audiences.joined(separator: ", "))) alone")
            }
            return .allowed(review.user)
        } catch {
            // The error (addresses, the API server's own words) goes to the log, not to a
            // client that has not been authenticated.
            logger.warning("TokenReview failed", metadata: ["error": "\(error)"])
            return .unavailable("the API server could not review the token; signet's log says why (\"TokenReview failed\")")
        }
    }

    /// The audiences of a JWT bearer token (its `aud` claim, RFC 7519 section 4.1.3: a string or
    /// an array of strings) outside `allowed`; nil when the token is not a JWT whose claims can
    /// be read (an opaque token: the TokenReview's confirmation is all there is to go by). Read
    /// only after the API server has verified the token, so the claims are the issuer's.
    static func otherAudiences(of token: String, allowed: [String]) -> [String]? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Base64URL.decode(String(parts[1])),
              let claims = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]
        else { return nil }
        let audiences: [String]
        switch claims["aud"] {
        case let single as String: audiences = [single]
        case let list as [Any]: audiences = list.map { ($0 as? String) ?? "\($0)" }
        case nil: audiences = []
        case let other?: audiences = ["\(other)"]
        }
        return audiences.filter { !allowed.contains($0) }
    }

    private func authorize(
        _ user: KubernetesUserInfo, attributes: KubernetesResourceAttributes, action: String, consequence: String
    ) async -> ConsoleAccessDecision {
        do {
            let access = try await client.reviewAccess(user: user, attributes: attributes)
            guard access.allowed else {
                logger.info("access denied", metadata: [
                    "user": "\(user.username)", "action": "\(action)", "namespace": "\(attributes.namespace ?? "")",
                ])
                let why = access.reason.isEmpty ? "" : ": \(access.reason)"
                let scope = attributes.namespace.map { " in namespace \($0)" } ?? ""
                return .forbidden(user, "user \(user.username) may not \(attributes.description)\(scope)\(why)\(consequence)")
            }
            return .allowed(user)
        } catch {
            logger.warning("SubjectAccessReview failed", metadata: ["error": "\(error)", "user": "\(user.username)"])
            return .unavailable("the API server could not review access; signet's log says why (\"SubjectAccessReview failed\")")
        }
    }
}

/// Access decisions kept for a short time, at most `capacity` of them (the oldest dropped
/// first), so the cache stays bounded whatever tokens clients send.
final class ConsoleAccessCache: Sendable {
    private struct Entry {
        var decision: ConsoleAccessDecision
        var expires: ContinuousClock.Instant
    }

    private let ttl: Duration
    private let capacity: Int
    private let entries = NIOLockedValueBox<(values: [String: Entry], order: [String])>(([:], []))

    init(ttl: Duration, capacity: Int) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
    }

    /// The answer for `key` while it holds (an expired one stays until stored again or evicted).
    func value(for key: String, now: ContinuousClock.Instant = .now) -> ConsoleAccessDecision? {
        entries.withLockedValue { state in
            guard let entry = state.values[key], entry.expires > now else { return nil }
            return entry.decision
        }
    }

    func store(_ decision: ConsoleAccessDecision, for key: String, now: ContinuousClock.Instant = .now) {
        guard ttl > .zero else { return }
        entries.withLockedValue { state in
            // A key is in the eviction order once, at the time it was last stored: listed again
            // beside its older place, evicting that place threw the fresh answer away first.
            if state.values[key] != nil, let place = state.order.firstIndex(of: key) { state.order.remove(at: place) }
            state.order.append(key)
            state.values[key] = Entry(decision: decision, expires: now + ttl)
            while state.values.count > capacity, !state.order.isEmpty {
                state.values[state.order.removeFirst()] = nil
            }
        }
    }

    var count: Int { entries.withLockedValue { $0.values.count } }
}
