import Logging
import Metrics
import SignetAdmission
import SignetConsole
import SignetHTTP

/// Routes the webhook's endpoints (Kubernetes "Dynamic Admission Control", webhook request and
/// response; Prometheus text exposition format):
/// - `POST /validate`: an `admission.k8s.io/v1` AdmissionReview in, the decision out.
/// - `POST /mutate`: the same review in, a JSON Patch pinning verified images out (see
///   ``AdmissionResponder/beginMutation(_:deadline:client:)``).
/// - `GET /healthz`: liveness; answering at all shows the event loops and the handler pool work.
/// - `GET /readyz`: 200 once policies are loaded and a certificate is serving, 503 otherwise.
/// - `GET /metrics`: Prometheus text format; with ``metricsAccess``, only for a bearer token
///   whose user may `get` the non-resource URL `/metrics` (RFC 6750 section 2.1; Kubernetes RBAC
///   `nonResourceURLs`).
struct SignetRequestHandler: HTTPRequestHandler {
    /// Decides one review body under a deadline: the answer at once, or the verifications to
    /// wait for first (``AdmissionResponder/begin(_:deadline:)``).
    typealias Admit = @Sendable (
        _ body: [UInt8], _ deadline: ContinuousClock.Instant, _ client: AdmissionClient
    ) -> AdmissionResponder.Beginning

    let admit: Admit
    /// Answers `/mutate` (``AdmissionResponder/beginMutation(_:deadline:client:)``).
    let mutate: Admit
    let readiness: ReadinessState
    /// Upper bound on the time signet spends on one review, whatever `?timeout=` says.
    let maximumAdmissionTime: Duration
    /// With a client CA configured: `/validate` and `/mutate` answer only clients that presented
    /// a verified certificate (the API server's), while probes and scrapes need none.
    var requireClientCertificateForAdmission = false
    /// With a client CA and a non-empty list: `/validate` and `/mutate` answer only clients whose
    /// certificate names (subject commonName or a subjectAltName DNS name, URI or email) include
    /// one of these.
    var allowedClientNames: Set<String> = []
    /// The API server's addresses (`--reserved-peers`): without a client CA, a review from
    /// elsewhere is not known to be the API server's (``AdmissionClient/fromAPIServer``).
    var apiServerPeers: [PeerNetwork] = []
    /// Counts and logs the reviews from elsewhere.
    let unknownReviewers = UnknownReviewers()
    /// With `--metrics-auth kubernetes`: whether a bearer token may read `/metrics` (a
    /// TokenReview and a SubjectAccessReview, kept briefly); anyone may when nil.
    var metricsAccess: (@Sendable (_ token: String, _ peer: String) async -> ConsoleAccessDecision)?

    func handle(_ request: HTTPRequest, context: HTTPRequestContext) async -> HTTPResponse {
        switch begin(request, context: context) {
        case .answered(let response): return response
        case .waiting(let rest): return await rest()
        }
    }

    /// Every endpoint but a review that waits for verifications answers here, on the event loop.
    func begin(_ request: HTTPRequest, context: HTTPRequestContext) -> HTTPHandling {
        switch respond(to: request, context: context) {
        case .answered(let response):
            Self.record(response, to: request, context: context)
            return .answered(response)
        case .waiting(let rest):
            return .waiting {
                let response = await rest()
                // Abandoned (the connection closed): no answer went out to count.
                if !Task.isCancelled { Self.record(response, to: request, context: context) }
                return response
            }
        }
    }

    /// Refuses, from the head and before the body is read, a review from a client without the
    /// certificate the configuration asks for: such a client cannot make signet buffer a body.
    /// A request with a body anywhere but the two review endpoints is refused the same way: no
    /// other endpoint reads one, and a body announced there would hold the server's body budget
    /// (every client's share of it) until its timeout.
    func screen(_ head: HTTPRequest, context: HTTPRequestContext) -> HTTPResponse? {
        guard let refusal = clientRefusal(head, context: context) ?? Self.unreadBodyRefusal(head) else { return nil }
        Self.record(refusal, to: head, context: context)
        return refusal
    }

