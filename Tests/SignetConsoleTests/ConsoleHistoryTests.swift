import Foundation
import SignetHTTP
import SignetHistory
import SignetKube
import SignetPolicy
import SignetAdmission
import SignetTestSupport
import Testing

@testable import SignetConsole

/// The History page, a decision's page, the Overview charts and their `/api/` twins over a real
/// history store (SQLite, and PostgreSQL when Debian's postgresql is installed), through the
/// console's request handler with a token table in place of the API server: the same filters
/// and paging on both backends, forms that work without script, and 401/403 on every new endpoint.
@Suite(.serialized)
struct ConsoleHistoryTests {
    /// 2026-06-01T00:00:00Z, a whole hour.
    static let base = Date(timeIntervalSince1970: 1_780_272_000)
    static let digestA = "sha256:" + String(repeating: "a", count: 64)
    static let digestB = "sha256:" + String(repeating: "b", count: 64)

    /// `reader` may read, `outsider` is authenticated and may not, anything else is not a token.
    struct TokenTable: ConsoleAuthorizer {
        func decide(token: String, action: ConsoleAction, peer: String) async -> ConsoleAccessDecision {
            switch (token, action) {
            case ("reader", .read): return .allowed(KubernetesUserInfo(username: "reader"))
            case ("reader", .verify): return .forbidden(KubernetesUserInfo(username: "reader"), "reader may not create verifications.console.signet.dev")
            case ("outsider", _): return .forbidden(KubernetesUserInfo(username: "outsider"), "outsider may not get clusterimagepolicies.signet.dev")
            case ("flood", _): return .throttled("too many sign-in and access checks from this address; retry in a few seconds")
            case ("verifier", _): return .allowed(KubernetesUserInfo(username: "verifier"))
            default: return .unauthenticated("the TokenReview did not authenticate the token")
            }
        }

        /// Only `verifier` may create Pods, and only in `team`.
        func decideCreatingPods(token: String, namespace: String, peer: String) async -> ConsoleAccessDecision {
            guard token == "verifier" || token == "reader" else { return .unauthenticated("the TokenReview did not authenticate the token") }
            return token == "verifier" && namespace == "team"
                ? .allowed(KubernetesUserInfo(username: token))
                : .forbidden(KubernetesUserInfo(username: token), "user \(token) may not create pods in namespace \(namespace)")
        }
    }

    /// Five decisions a minute apart, oldest first.
    static func entries() -> [HistoryEntry] {
        func image(_ reference: String, _ verdict: String, digest: String?, policy: String, reason: String, exemptions: [String] = []) -> HistoryImageRecord {
            HistoryImageRecord(
                image: reference, reference: digest.map { "\(HistoryImageRecord.repository(of: reference))@\($0)" } ?? reference, digest: digest,
                container: "app", policies: [policy], authorities: ["\(policy)/key: \(verdict == "deny" ? "failed" : "passed")"],
                verdict: verdict, reason: reason, trustChain: verdict == "allow" ? "\(policy)/key via key sha256:0123 (signature)" : "",
                exemptions: exemptions)
        }
        func entry(_ minute: Int, _ namespace: String, _ allowed: Bool, source: HistoryEntry.Source = .admission, dryRun: Bool = false,
                   user: String = "system:serviceaccount:kube-system:replicaset-controller", hits: Int = 0, misses: Int = 1,
                   _ images: [HistoryImageRecord]) -> HistoryEntry {
            HistoryEntry(
                source: source, time: base.addingTimeInterval(Double(minute) * 60), namespace: namespace, objectKind: "Pod",
                name: "pod-\(minute)", user: user, operation: "CREATE", dryRun: dryRun, uid: "uid-\(minute)", latencyMs: Double(minute) + 0.5,
                allowed: allowed, reason: allowed ? nil : images.first?.reason, policyRevision: "rev-1", cacheHits: hits, cacheMisses: misses,
                images: images)
        }
        return [
            entry(0, "shop", true, [image("ghcr.io/acme/web:1.0", "allow", digest: digestA, policy: "web", reason: "signed by key web")]),
            entry(1, "shop", false, [image("ghcr.io/acme/worker:2.0", "deny", digest: digestB, policy: "web-strict", reason: "no signature by the key of web-strict")]),
            entry(2, "billing", false, dryRun: true, [image("docker.io/library/nginx:1.27", "deny", digest: nil, policy: "no-hub", reason: "Docker Hub images are not trusted")]),
            entry(3, "billing", true, hits: 1, misses: 0, [image("docker.io/library/redis:7", "allow", digest: nil, policy: "no-hub", reason: "allowed by PolicyException billing/legacy", exemptions: ["PolicyException billing/legacy"])]),
            entry(4, "shop", false, source: .console, dryRun: true, user: "alice", [image("ghcr.io/acme/worker:2.0", "deny", digest: digestB, policy: "web-strict", reason: "no signature by the key of web-strict")]),
        ]
    }

