import Foundation
import SignetTestSupport
import Testing

/// The console's door, through `signet serve --console-port` and the API server double's
/// TokenReview and SubjectAccessReview: 401 without a token and with one the TokenReview
/// refuses, 403 when the SubjectAccessReview denies, reading and verifying as separate rights,
/// the login cookie's attributes, CSRF on forms, answers reused per token.
@Suite(.serialized)
struct ConsoleAccessTests {
    @Test func tokensAreReviewedAndActionsAuthorised() async throws {
        let policies = try LivePolicies.makeDirectory()
        let console = try await ConsoleFixture.start(policyDirectory: policies.path, arguments: ["--console-auth-cache-ttl", "5m"])
        defer { console.stop() }

        let anonymous = try await console.request("/api/policies")
        #expect(anonymous.status == 401)
        #expect(anonymous.headers.contains("WWW-Authenticate: Bearer"), "\(anonymous.headers)")
        let anonymousPage = try await console.request("/policies")
        #expect(anonymousPage.status == 401)
        #expect(anonymousPage.body.contains("name=\"token\""), "the login form is shown")

        let refused = try await console.request("/api/policies", token: "not-a-token-the-api-server-knows")
        #expect(refused.status == 401)
        #expect(refused.body.contains("did not authenticate"), "\(refused.body)")

        let outsider = try await console.request("/api/policies", token: ConsoleFixture.outsiderToken)
        #expect(outsider.status == 403)
        #expect(outsider.body.contains("outsider may not get clusterimagepolicies.signet.dev"), "\(outsider.body)")
        let outsiderPage = try await console.request("/policies", token: ConsoleFixture.outsiderToken)
        #expect(outsiderPage.status == 403)

        let read = try await console.request("/api/policies", token: ConsoleFixture.readerToken)
        #expect(read.status == 200)
        #expect(read.body.contains("\"no-docker-hub\""), "\(read.body)")
        let page = try await console.request("/policies", token: ConsoleFixture.readerToken)
        #expect(page.status == 200)
        #expect(page.headers.contains("Content-Security-Policy: default-src 'none'; script-src 'self'"), "\(page.headers)")
        #expect(page.body.contains("kubectl edit clusterimagepolicy no-docker-hub"))

        // Reading does not let one verify.
        let readerVerifies = try await console.request(
            "/api/verifications", token: ConsoleFixture.readerToken, method: "POST",
            body: #"{"image":"docker.io/library/nginx:1.25"}"#, contentType: "application/json")
        #expect(readerVerifies.status == 403)
        #expect(readerVerifies.body.contains("may not create verifications.console.signet.dev"), "\(readerVerifies.body)")

        // A verifier runs the admission decision for an image.
        let verified = try await console.request(
            "/api/verifications", token: ConsoleFixture.verifierToken, method: "POST",
            body: #"{"image":"docker.io/library/nginx:1.25"}"#, contentType: "application/json")
        #expect(verified.status == 200)
        let run = try #require(try JSONSerialization.jsonObject(with: Data(verified.body.utf8)) as? [String: Any])
        let verdict = try #require(run["verdict"] as? [String: Any])
        #expect(verdict["outcome"] as? String == "deny")
        #expect((verdict["reason"] as? String ?? "").contains("Docker Hub images are not trusted here"), "\(verdict)")
        #expect(run["user"] as? String == "verifier")

        // Sign-in sets a session cookie only the server can read, sent to this site only.
        let login = try await console.request(
            "/login", method: "POST", body: "token=\(ConsoleFixture.verifierToken)", contentType: "application/x-www-form-urlencoded")
        #expect(login.status == 303)
        let setCookie = try #require(login.headers.split(separator: "\r\n").first { $0.hasPrefix("Set-Cookie:") })
        #expect(setCookie.contains("__Host-signet-console-token=\(ConsoleFixture.verifierToken)"))
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] { #expect(setCookie.contains(attribute), "\(setCookie)") }
        let cookie = "__Host-signet-console-token=\(ConsoleFixture.verifierToken)"

        // A form riding on the cookie needs the session's CSRF token.
        let forged = try await console.request(
            "/verify", method: "POST", body: "image=docker.io%2Flibrary%2Fnginx%3A1.25", contentType: "application/x-www-form-urlencoded",
            cookie: cookie)
        #expect(forged.status == 403)
        #expect(forged.body.contains("CSRF"))
        let form = try await console.request("/verify", cookie: cookie)
        let csrf = try #require(form.body.components(separatedBy: "name=\"csrf\" value=\"").dropFirst().first?.prefix(64))
        let submitted = try await console.request(
            "/verify", method: "POST", body: "image=docker.io%2Flibrary%2Fnginx%3A1.25&csrf=\(csrf)",
            contentType: "application/x-www-form-urlencoded", cookie: cookie)
        #expect(submitted.status == 303)
        #expect(submitted.headers.contains("Location: /verify/"))

        // One TokenReview per token while its answer is fresh, whatever the number of requests.
        let reviews = try console.apiServer.reviews()
        #expect(reviews.filter { $0 == "TokenReview reader" }.count == 1, "\(reviews)")
        #expect(reviews.filter { $0 == "TokenReview unauthenticated" }.count == 1, "\(reviews)")
        #expect(reviews.contains("SubjectAccessReview reader create verifications.console.signet.dev denied"), "\(reviews)")

        // The door's decisions are counted on the webhook's /metrics.
        let metrics = try await console.server.metrics()
        let counted = { (action: String, decision: String) -> Double? in
            metrics.split(separator: "\n").first {
                $0.hasPrefix("signet_console_access_total{") && $0.contains("action=\"\(action)\"") && $0.contains("decision=\"\(decision)\"")
            }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect(counted("read", "forbidden") == 2, "\(metrics)")
        #expect(counted("read", "unauthenticated") == 1, "the refused token; requests without one never reach a review")
        #expect(counted("verify", "forbidden") == 1)
    }

    /// `--console-token-audience`: only tokens issued for the console's audience open it; a token
    /// for the API server itself is refused, and so is any token when the TokenReview answers
    /// without confirming the audience (an authenticator that ignores audiences).
    @Test func consoleTokensMustBeIssuedForTheConsolesAudience() async throws {
        let policies = try LivePolicies.makeDirectory()
        let console = try await ConsoleFixture.start(
            policyDirectory: policies.path, arguments: ["--console-token-audience", "signet-console", "--console-auth-cache-ttl", "5m"])
        defer { console.stop() }
        let issuedForConsole = "reader-console-audience-token"
        try console.apiServer.addUser(token: issuedForConsole, username: "reader", groups: ["team-readers"], audiences: ["signet-console"])
        let issuedForElsewhere = "reader-other-audience-token"
        try console.apiServer.addUser(token: issuedForElsewhere, username: "reader", groups: ["team-readers"], audiences: ["vault"])

        let signIn = try await console.request("/login")
        #expect(signIn.body.contains("kubectl create token YOUR-SERVICE-ACCOUNT --audience signet-console"), "\(signIn.body)")
        let read = try await console.request("/api/policies", token: issuedForConsole)
        #expect(read.status == 200, "\(read.body)")
        let whoami = try await console.request("/api/whoami", token: issuedForConsole)
        #expect(whoami.body.contains("\"reader\""), "\(whoami.body)")

        // The API server's own token (what every other client of it holds) and a token made for
        // another service are refused, with the command that makes a good one.
        for token in [ConsoleFixture.readerToken, issuedForElsewhere] {
            let refused = try await console.request("/api/policies", token: token)
            #expect(refused.status == 401, "\(refused.body)")
            #expect(refused.body.contains("kubectl create token ACCOUNT --audience signet-console"), "\(refused.body)")
        }

        // An authenticator that ignores audiences authenticates every token without naming one:
        // nothing confirms the token was meant for the console, so it is refused (fresh tokens,
        // so no cached answer decides).
        try console.apiServer.ignoreTokenAudiences()
        for (token, audiences) in [("api-audience-token-2", nil), ("console-audience-token-2", ["signet-console"])] as [(String, [String]?)] {
            try console.apiServer.addUser(token: token, username: "reader", groups: ["team-readers"], audiences: audiences)
            let unconfirmed = try await console.request("/api/policies", token: token)
            #expect(unconfirmed.status == 401, "\(token): \(unconfirmed.body)")
            #expect(unconfirmed.body.contains("not issued for the console's audience (signet-console)"), "\(unconfirmed.body)")
        }
        let reviews = try console.apiServer.reviews()
        #expect(reviews.filter { $0 == "TokenReview reader" }.count == 3, "one confirmed, two unconfirmed: \(reviews)")
    }

    /// A JWT in the shape the API server issues (its claims readable, the signature the API
    /// server's to check).
    static func jwt(audiences: [String]) -> String {
        func encoded(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let claims = try! JSONSerialization.data(withJSONObject: ["aud": audiences, "sub": "system:serviceaccount:team:reader"])
        return encoded(#"{"alg":"RS256"}"#) + "." + encoded(String(decoding: claims, as: UTF8.self)) + ".c2lnbmF0dXJl"
    }

    /// The configured audience confirmed is not enough when the token names others too (issued
    /// with `--audience` twice, one of them the API server's): such a token would open them as
    /// well. And an authenticator that answers with the token's own audiences, whatever was asked,
    /// is refused unless the console's is among them. The list also comes from the environment.
    @Test func consoleTokensMustBeIssuedForTheConsoleAlone() async throws {
        let policies = try LivePolicies.makeDirectory()
        let console = try await ConsoleFixture.start(
            policyDirectory: policies.path, arguments: ["--console-auth-cache-ttl", "5m"],
            environment: ["SIGNET_CONSOLE_TOKEN_AUDIENCES": "signet-console, signet-console-staging"])
        defer { console.stop() }
        let alone = Self.jwt(audiences: ["signet-console"])
        let shared = Self.jwt(audiences: ["signet-console", "https://kubernetes.default.svc"])
        let staging = Self.jwt(audiences: ["signet-console-staging"])
        try console.apiServer.addUser(token: alone, username: "reader", groups: ["team-readers"], audiences: ["signet-console"])
        try console.apiServer.addUser(
            token: shared, username: "reader", groups: ["team-readers"], audiences: ["signet-console", "https://kubernetes.default.svc"])
        try console.apiServer.addUser(token: staging, username: "reader", groups: ["team-readers"], audiences: ["signet-console-staging"])

        #expect(try await console.request("/api/policies", token: alone).status == 200)
        #expect(try await console.request("/api/policies", token: staging).status == 200, "every audience of the list counts")
        let sharedAnswer = try await console.request("/api/policies", token: shared)
        #expect(sharedAnswer.status == 401, "\(sharedAnswer.body)")
        #expect(sharedAnswer.body.contains("also issued for https://kubernetes.default.svc"), "\(sharedAnswer.body)")
        // From the environment, as from the flag: the API server's own token is refused.
        #expect(try await console.request("/api/policies", token: ConsoleFixture.readerToken).status == 401)

        try console.apiServer.answerWithTokensOwnAudiences()
        let vault = "vault-audience-token"
        try console.apiServer.addUser(token: vault, username: "reader", groups: ["team-readers"], audiences: ["vault"])
        let vaultAnswer = try await console.request("/api/policies", token: vault)
        #expect(vaultAnswer.status == 401, "an audience the console did not ask for confirms nothing: \(vaultAnswer.body)")
    }

    @Test(arguments: [["--console-token-audience", ""], ["--console-token-audience", " , "]])
    func aBlankAudienceListIsRefusedAtStart(_ flags: [String]) async throws {
        let policies = try LivePolicies.makeDirectory()
        let pki = try TestPKI()
        let result = try await TestProcess.run(TestPaths.signetBinary.path, [
            "serve", "--port", "18443", "--console-port", "18444", "--tls-cert", pki.serverCertFile, "--tls-key", pki.serverKeyFile,
            "--policy-dir", policies.path,
        ] + flags)
        #expect(result.status != 0)
        #expect(result.stderr.contains("names no audience"), "\(result.stderr)")
        let fromEnvironment = try await TestProcess.run(TestPaths.signetBinary.path, [
            "serve", "--port", "18443", "--console-port", "18444", "--tls-cert", pki.serverCertFile, "--tls-key", pki.serverKeyFile,
            "--policy-dir", policies.path,
        ], environment: ["SIGNET_CONSOLE_TOKEN_AUDIENCES": ",,"])
        #expect(fromEnvironment.status != 0)
        #expect(fromEnvironment.stderr.contains("names no audience"), "\(fromEnvironment.stderr)")
    }

    @Test func historyEndpointsAreReviewedAndConsoleVerificationsRecordedInSQLite() async throws {
        let scratch = TemporaryDirectory(prefix: "signet-console-history")
        try await Self.checkHistory(store: ["--history-sqlite", scratch.file("history.sqlite").path])
    }

    @Test(.enabled(if: PostgresServerFixture.isAvailable, "Debian's postgresql is not installed"))
    func historyEndpointsAreReviewedAndConsoleVerificationsRecordedInPostgreSQL() async throws {
        let server = try await PostgresServerFixture.start()
        defer { server.stop() }
        try await offThePool { try server.createDatabase("console") }
        let scratch = TemporaryDirectory(prefix: "signet-console-history")
        let dsn = try scratch.write("dsn", server.connectionString(database: "console"))
        try await Self.checkHistory(store: ["--history-postgres-dsn-file", dsn.path])
    }

    /// `signet serve --console-port` with a history store: `/api/history`, `/api/history/{id}`,
    /// `/api/overview` and the History pages answer 401 without a token or with a refused one and
    /// 403 to a user the SubjectAccessReview denies; a verification run from the console is
    /// written to the store as a `console` entry naming the user the TokenReview found.
    static func checkHistory(store: [String]) async throws {
        let policies = try LivePolicies.makeDirectory()
        let console = try await ConsoleFixture.start(policyDirectory: policies.path, arguments: store)
        defer { console.stop() }

        let verified = try await console.request(
            "/api/verifications", token: ConsoleFixture.verifierToken, method: "POST",
            body: #"{"image":"docker.io/library/nginx:1.25","namespace":"team-a"}"#, contentType: "application/json")
        #expect(verified.status == 200, "\(verified.body)")
        // Written off the request path: wait (bounded) until the store has it.
        var entries: [[String: Any]] = []
        let deadline = TestBudget.deadline(60)
        while entries.isEmpty && ContinuousClock.now < deadline {
            let page = try await console.request("/api/history?source=console", token: ConsoleFixture.readerToken)
            #expect(page.status == 200, "\(page.body)")
            entries = (try JSONSerialization.jsonObject(with: Data(page.body.utf8)) as? [String: Any])?["entries"] as? [[String: Any]] ?? []
            if entries.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        let entry = try #require(entries.first, "the console verification reached the history")
        #expect(entries.count == 1)
        #expect(entry["source"] as? String == "console")
        #expect(entry["user"] as? String == "verifier", "the user the TokenReview found")
        #expect(entry["namespace"] as? String == "team-a")
        #expect(entry["dryRun"] as? Bool == true)
        #expect(entry["allowed"] as? Bool == false)
        let image = try #require((entry["images"] as? [[String: Any]])?.first)
        #expect(image["policies"] as? [String] == ["no-docker-hub"])
        #expect(image["verdict"] as? String == "deny")
        #expect((image["reason"] as? String)?.contains("Docker Hub images are not trusted here") == true)
        let id = try #require(entry["id"] as? Int)

        for path in ["/api/history", "/api/history/\(id)", "/api/overview", "/history", "/history/\(id)", "/"] {
            #expect(try await console.request(path).status == 401, "\(path) without a token")
            #expect(try await console.request(path, token: "not-a-token-the-api-server-knows").status == 401, "\(path) refused token")
            let outsider = try await console.request(path, token: ConsoleFixture.outsiderToken)
            #expect(outsider.status == 403, "\(path) denied")
            #expect(outsider.body.contains("outsider may not get clusterimagepolicies.signet.dev"), "\(path): \(outsider.body)")
            #expect(try await console.request(path, token: ConsoleFixture.readerToken).status == 200, "\(path) for a reader")
        }
        let detail = try await console.request("/history/\(id)", token: ConsoleFixture.readerToken)
        #expect(detail.body.contains("id=\"decision-source\">console"))
        #expect(detail.body.contains("id=\"decision-user\">verifier"))
        let listed = try await console.request("/history?source=console&namespace=team-a", token: ConsoleFixture.readerToken)
        #expect(listed.body.contains("href=\"/history/\(id)\""))
        let overview = try await console.request("/api/overview?range=1h&source=console", token: ConsoleFixture.readerToken)
        #expect(overview.status == 200)
    }

    @Test func consolePortMustDifferFromTheWebhookPort() async throws {
        let policies = try LivePolicies.makeDirectory()
        let pki = try TestPKI()
        let result = try await TestProcess.run(TestPaths.signetBinary.path, [
            "serve", "--port", "18443", "--console-port", "18443", "--tls-cert", pki.serverCertFile, "--tls-key", pki.serverKeyFile,
            "--policy-dir", policies.path,
        ])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--console-port must differ from --port"), "\(result.stderr)")
    }
}
