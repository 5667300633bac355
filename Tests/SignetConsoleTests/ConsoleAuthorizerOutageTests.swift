import Foundation
import Logging
import SignetConsole
import SignetKube
import SignetTestSupport
import Testing

/// When the API server cannot review a token, the console answers 503 without passing on the
/// client library's error: the client has not been authenticated, and the error names the API
/// server's address and its own words. The log has it.
@Suite struct ConsoleAuthorizerOutageTests {
    @Test func aTokenReviewThatCannotBeMadeTellsTheClientNoDetails() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        server.stop()
        let authorizer = KubernetesConsoleAuthorizer(
            client: client, rules: ConsoleAccessRules(), cacheTTL: .seconds(1), cacheCapacity: 8, logger: Logger(label: "test"))
        let decision = await authorizer.decide(token: "whoever", action: .read, peer: "10.0.0.7:40000")
        guard case .unavailable(let message) = decision else {
            Issue.record("expected unavailable, got \(decision)")
            return
        }
        #expect(message.hasPrefix("the API server could not review the token"), "\(message)")
        let port = try #require(URL(string: server.url)?.port)
        #expect(!message.contains("\(port)") && !message.contains("127.0.0.1"), "\(message)")
    }

    /// Bearer tokens the console has not seen miss its cache, and each cost a TokenReview under
    /// signet's identity: one address gets its share of reviews, then is answered "throttled"
    /// without one; addresses of one IPv6 /64 share one share; a token authenticated lately is
    /// reviewed whatever the shares say, so a signed-in user keeps the console through a flood.
    @Test func anAddressSendingUnknownTokensGetsItsShareOfReviews() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.addUser(token: "alice-token", username: "alice")
        try server.grant("alice", verb: "get", group: "signet.dev", resource: "clusterimagepolicies")
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        let authorizer = KubernetesConsoleAuthorizer(
            client: client, rules: ConsoleAccessRules(), cacheTTL: .zero, cacheCapacity: 64,
            limiter: ConsoleReviewLimiter(
                perAddressBurst: 5, perAddressRefill: 3600, totalBurst: 11, totalRefill: 3600, perTokenBurst: 20, perTokenRefill: 3600),
            logger: Logger(label: "test"))
        // alice signs in (a TokenReview and a SubjectAccessReview from her address's five).
        #expect(Self.allowed(await authorizer.decide(token: "alice-token", action: .read, peer: "10.0.0.9:1000")) == "alice")
        var decisions: [ConsoleAccessDecision] = []
        for attempt in 0..<50 {
            decisions.append(await authorizer.decide(token: "guess-\(attempt)", action: .read, peer: "10.0.0.7:\(40000 + attempt)"))
        }
        let reviewed = decisions.filter { if case .unauthenticated = $0 { return true } else { return false } }.count
        #expect(reviewed == 5 && decisions.filter(Self.isThrottled).count == 45, "\(reviewed) reviewed")
        // One host rotating through its /64: one share.
        for attempt in 0..<10 {
            decisions.append(await authorizer.decide(token: "v6-\(attempt)", action: .read, peer: "[2001:db8:1:2::\(attempt + 1)]:443"))
        }
        #expect(decisions.suffix(10).filter(Self.isThrottled).count == 5)
        // The total (11: alice's access review came after her token was known) is spent: another
        // address is held back, but alice is reviewed again
        // (her answers are not cached here) and let in.
        #expect(Self.isThrottled(await authorizer.decide(token: "guess-x", action: .read, peer: "10.0.0.8:1")))
        #expect(Self.allowed(await authorizer.decide(token: "alice-token", action: .read, peer: "10.0.0.9:1001")) == "alice")
        #expect(try server.reviews().filter { $0.hasPrefix("TokenReview") }.count == 1 + 5 + 5 + 1)
        // A signed-in token has a share of its own: a verification per made-up namespace (a
        // SubjectAccessReview each, the cache missing every time) stops at it.
        try server.grant("alice", verb: "create", group: "", resource: "pods")
        var namespaces: [ConsoleAccessDecision] = []
        for index in 0..<40 {
            namespaces.append(await authorizer.decideCreatingPods(token: "alice-token", namespace: "n-\(index)", peer: "10.0.0.9:1002"))
        }
        // alice's own share (20) paid for her second sign-in's two reviews and her first access
        // review; each verification here costs two (no cache in this test): 8 are let in.
        let throttledNamespaces = namespaces.filter(Self.isThrottled).count
        #expect(throttledNamespaces == 32, "\(throttledNamespaces) of 40 throttled")
        #expect(namespaces.prefix(8).allSatisfy { Self.allowed($0) == "alice" })
        #expect(ConsoleReviewLimiter.address(of: "[2001:db8:1:2::7]:443") == "2001:db8:1:2::/64")
        #expect(ConsoleReviewLimiter.address(of: "10.0.0.7:40000") == "10.0.0.7")
        #expect(ConsoleReviewLimiter.address(of: "[::ffff:10.0.0.7]:1") == "10.0.0.7")
    }

    /// Addresses flooding made-up tokens spend the total of addresses nothing was allowed from;
    /// a new token from an address a token was allowed from (Prometheus' renewed token) is
    /// reviewed from the other, and from a share of that exact IP's own, which a neighbour in
    /// the same IPv6 /64 does not spend.
    @Test func aRenewedTokenFromAnAllowedAddressIsReviewedThroughAFlood() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.addUser(token: "prometheus-token-1", username: "system:serviceaccount:monitoring:prometheus")
        try server.addUser(token: "prometheus-token-2", username: "system:serviceaccount:monitoring:prometheus")
        try server.addUser(token: "alice-token", username: "alice")
        // The double matches a non-resource URL only by a grant of everything.
        try server.grant("system:serviceaccount:monitoring:prometheus", verb: "*", group: "*", resource: "*")
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        let authorizer = KubernetesConsoleAuthorizer(
            client: client, rules: ConsoleAccessRules(), cacheTTL: .seconds(3600), cacheCapacity: 256,
            limiter: ConsoleReviewLimiter(
                perAddressBurst: 10, perAddressRefill: 3600, totalBurst: 13, totalRefill: 3600, perTokenBurst: 20, perTokenRefill: 3600),
            logger: Logger(label: "test"))
        let prometheus = "10.0.3.4:50000"
        #expect(Self.allowed(await authorizer.decideScrape(token: "prometheus-token-1", path: "/metrics", peer: prometheus)) != nil)
        // Ten addresses send made-up tokens: the others' total (13, one spent on Prometheus' first
        // token) stops the flood at 12.
        var flood: [ConsoleAccessDecision] = []
        for address in 0..<10 {
            for attempt in 0..<4 {
                flood.append(await authorizer.decideScrape(token: "guess-\(address)-\(attempt)", path: "/metrics", peer: "10.0.1.\(address):1"))
            }
        }
        let refused = flood.filter { if case .unauthenticated = $0 { return true } else { return false } }.count
        #expect(refused == 12 && flood.filter(Self.isThrottled).count == 28, "\(refused) reviewed")
        // The others' total is spent: a new address with a real token waits ...
        #expect(Self.isThrottled(await authorizer.decide(token: "alice-token", action: .read, peer: "10.0.2.1:1")))
        // ... but Prometheus' renewed token, from where its last one was allowed, is reviewed and let scrape.
        #expect(Self.allowed(await authorizer.decideScrape(token: "prometheus-token-2", path: "/metrics", peer: prometheus)) != nil)
        // A made-up token from that address is reviewed (and refused): its own share pays.
        #expect(!Self.isThrottled(await authorizer.decideScrape(token: "guess-p", path: "/metrics", peer: prometheus)))

        // Known by the exact IP: a neighbour in the same IPv6 /64 spends the /64's share, not the
        // known address's own.
        let limiter = ConsoleReviewLimiter(perAddressBurst: 3, perAddressRefill: 3600, totalBurst: 100, totalRefill: 3600)
        limiter.allowed(peer: "[2001:db8:7:7::10]:443")
        #expect((0..<5).filter { limiter.mayReview(token: "n-\($0)", peer: "[2001:db8:7:7::11]:443") }.count == 3)
        #expect((0..<5).filter { limiter.mayReview(token: "k-\($0)", peer: "[2001:db8:7:7::10]:443") }.count == 3)
        #expect(ConsoleReviewLimiter.host(of: "[::ffff:10.0.0.7]:1") == "10.0.0.7")
        #expect(ConsoleReviewLimiter.host(of: "[2001:db8:7:7::10]:443") == "2001:db8:7:7:0:0:0:10")
    }

    static func allowed(_ decision: ConsoleAccessDecision) -> String? {
        if case .allowed(let user) = decision { return user.username }
        return nil
    }

    static func isThrottled(_ decision: ConsoleAccessDecision) -> Bool {
        if case .throttled = decision { return true }
        return false
    }
}