    /// An address over its share of reviews (``ConsoleReviewLimiter``) is answered 429 with
    /// `Retry-After`, on pages, the API and the sign-in form alike.
    @Test func aThrottledCallerIsAnswered429WithRetryAfter() async throws {
        let handler = Self.handler(nil)
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer flood")
        for target in ["/", "/api/history"] {
            let response = await handler.handle(HTTPRequest(method: "GET", target: target, headers: headers), context: HTTPRequestContext(remoteAddress: "10.0.0.7:1"))
            #expect(response.status == 429, "\(target)")
            #expect(response.headers["Retry-After"] == "2", "\(target)")
            #expect(String(decoding: response.body, as: UTF8.self).contains("too many sign-in and access checks"), "\(target)")
        }
        var form = HTTPHeaders()
        form.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        let login = await handler.handle(
            HTTPRequest(method: "POST", target: "/login", headers: form, body: Array("token=flood".utf8)), context: HTTPRequestContext(remoteAddress: "10.0.0.7:1"))
        #expect(login.status == 429)
        #expect(login.headers["Retry-After"] == "2")
    }

    static func handler(_ store: (any HistoryStore)?) -> ConsoleRequestHandler {
        let evaluator = PolicyEvaluator(policies: PolicySet(policies: [], revision: "empty"))
        let now = base.addingTimeInterval(1800)
        return ConsoleRequestHandler(
            authorizer: TokenTable(), runner: VerificationRunner(evaluator: { evaluator }), feed: DecisionFeed(), history: store,
            policies: { evaluator.policies }, clock: { now })
    }