    /// 413 for a request that is not a review and announces a body (RFC 9110 §15.5.14: the
    /// server refuses to take the content); nil for a review, or a request without a body.
    static func unreadBodyRefusal(_ request: HTTPRequest) -> HTTPResponse? {
        let takesBody = request.method == "POST" && (request.path == "/validate" || request.path == "/mutate")
        guard !takesBody else { return nil }
        // Announced by Content-Length (the parser checked it is one number) or Transfer-Encoding.
        let announcesBody = !request.body.isEmpty || request.headers["Transfer-Encoding"] != nil
            || request.headers["Content-Length"].map { Int($0) != 0 } == true
        guard announcesBody else { return nil }
        return .text(413, "\(request.method) \(request.path) takes no request body\n")
    }

    /// The answer to a review from a client that may not send one, or nil when it may.
    private func clientRefusal(_ request: HTTPRequest, context: HTTPRequestContext) -> HTTPResponse? {
        guard request.path == "/validate" || request.path == "/mutate", request.method == "POST" else { return nil }
        if requireClientCertificateForAdmission && context.peerCertificateSubject == nil {
            return .text(403, "\(request.path) requires a client certificate issued by the configured client CA\n")
        }
        if requireClientCertificateForAdmission && !allowedClientNames.isEmpty
            && !context.peerCertificateNames.contains(where: allowedClientNames.contains) {
            return .text(403, "\(request.path): the client certificate names none of the allowed clients\n")
        }
        return nil
    }

    /// Whether a review on this connection is known to come from the API server: with a client
    /// CA, every review that got this far came with a certificate it verified (and names an
    /// allowed client); otherwise when the peer is one of ``apiServerPeers``; with neither, signet
    /// cannot tell and takes every review as the API server's.
    func isFromAPIServer(_ context: HTTPRequestContext) -> Bool {
        if requireClientCertificateForAdmission { return context.peerCertificateSubject != nil }
        guard !apiServerPeers.isEmpty else { return true }
        guard let peer = context.peer else { return false }
        return apiServerPeers.contains { $0.contains(peer) }
    }

    /// `signet_http_requests_total` and `signet_http_request_duration_seconds` for one answered request.
    private static func record(_ response: HTTPResponse, to request: HTTPRequest, context: HTTPRequestContext) {
        HTTPRequestMetrics.shared.record(
            route: HTTPRequestMetrics.routeIndex(request.path), method: request.method, status: response.status,
            duration: ContinuousClock.now - context.receivedAt)
    }

    private func respond(to request: HTTPRequest, context: HTTPRequestContext) -> HTTPHandling {
        let decide: Admit
        switch request.path {
        case "/validate": decide = admit
        case "/mutate": decide = mutate
        case "/metrics" where request.method == "GET" || request.method == "HEAD":
            guard let metricsAccess else { return .answered(respondWithoutAdmission(to: request)) }
            return metrics(request, context: context, access: metricsAccess)
        default: return .answered(respondWithoutAdmission(to: request))
        }
        guard request.method == "POST" else { return .answered(Self.methodNotAllowed(allow: "POST")) }
        if let refusal = clientRefusal(request, context: context) { return .answered(refusal) }
        if let type = request.headers["Content-Type"], !Self.isJSON(type) {
            return .answered(.text(415, "\(request.path) expects Content-Type: application/json, got \(type)\n"))
        }
        guard readiness.policiesLoaded else {
            return .answered(Self.response(AdmissionResponder.beforePoliciesAreLoaded(
                request.body, mutating: request.path == "/mutate", reason: "this signet replica has not loaded its policies yet")))
        }
        let deadline = context.receivedAt + admissionBudget(timeoutParameter: request.queryValue("timeout"))
        let client = AdmissionClient(
            address: context.remoteAddress, certificateSubject: context.peerCertificateSubject, fromAPIServer: isFromAPIServer(context))
        // Counted once per object: the API server sends a Pod to /mutate and then to /validate.
        if !client.fromAPIServer, request.path == "/validate" { unknownReviewers.saw(context.remoteAddress) }
        switch decide(request.body, deadline, client) {
        case .answered(let result): return .answered(Self.response(result))
        case .waiting(let rest): return .waiting { Self.response(await rest()) }
        }
    }

