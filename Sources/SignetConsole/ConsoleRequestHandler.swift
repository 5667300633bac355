import Foundation
import Logging
import SignetHTTP
import SignetHistory
import SignetKube
import SignetPolicy

/// The console's HTTP endpoints on its own port (see the README, "The console"): HTML pages and
/// `/api/` JSON, every one but the login form and the two assets behind a bearer token that a
/// TokenReview authenticates and a SubjectAccessReview authorises for the action (read or
/// verify). No token or a refused one: 401; an action the user may not do: 403; the API server
/// unreachable: 503. Responses carry a strict Content-Security-Policy (first-party script and
/// style only, no framing) and are never cached.
public struct ConsoleRequestHandler: HTTPRequestHandler {
    public let authorizer: any ConsoleAuthorizer
    public let credentials: ConsoleCredentials
    public let runner: VerificationRunner
    public let feed: DecisionFeed
    /// The verification history the History and Overview pages read; nil when none is configured.
    public let history: (any HistoryStore)?
    /// The policies, exceptions and bypasses admission decides with now.
    public let policies: @Sendable () -> PolicySet
    public let clock: @Sendable () -> Date
    public var sessionSeconds = 8 * 3600
    /// The audience console tokens must be issued for (`--console-token-audience`, the first
    /// one), named in the sign-in page's `kubectl create token` command; nil: the API server's own.
    public var tokenAudience: String?
    /// How long one live stream (server-sent events: the History feed, a verification's
    /// stages) lasts before signet ends it; the browser reconnects, and the token is reviewed
    /// again, so a revoked token's live view stops within this time.
    public var liveStreamLifetime: Duration = .seconds(300)
    let logger: Logger

    public init(
        authorizer: any ConsoleAuthorizer, credentials: ConsoleCredentials = ConsoleCredentials(), runner: VerificationRunner,
        feed: DecisionFeed, history: (any HistoryStore)? = nil, policies: @escaping @Sendable () -> PolicySet,
        clock: @escaping @Sendable () -> Date = { Date() }, logger: Logger = Logger(label: "signet.console")
    ) {
        self.history = history
        self.authorizer = authorizer
        self.credentials = credentials
        self.runner = runner
        self.feed = feed
        self.policies = policies
        self.clock = clock
        self.logger = logger
    }

    /// The Content-Security-Policy of every response (CSP Level 3).
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    public func handle(_ request: HTTPRequest, context: HTTPRequestContext) async -> HTTPResponse {
        var response = await route(request, peer: context.remoteAddress)
        for (name, value) in [
            ("Content-Security-Policy", Self.contentSecurityPolicy), ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin"), ("Cache-Control", "no-store"),
        ] where !response.headers.contains(name) {
            response.headers.add(name: name, value: value)
        }
        return response
    }

    /// A request past the door: who asked and how (cookie sessions need CSRF tokens on forms).
    struct Caller {
        var user: KubernetesUserInfo
        var token: String
        var fromCookie: Bool
        /// The address the request came from (`ip:port`), charged for the reviews it causes.
        var peer: String
    }