    static func get(_ handler: ConsoleRequestHandler, _ target: String, token: String? = "reader") async -> (status: Int, body: String) {
        var headers = HTTPHeaders()
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = await handler.handle(HTTPRequest(method: "GET", target: target, headers: headers), context: HTTPRequestContext(remoteAddress: "127.0.0.1:1"))
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    static func json(_ body: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], "\(body)")
    }

    /// The minutes (of ``entries()``) `GET /api/history?<query>` answers, and its next cursor.
    static func minutes(_ handler: ConsoleRequestHandler, _ query: String) async throws -> (minutes: [Int], next: String?) {
        let answer = await get(handler, "/api/history?" + query)
        #expect(answer.status == 200, "\(query): \(answer.body)")
        let object = try json(answer.body)
        let entries = try #require(object["entries"] as? [[String: Any]])
        let minutes = entries.compactMap { ($0["name"] as? String)?.split(separator: "-").last.flatMap { Int($0) } }
        return (minutes, object["nextCursor"] as? String)
    }

    /// Everything the console reads from `store`, which holds ``entries()``.
    static func check(_ store: any HistoryStore) async throws {
        try await store.append(entries())
        let ids = try await store.query(HistoryQuery(limit: 10)).entries.reversed().map { try #require($0.id) }
        let handler = handler(store)

        // The door: every new endpoint wants a token, a reviewed one, and the read right.
        for path in ["/api/history", "/api/history/\(ids[1])", "/api/overview", "/history", "/history/\(ids[1])", "/?range=7d"] {
            #expect(await get(handler, path, token: nil).status == 401, "\(path) without a token")
            #expect(await get(handler, path, token: "not-a-token").status == 401, "\(path) with a refused token")
            let outsider = await get(handler, path, token: "outsider")
            #expect(outsider.status == 403, "\(path) denied by the SubjectAccessReview")
            #expect(outsider.body.contains("outsider may not get clusterimagepolicies.signet.dev"), "\(path): \(outsider.body)")
            #expect(await get(handler, path).status == 200, "\(path) for a reader")
        }

        // The API: each filter, on the same queries as `signet history`.
        #expect(try await minutes(handler, "").minutes == [4, 3, 2, 1, 0])
        #expect(try await minutes(handler, "namespace=billing").minutes == [3, 2])
        #expect(try await minutes(handler, "image=ghcr.io%2Facme%2Fworker&verdict=deny").minutes == [4, 1])
        #expect(try await minutes(handler, "image=ghcr.io%2Facme%2Fweb%3A1.0").minutes == [0])
        #expect(try await minutes(handler, "digest=\(digestA)").minutes == [0])
        #expect(try await minutes(handler, "policy=web-strict").minutes == [4, 1])
        #expect(try await minutes(handler, "policy=web").minutes == [0], "web-strict is another policy")
        #expect(try await minutes(handler, "decision=denied").minutes == [4, 2, 1])
        #expect(try await minutes(handler, "decision=allowed&namespace=billing").minutes == [3])
        #expect(try await minutes(handler, "source=console").minutes == [4])
        #expect(try await minutes(handler, "since=2026-06-01T00%3A01%3A00Z&until=2026-06-01T00%3A03%3A00Z").minutes == [2, 1])
        #expect(try await minutes(handler, "since=2026-06-01T00%3A03").minutes == [4, 3], "a form's datetime-local value, in UTC")
        // Paging: a page at a time through the cursor, to the end.
        let first = try await minutes(handler, "namespace=shop&limit=1")
        #expect(first.minutes == [4])
        let second = try await minutes(handler, "namespace=shop&limit=1&cursor=\(try #require(first.next))")
        #expect(second.minutes == [1])
        let third = try await minutes(handler, "namespace=shop&limit=1&cursor=\(try #require(second.next))")
        #expect(third.minutes == [0])
        #expect(third.next == nil)
        // Bad filters are refused, naming the field.
        for (query, words) in [
            ("verdict=bogus", "verdict must be"), ("decision=maybe", "decision must be"), ("source=kubectl", "source must be"),
            ("since=yesterday", "since must be a time"), ("since=2026-06-02T00%3A00%3A00Z&until=2026-06-01T00%3A00%3A00Z", "until must be after since"),
            ("limit=0", "limit must be"), ("limit=501", "limit must be"), ("cursor=zzz", "cursor"),
            // Years the formatter reads but 64-bit microseconds cannot hold: refused, never converted.
            ("since=999999999-01-01T00%3A00%3A00Z", "since must lie between the years 0001 and 9999"),
            ("until=300000-01-01T00%3A00%3A00Z", "until must lie between the years 0001 and 9999"),
        ] {
            let refused = await get(handler, "/api/history?" + query)
            #expect(refused.status == 400, "\(query)")
            #expect(refused.body.contains(words), "\(query): \(refused.body)")
        }
        // The HTML page refuses them alike, and the console (with the webhook beside it) is still up.
        let farFuture = await get(handler, "/history?until=300000-01-01T00%3A00%3A00Z")
        #expect(farFuture.status == 400, "\(farFuture.body)")
        #expect(farFuture.body.contains("until must lie between the years 0001 and 9999"))
        #expect(await get(handler, "/api/history").status == 200)
        // One decision, whole.
        let detail = try json(await get(handler, "/api/history/\(ids[1])").body)
        #expect(detail["id"] as? Int == Int(ids[1]))
        #expect(detail["namespace"] as? String == "shop")
        #expect(detail["source"] as? String == "admission")
        let detailImages = try #require(detail["images"] as? [[String: Any]])
        #expect(detailImages.first?["policies"] as? [String] == ["web-strict"])
        #expect(detailImages.first?["reason"] as? String == "no signature by the key of web-strict")
        #expect(await get(handler, "/api/history/999999").status == 404)
        #expect(await get(handler, "/api/history/abc").status == 404)

        // The History page: a GET form holding the filters, the rows, links to the next and first page.
        let page = await get(handler, "/history?namespace=shop&limit=1")
        #expect(page.status == 200)
        #expect(page.body.contains("<form method=\"get\" action=\"/history\""))
        #expect(page.body.contains("name=\"namespace\" id=\"filter-namespace\" size=\"14\" placeholder=\"any\" value=\"shop\""), "the form keeps the filter")
        #expect(page.body.contains("data-live=\"/history/events\""), "the live feed stays")
        #expect(page.body.contains("href=\"/history/\(ids[4])\""))
        #expect(!page.body.contains("href=\"/history/\(ids[1])\""))
        let next = try #require(page.body.components(separatedBy: "id=\"next-page\"").first?.components(separatedBy: "href=\"").last?
            .components(separatedBy: "\"").first).replacingOccurrences(of: "&amp;", with: "&")
        #expect(next.hasPrefix("/history?namespace=shop&limit=1&cursor="), "\(next)")
        let nextPage = await get(handler, next)
        #expect(nextPage.body.contains("href=\"/history/\(ids[1])\""))
        #expect(nextPage.body.contains("id=\"first-page\""))
        #expect(!nextPage.body.contains("href=\"/history/\(ids[4])\""))
        let refusedPage = await get(handler, "/history?verdict=bogus")
        #expect(refusedPage.status == 400)
        #expect(refusedPage.body.contains("id=\"history-error\""))
        #expect(refusedPage.body.contains("value=\"\"") && refusedPage.body.contains("<select name=\"verdict\""))
        #expect(await get(handler, "/history?image=%3Cscript%3E").body.contains("value=\"&lt;script&gt;\""), "values are escaped")
        // A quote followed by a combining mark is one Swift Character that is not a quote, and
        // still a quote to the browser: it must not end the attribute.
        let combined = Array(await get(handler, "/history?image=%22%CC%81%20autofocus%20x%3Dy").body.utf8)
        #expect(combined.contains(Array("value=\"&quot;\u{301} autofocus x=y\"".utf8)), "the quote is escaped")
        #expect(!combined.contains(Array("\"\u{301}".utf8)), "a raw quote before the combining mark")

        // A decision's page: each image with its policy, authority, verdict, reason, trust chain, exemption.
        let denied = await get(handler, "/history/\(ids[1])")
        for text in ["web-strict/key: failed", "no signature by the key of web-strict", "ghcr.io/acme/worker@\(digestB)",
                     "id=\"decision-user\">system:serviceaccount:kube-system:replicaset-controller", "id=\"decision-dry-run\">no",
                     "id=\"decision-latency\">1.50 ms", "badge-deny"] {
            #expect(denied.body.contains(text), "\(text)")
        }
        #expect(await get(handler, "/history/\(ids[0])").body.contains("web/key via key sha256:0123 (signature)"), "the trust chain summary")
        #expect(await get(handler, "/history/\(ids[2])").body.contains("dry run (nothing was admitted)"))
        #expect(await get(handler, "/history/\(ids[3])").body.contains("id=\"image-0-exemptions\">PolicyException billing/legacy"))
        let console = await get(handler, "/history/\(ids[4])")
        #expect(console.body.contains("id=\"decision-source\">console") && console.body.contains("id=\"decision-user\">alice"))
        #expect(await get(handler, "/history/999999").status == 404)

        // The Overview: server-drawn charts of the last day (admissions only) and the most refused images.
        let overview = await get(handler, "/")
        #expect(overview.status == 200)
        for chart in ["chart-decisions", "chart-cache", "chart-latency"] { #expect(overview.body.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"\(chart)\"")) }
        #expect(overview.body.components(separatedBy: "class=\"bar\"").count - 1 == 2, "one hour holds the four decisions and their two denies")
        #expect(!overview.body.contains("style="), "no inline style: the Content-Security-Policy forbids it")
        let withoutNamespace = overview.body.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        #expect(!withoutNamespace.contains("http://") && !withoutNamespace.contains("https://"), "no external asset")
        #expect(overview.body.contains("id=\"overview-totals\">4 decisions, 2 denied, cache hit rate 25%"), "\(overview.body)")
        let refused = try #require(overview.body.components(separatedBy: "id=\"top-refused\"").last)
        let nginx = try #require(refused.range(of: "docker.io/library/nginx:1.27"))
        let worker = try #require(refused.range(of: "ghcr.io/acme/worker@\(digestB)"))
        #expect(nginx.lowerBound < worker.lowerBound, "as many denials: the latest first")
        #expect(refused.contains("href=\"/history?image=docker.io%2Flibrary%2Fnginx%3A1.27&amp;verdict=deny&amp;sender=api-server\""),
                "the denials it counted, the API server's: \(refused)")
        #expect(await get(handler, "/?range=2y").status == 400)
        let numbers = try json(await get(handler, "/api/overview?range=1h").body)
        let buckets = try #require(numbers["buckets"] as? [[String: Any]])
        #expect(buckets.count == 12)
        // Five-minute buckets from 23:30 to 00:30: the four admissions fall in the one from 00:00.
        #expect(buckets.map { $0["decisions"] as? Int ?? -1 } == [0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0])
        #expect(buckets[6]["start"] as? String == "2026-06-01T00:00:00Z")
        #expect((numbers["topRefused"] as? [[String: Any]])?.count == 2)
        #expect(await get(handler, "/api/overview?range=2y").status == 400)
    }

    @Test func theHistoryOverSQLite() async throws {
        let directory = TemporaryDirectory(prefix: "signet-console-history")
        let store = try await SQLiteHistoryStore.open(path: directory.file("history.sqlite").path)
        try await Self.check(store)
        await store.close()
    }

    @Test(.enabled(if: PostgresServerFixture.isAvailable, "Debian's postgresql is not installed"))
    func theHistoryOverPostgreSQL() async throws {
        let server = try await PostgresServerFixture.start()
        defer { server.stop() }
        try await offThePool { try server.createDatabase("console") }
        let store = try await PostgresHistoryStore.open(try PostgresConnectionString(parsing: server.connectionString(database: "console")))
        try await Self.check(store)
        await store.close()
    }

    @Test func withoutAStoreThePagesSaySoAndTheAPIAnswers404() async throws {
        let handler = Self.handler(nil)
        let page = await Self.get(handler, "/history")
        #expect(page.status == 200)
        #expect(page.body.contains("id=\"history-off\""))
        #expect(page.body.contains("data-live=\"/history/events\""))
        #expect(await Self.get(handler, "/").body.contains("id=\"history-off\""))
        #expect(await Self.get(handler, "/api/history").status == 404)
        #expect(await Self.get(handler, "/api/history/1").status == 404)
        #expect(await Self.get(handler, "/api/overview").status == 404)
        #expect(await Self.get(handler, "/api/history", token: nil).status == 401)
    }
}