    private static func response(_ result: AdmissionHTTPResult) -> HTTPResponse {
        if result.status == 200 { return .json(200, result.body) }
        return .text(result.status, bytes: result.body)
    }

    private func respondWithoutAdmission(to request: HTTPRequest) -> HTTPResponse {
        switch request.path {
        case "/healthz":
            guard request.method == "GET" || request.method == "HEAD" else { return Self.methodNotAllowed(allow: "GET, HEAD") }
            return .text(200, "ok\n")
        case "/readyz":
            guard request.method == "GET" || request.method == "HEAD" else { return Self.methodNotAllowed(allow: "GET, HEAD") }
            if let reason = readiness.notReadyReason { return .text(503, "not ready: \(reason)\n") }
            return .text(200, "ok\n")
        case "/metrics":
            guard request.method == "GET" || request.method == "HEAD" else { return Self.methodNotAllowed(allow: "GET, HEAD") }
            return HTTPResponse(
                status: 200,
                headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]),
                body: PrometheusMetrics.exposition())
        default:
            return .text(404, "no such endpoint: \(request.path)\n")
        }
    }

    /// `/metrics` behind ``metricsAccess``: 401 without a token the API server authenticates,
    /// 403 when its user may not `get /metrics`, 503 when the API server cannot be asked, 429
    /// when the caller's address has asked for more reviews than its share.
    private func metrics(
        _ request: HTTPRequest, context: HTTPRequestContext, access metricsAccess: @escaping @Sendable (String, String) async -> ConsoleAccessDecision
    ) -> HTTPHandling {
        // The header only: the console's session cookie, which a browser also sends to this
        // port of the same host, is not a way in.
        guard let token = ConsoleCredentials.bearerToken(of: request) else {
            return .answered(Self.unauthenticated("/metrics needs a bearer token whose user may get the non-resource URL /metrics (Authorization: Bearer)"))
        }
        return .waiting {
            switch await metricsAccess(token, context.remoteAddress) {
            case .allowed:
                return respondWithoutAdmission(to: request)
            case .unauthenticated(let why):
                return Self.unauthenticated(why)
            case .forbidden(_, let why):
                return .text(403, "\(why)\n")
            case .unavailable(let why):
                return .text(503, "\(why)\n")
            case .throttled(let why):
                var response = HTTPResponse.text(429, "\(why)\n")
                response.headers.add(name: "Retry-After", value: "2")
                return response
            }
        }
    }

    private static func unauthenticated(_ why: String) -> HTTPResponse {
        var response = HTTPResponse.text(401, "\(why)\n")
        response.headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"signet-metrics\"")
        return response
    }

    /// The time signet gives itself: the API server's `?timeout=` (Go duration, e.g. `10s`) less
    /// a margin to write the answer (a fifth, at most one second), capped by `maximumAdmissionTime`.
    func admissionBudget(timeoutParameter: String?) -> Duration {
        guard let text = timeoutParameter, let timeout = GoDuration.parse(text), timeout > .zero else {
            return maximumAdmissionTime
        }
        // At five seconds or more the margin is the full second: no division (Int128 arithmetic)
        // for the API server's usual 10s.
        let margin: Duration = timeout >= .seconds(5) ? .seconds(1) : timeout / 5
        return min(maximumAdmissionTime, timeout - margin)
    }

    private static func isJSON(_ contentType: String) -> Bool {
        // What the API server sends, without splitting and folding the header.
        if contentType == "application/json" { return true }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        return mediaType == "application/json" || mediaType?.hasSuffix("+json") == true
    }

    private static func methodNotAllowed(allow: String) -> HTTPResponse {
        var response = HTTPResponse.text(405, "method not allowed; use \(allow)\n")
        response.headers.add(name: "Allow", value: allow)
        return response
    }
}