    private func route(_ request: HTTPRequest, peer: String) async -> HTTPResponse {
        let path = request.path
        // One spelling per page: the right a request needs is decided on the path below, and the
        // pages are routed on its segments, so `/verify/` or `//verify` must not reach the page
        // `/verify` under the read right.
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), path == "/" || !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            return Self.page(404, title: "Not found", active: "", user: nil, body: "<p class=\"error\">\(HTML.escape("no page \(path)"))</p>")
        }
        let api = path.hasPrefix("/api/")
        if request.method == "POST", Self.isCrossSite(request) {
            logger.notice("console POST from another site refused", metadata: [
                "path": "\(path)", "origin": "\(request.headers["Origin"] ?? "-")", "sec_fetch_site": "\(request.headers["Sec-Fetch-Site"] ?? "-")",
            ])
            return Self.crossSiteRefusal(request)
        }
        switch (request.method, path) {
        case ("GET", "/assets/console.css"): return Self.asset(ConsoleAssets.stylesheet, type: "text/css; charset=utf-8")
        case ("GET", "/assets/console.js"): return Self.asset(ConsoleAssets.script, type: "text/javascript; charset=utf-8")
        case ("GET", "/login"): return loginPage(status: 200, message: nil)
        case ("POST", "/login"): return await login(request, peer: peer)
        default: break
        }
        let action: ConsoleAction = request.method == "POST" && (path == "/verify" || path == "/api/verifications") ? .verify : .read
        let caller: Caller
        switch await admit(request, action: action, api: api, peer: peer) {
        case .success(let admitted): caller = admitted
        case .failure(let refusal): return refusal.response
        }
        if request.method == "POST", caller.fromCookie, !api || path == "/api/verifications" {
            let form = Self.form(request)
            guard credentials.isValidCSRF(form["csrf"], for: caller.token) else {
                logger.notice("console form without a valid CSRF token", metadata: ["user": "\(caller.user.username)", "path": "\(path)"])
                return Self.page(403, title: "Forbidden", active: "", user: caller.user.username,
                                 body: "<p class=\"error\">The form's CSRF token is missing or does not belong to this session. Reload the page and try again.</p>")
            }
        }
        return await respond(request, caller: caller)
    }

    private func respond(_ request: HTTPRequest, caller: Caller) async -> HTTPResponse {
        let path = request.path
        let user = caller.user.username
        let csrf = caller.fromCookie ? credentials.csrfToken(for: caller.token) : nil
        let parts = path.split(separator: "/").map(String.init)
        switch (request.method, parts.first ?? "", parts.count) {
        case ("GET", "", 0):
            return await overviewPage(request, user: user)
        case ("GET", "policies", 1):
            return Self.page(200, title: "Policies", active: "Policies", user: user, body: PoliciesInForce(policies(), now: clock()).html)
        case ("GET", "help", 1):
            return Self.page(200, title: "Help", active: "Help", user: user, body: HelpPage.html)
        case ("GET", "verify", 1):
            return Self.page(200, title: "Verify", active: "Verify", user: user, body: VerifyPages.form(csrf: csrf, recent: runner.recent()))
        case ("POST", "verify", 1):
            // A verification needs the verify right alone, not read: its error pages list the
            // caller's own recent runs, never other users' images and verdicts.
            let own = runner.recent().filter { $0.user == user }
            let form = Self.form(request)
            guard let image = form["image"]?.trimmingCharacters(in: .whitespaces), !image.isEmpty else {
                return Self.page(400, title: "Verify", active: "Verify", user: user,
                                 body: VerifyPages.form(csrf: csrf, recent: own, message: "enter an image reference"))
            }
            let namespace = form["namespace"].flatMap { $0.isEmpty ? nil : $0 }
            if let problem = VerificationRunner.problem(image: image, namespace: namespace) {
                return Self.page(400, title: "Verify", active: "Verify", user: user,
                                 body: VerifyPages.form(csrf: csrf, recent: own, message: problem))
            }
            if let namespace, let refusal = await refusal(creatingPodsIn: namespace, caller: caller, api: false) { return refusal }
            guard let id = runner.start(image: image, namespace: namespace, user: user) else {
                var busy = Self.page(429, title: "Verify", active: "Verify", user: user, body: VerifyPages.form(
                    csrf: csrf, recent: own, message: Self.busyMessage(runner)))
                busy.headers.add(name: "Retry-After", value: "5")
                return busy
            }
            return HTTPResponse(status: 303, headers: HTTPHeaders([("Location", "/verify/\(id)")]))
        case ("GET", "verify", 2):
            guard let run = runner.run(parts[1]) else { return notFound("no verification \(parts[1]) (only the latest are kept)", user: user) }
            var body = VerifyPages.run(run)
            if run.state == .running { body = body.replacingOccurrences(of: "<table id=\"steps\">", with: "<table id=\"steps\" data-live=\"/verify/\(run.id)/events\">") }
            return Self.page(200, title: "Verification", active: "Verify", user: user, body: body, script: true, refresh: run.state == .running)
        case ("GET", "verify", 3) where parts[2] == "events":
            guard runner.run(parts[1]) != nil else { return .text(404, "no such verification\n") }
            return Self.eventStream(ServerSentEvents.stream(runner.updates(of: parts[1]), lifetime: liveStreamLifetime, encode: { event in
                ServerSentEvents.event("stage", json: LiveStage(stage: event.stage.rawValue, cells: VerifyPages.row(event)))
            }, ending: Array("event: end\ndata: {}\n\n".utf8)))
        case ("GET", "trust", 2):
            guard let run = runner.run(parts[1]) else { return notFound("no verification \(parts[1])", user: user) }
            return Self.page(200, title: "Trust chain", active: "Verify", user: user, body: VerifyPages.trust(run))
        case ("GET", "trust", 1):
            guard let digest = request.queryValue("digest"), let run = runner.latest(digest: digest) else {
                return notFound("no verification of that digest is kept; verify the image first", user: user)
            }
            return Self.page(200, title: "Trust chain", active: "Verify", user: user, body: VerifyPages.trust(run))
        case ("GET", "history", 1):
            return await historyPage(request, user: user)
        case ("GET", "history", 2) where parts[1] == "events":
            guard let updates = feed.subscribe(for: user) else {
                var busy = Self.page(429, title: "History", active: "History", user: user, body: """
                    <p class="error">\(HTML.escape("too many live History streams are open (at most \(DecisionFeed.maximumSubscriptionsPerReader) per reader, \(DecisionFeed.maximumSubscriptions) in all); close other History pages"))</p>
                    """)
                busy.headers.add(name: "Retry-After", value: "30")
                return busy
            }
            return Self.eventStream(ServerSentEvents.stream(updates, lifetime: liveStreamLifetime, encode: \.event))
        case ("GET", "history", 2):
            return await decisionPage(parts[1], user: user)
        case ("GET", "logout", 1):
            return Self.page(200, title: "Sign out", active: "", user: user, body: """
                <form method="post" action="/logout">\(csrf.map { "<input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape($0))\">" } ?? "")\
                <button type="submit">Sign out</button></form>
                """)
        case ("POST", "logout", 1):
            return HTTPResponse(status: 303, headers: HTTPHeaders([("Location", "/login"), ("Set-Cookie", ConsoleCredentials.clearedCookie)]))
        case (_, "api", _):
            return await respondToAPI(request, caller: caller, parts: Array(parts.dropFirst()))
        default:
            return notFound("no page \(path)", user: user)
        }
    }

    struct LiveStage: Encodable {
        var stage: String
        var cells: [String]
    }

    // MARK: - The door

    struct Refusal: Error {
        var response: HTTPResponse
    }

    private func admit(_ request: HTTPRequest, action: ConsoleAction, api: Bool, peer: String) async -> Result<Caller, Refusal> {
        guard let (token, fromCookie) = credentials.token(of: request) else {
            return .failure(Refusal(response: unauthenticated("a bearer token is required", api: api)))
        }
        let decision = await authorizer.decide(token: token, action: action, peer: peer)
        if case .allowed(let user) = decision { return .success(Caller(user: user, token: token, fromCookie: fromCookie, peer: peer)) }
        return .failure(Refusal(response: refusal(decision, api: api, fromCookie: fromCookie) ?? unauthenticated("the token was not accepted", api: api)))
    }

    /// The answer to a request `decision` does not allow: 401 (the session cookie cleared), 403
    /// naming what the user may not do, or 503 when the API server could not be asked; nil when
    /// it allows.
    private func refusal(_ decision: ConsoleAccessDecision, api: Bool, fromCookie: Bool) -> HTTPResponse? {
        switch decision {
        case .allowed:
            return nil
        case .unauthenticated(let why):
            var response = unauthenticated(why, api: api)
            if fromCookie { response.headers.add(name: "Set-Cookie", value: ConsoleCredentials.clearedCookie) }
            return response
        case .forbidden(let user, let why):
            return api
                ? Self.json(403, ["error": why])
                : Self.page(403, title: "Forbidden", active: "", user: user.username, body: "<p class=\"error\" id=\"refusal\">\(HTML.escape(why))</p>")
        case .unavailable(let why):
            return api
                ? Self.json(503, ["error": why])
                : Self.page(503, title: "Unavailable", active: "", user: nil, body: "<p class=\"error\">\(HTML.escape(why))</p>")
        case .throttled(let why):
            return Self.throttled(api
                ? Self.json(429, ["error": why])
                : Self.page(429, title: "Too many requests", active: "", user: nil, body: "<p class=\"error\">\(HTML.escape(why))</p>"))
        }
    }

    /// `response` with `Retry-After` (RFC 9110 section 10.2.3): a share of reviews grows by one
    /// every half second.
    static func throttled(_ response: HTTPResponse) -> HTTPResponse {
        var response = response
        response.headers.add(name: "Retry-After", value: "2")
        return response
    }

    /// The refusal when the caller may not create Pods in `namespace` (a verification there uses
    /// its pull secrets and exceptions); nil when it may.
    func refusal(creatingPodsIn namespace: String, caller: Caller, api: Bool) async -> HTTPResponse? {
        refusal(await authorizer.decideCreatingPods(token: caller.token, namespace: namespace, peer: caller.peer), api: api, fromCookie: caller.fromCookie)
    }

    private func unauthenticated(_ why: String, api: Bool) -> HTTPResponse {
        var response = api ? Self.json(401, ["error": why]) : loginPage(status: 401, message: why)
        response.headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"signet-console\"")
        return response
    }

    private func login(_ request: HTTPRequest, peer: String) async -> HTTPResponse {
        guard let token = Self.form(request)["token"]?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
            return loginPage(status: 401, message: "paste a Kubernetes bearer token")
        }
        switch await authorizer.decide(token: token, action: .read, peer: peer) {
        case .allowed(let user):
            logger.info("console sign-in", metadata: ["user": "\(user.username)"])
            return HTTPResponse(status: 303, headers: HTTPHeaders([
                ("Location", "/"), ("Set-Cookie", ConsoleCredentials.sessionCookie(token, maxAgeSeconds: sessionSeconds)),
            ]))
        case .unauthenticated(let why): return loginPage(status: 401, message: why)
        case .forbidden(_, let why): return loginPage(status: 403, message: why)
        case .unavailable(let why): return loginPage(status: 503, message: why)
        case .throttled(let why): return Self.throttled(loginPage(status: 429, message: why))
        }
    }

    func loginPage(status: Int, message: String?) -> HTTPResponse {
        let command = "kubectl create token YOUR-SERVICE-ACCOUNT" + (tokenAudience.map { " --audience \($0)" } ?? "")
        return Self.page(status, title: "Sign in", active: "", user: nil, body: """
            \(message.map { "<p class=\"error\" id=\"refusal\">\(HTML.escape($0))</p>" } ?? "")
            <p>The console accepts a Kubernetes bearer token, checked by a TokenReview and a SubjectAccessReview. \
            Make one with <code>\(HTML.escape(command))</code>, or send it as \
            <code>Authorization: Bearer</code>.</p>
            <form method="post" action="/login"><label>Token <input type="password" name="token" id="token" size="70" required \
            autocomplete="off"></label> <button type="submit" id="sign-in">Sign in</button></form>
            """)
    }

    // MARK: - Responses

    static func page(_ status: Int, title: String, active: String, user: String?, body: String, script: Bool = false, refresh: Bool = false) -> HTTPResponse {
        var html = HTML.page(title: title, active: active, user: user, body: body, script: script)
        if refresh {
            // Without script, a running verification's page reloads itself.
            html = html.replacingOccurrences(of: "</title>", with: "</title><noscript><meta http-equiv=\"refresh\" content=\"1\"></noscript>")
        }
        return HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "text/html; charset=utf-8")]), body: Array(html.utf8))
    }

    private func notFound(_ message: String, user: String) -> HTTPResponse {
        Self.page(404, title: "Not found", active: "", user: user, body: "<p class=\"error\">\(HTML.escape(message))</p>")
    }

    /// Why a verification was not started: the most that may run at once are running.
    static func busyMessage(_ runner: VerificationRunner) -> String {
        "\(runner.maximumRunning) verifications are running, the most at once; retry when one has finished"
    }

    static func asset(_ text: String, type: String) -> HTTPResponse {
        HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", type)]), body: Array(text.utf8))
    }

    static func json(_ status: Int, _ value: some Encodable) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        guard let body = try? encoder.encode(value) else { return .json(500, Array(#"{"error":"cannot encode the answer"}"#.utf8)) }
        return .json(status, [UInt8](body))
    }

    static func eventStream(_ chunks: AsyncStream<[UInt8]>) -> HTTPResponse {
        .streamed(200, headers: HTTPHeaders([("Content-Type", "text/event-stream; charset=utf-8")]), chunks: chunks)
    }

    /// The console's forms have a handful of fields; more in one body are not read.
    static let maximumFormFields = 32

    /// The fields of an `application/x-www-form-urlencoded` body (HTML Living Standard
    /// §4.10.21.7), the first value of each name, read in one pass.
    static func form(_ request: HTTPRequest) -> [String: String] {
        HTTPRequest.formFields(String(decoding: request.body, as: UTF8.self), maximumFields: maximumFormFields)
    }
}