/// A page that ended where the image filters' search window did says how far back it searched,
/// and its next link searches further back.
struct ConsoleHistoryWindowTests {
    @Test func aPageEndedByTheSearchWindowSaysHowFarItSearched() throws {
        let filters = try HistoryFilters.parse(HTTPRequest(method: "GET", target: "/history?policy=rare", headers: [:])).get()
        let cursor = try #require(HistoryCursor("1780272480000000.8"))
        let windowed = HistoryPage(entries: [], nextCursor: cursor, searchedThrough: ConsoleHistoryTests.base.addingTimeInterval(480))
        let html = HistoryPages.html(filters: filters, values: filters.values, page: windowed, storeOn: true, problem: nil)
        #expect(html.contains("id=\"history-searched\""), "\(html)")
        #expect(html.contains("back to 2026-06-01T00:08:00Z"), "\(html)")
        #expect(html.contains("id=\"next-page\">Search further back</a>"), "\(html)")
        #expect(html.contains("cursor=1780272480000000.8"))
        let plain = HistoryPages.html(filters: filters, values: filters.values, page: HistoryPage(entries: [], nextCursor: cursor), storeOn: true, problem: nil)
        #expect(!plain.contains("history-searched") && plain.contains("id=\"next-page\">Next page</a>"))
    }
}