/// Go's `time.ParseDuration` format, which the API server uses for `?timeout=` (e.g. `10s`,
/// `1m30s`, `500ms`, `1.5s`), below `maximumSeconds` (a day unless the caller allows more, as
/// retention periods such as `720h` need).
enum GoDuration {
    static func parse(_ text: String, maximumSeconds: Double = 86_400) -> Duration? {
        parseWholeSecondsOrMilliseconds(text) ?? parseAnyForm(text, maximumSeconds: maximumSeconds)
    }

    /// The general reading: numbers with fractions, every unit, several parts.
    static func parseAnyForm(_ text: String, maximumSeconds: Double = 86_400) -> Duration? {
        let units: [(String, Double)] = [
            ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600),
        ]
        var remaining = Substring(text)
        var seconds = 0.0
        guard !remaining.isEmpty else { return nil }
        while !remaining.isEmpty {
            let number = remaining.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            remaining = remaining.dropFirst(number.count)
            guard let unit = units.filter({ remaining.hasPrefix($0.0) }).max(by: { $0.0.count < $1.0.count }) else {
                return nil
            }
            remaining = remaining.dropFirst(unit.0.count)
            seconds += value * unit.1
        }
        guard seconds.isFinite, seconds < maximumSeconds else { return nil }
        return .nanoseconds(Int64(seconds * 1e9))
    }

    /// `<digits>s` or `<digits>ms` (what the API server sends, e.g. `10s`), read without the
    /// general parser's string handling; the same value it gives. `nil` for anything else.
    static func parseWholeSecondsOrMilliseconds(_ text: String) -> Duration? {
        var digits = 0
        var value = 0
        var unit: Double = 1
        var index = text.utf8.startIndex
        while index != text.utf8.endIndex, let digit = text.utf8[index].asciiDigit, digits < 9 {
            value = value * 10 + digit
            digits += 1
            index = text.utf8.index(after: index)
        }
        guard digits > 0 else { return nil }
        let rest = text.utf8[index...]
        if rest.elementsEqual("s".utf8) {
            unit = 1
        } else if rest.elementsEqual("ms".utf8) {
            unit = 1e-3
        } else {
            return nil
        }
        let seconds = Double(value) * unit
        guard seconds < 86_400 else { return nil }
        return .nanoseconds(Int64(seconds * 1e9))
    }
}

private extension UInt8 {
    var asciiDigit: Int? { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) ? Int(self - UInt8(ascii: "0")) : nil }
}

import Foundation

/// Reviews not known to come from the API server (``AdmissionClient/fromAPIServer``):
/// `signet_admission_reviews_from_unknown_peers_total` (of `/validate`), and a warning at most
/// once a minute naming the first such peer of the minute, so that `--reserved-peers` that miss the API server's addresses (its
/// alerts and Events would then be dropped) show at once.
final class UnknownReviewers: Sendable {
    private let warnings = LogThrottle(interval: .seconds(60))
    private let counter = Counter(label: "signet_admission_reviews_from_unknown_peers_total")
    private let logger = Logger(label: "signet.admission")

    func saw(_ peer: String) {
        counter.increment()
        guard warnings.admits() else { return }
        logger.warning(
            "a review came from an address that is not the API server's (--reserved-peers): it is answered, but raises no alert and writes no Event; if this is the API server, add its address",
            metadata: ["peer": "\(peer)"])
    }
}