/// A review not known to come from the API server (``HistoryEntry/fromAPIServer`` false) is
/// kept as such from its audit record, marked on the History page, the decision's page and the
/// live table, found by the `sender` filter, and left out of the Overview.
struct ConsoleUnknownSenderTests {
    @Test func reviewsNotFromTheAPIServerAreMarkedAndFiltered() async throws {
        let subject = AdmissionSubject(namespace: "shop", name: "web", kind: "Pod", operation: "CREATE", dryRun: false, userName: "mallory")
        func record(from client: AdmissionClient) -> AdmissionAuditRecord {
            AdmissionAuditRecord.make(
                uid: "u", subject: subject, allowed: false, reason: "denied", decision: nil, policyRevision: nil, latency: .milliseconds(1),
                time: ConsoleHistoryTests.base, client: client)
        }
        let forged = HistoryEntry.admission(record(from: AdmissionClient(address: "10.9.9.9:5000", fromAPIServer: false)), time: ConsoleHistoryTests.base)
        let real = HistoryEntry.admission(record(from: AdmissionClient(address: "10.0.0.1:6000")), time: ConsoleHistoryTests.base.addingTimeInterval(60))
        #expect(!forged.fromAPIServer && real.fromAPIServer)

        let directory = TemporaryDirectory(prefix: "signet-console-senders")
        let store = try await SQLiteHistoryStore.open(path: directory.file("history.sqlite").path)
        try await store.append([forged, real])
        let ids = try await store.query(HistoryQuery(limit: 10)).entries.compactMap(\.id)
        let realID: Int64 = try #require(ids.first)
        let forgedID: Int64 = try #require(ids.last)
        let handler = ConsoleHistoryTests.handler(store)

        let unknown = await ConsoleHistoryTests.get(handler, "/history?sender=unknown")
        #expect(unknown.status == 200)
        #expect(unknown.body.contains("/history/\(forgedID)\"") && !unknown.body.contains("/history/\(realID)\""), "\(unknown.body)")
        #expect(unknown.body.contains(HistoryPages.unknownSender))
        let apiServer = await ConsoleHistoryTests.get(handler, "/history?sender=api-server")
        #expect(apiServer.body.contains("/history/\(realID)\"") && !apiServer.body.contains(HistoryPages.unknownSender))
        #expect(await ConsoleHistoryTests.get(handler, "/api/history?sender=someone").status == 400)

        let forgedPage = await ConsoleHistoryTests.get(handler, "/history/\(forgedID)")
        #expect(forgedPage.body.contains("id=\"decision-sender\"") && forgedPage.body.contains("10.9.9.9:5000"), "\(forgedPage.body)")
        #expect(!(await ConsoleHistoryTests.get(handler, "/history/\(realID)")).body.contains("decision-sender"))
        let forgedJSON = try ConsoleHistoryTests.json(await ConsoleHistoryTests.get(handler, "/api/history/\(forgedID)").body)
        #expect(forgedJSON["fromAPIServer"] as? Bool == false)

        let overview = try ConsoleHistoryTests.json(await ConsoleHistoryTests.get(handler, "/api/overview?range=1h").body)
        let buckets = try #require(overview["buckets"] as? [[String: Any]], "\(overview)")
        #expect(buckets.reduce(0) { $0 + ($1["denies"] as? Int ?? 0) } == 1, "only the API server's review: \(buckets)")
        #expect((overview["topRefused"] as? [Any])?.isEmpty == true, "a review without images refuses none")

        let feed = DecisionFeed(clock: { ConsoleHistoryTests.base })
        let stream = try #require(feed.subscribe(for: "reader"))
        feed.record(record(from: AdmissionClient(address: "10.9.9.9:5000", fromAPIServer: false)))
        feed.record(record(from: AdmissionClient(address: "10.0.0.1:6000")))
        var rows: [HistoryPages.LiveRow] = []
        for await published in stream {
            rows.append(HistoryPages.LiveRow(published.decision))
            if rows.count == 2 { break }
        }
        #expect(rows.map { $0.cells[4].contains(HistoryPages.unknownSender) } == [true, false])
        await store.close()
    }
}
