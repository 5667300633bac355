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
    /// without one; another address, and a signed-in user's cached answers, are not held back.
    @Test func anAddressSendingUnknownTokensGetsItsShareOfReviews() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.addUser(token: "alice-token", username: "alice")
        try server.grant("alice", verb: "get", group: "signet.dev", resource: "clusterimagepolicies")
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        let authorizer = KubernetesConsoleAuthorizer(
            client: client, rules: ConsoleAccessRules(), cacheTTL: .seconds(300), cacheCapacity: 64,
            limiter: ConsoleReviewLimiter(perAddressBurst: 5, perAddressRefill: 3600), logger: Logger(label: "test"))
        func allowed(_ decision: ConsoleAccessDecision) -> String? {
            if case .allowed(let user) = decision { return user.username }
            return nil
        }
        #expect(allowed(await authorizer.decide(token: "alice-token", action: .read, peer: "10.0.0.9:1000")) == "alice")
        var decisions: [ConsoleAccessDecision] = []
        for attempt in 0..<50 {
            decisions.append(await authorizer.decide(token: "guess-\(attempt)", action: .read, peer: "10.0.0.7:\(40000 + attempt)"))
        }
        let reviewed = decisions.filter { if case .unauthenticated = $0 { return true } else { return false } }.count
        let throttled = decisions.filter { if case .throttled = $0 { return true } else { return false } }.count
        #expect(reviewed == 5 && throttled == 45, "\(reviewed) reviewed, \(throttled) throttled")
        #expect(try server.reviews().filter { $0.hasPrefix("TokenReview") }.count == 6)
        // alice's address spent two of its five (her TokenReview and SubjectAccessReview); her
        // answers are cached, and another address is reviewed.
        #expect(allowed(await authorizer.decide(token: "alice-token", action: .read, peer: "10.0.0.9:1001")) == "alice")
        #expect(await authorizer.decide(token: "guess-x", action: .read, peer: "[fd00::1]:443") == .unauthenticated("the API server did not authenticate the token"))
        #expect(ConsoleReviewLimiter.address(of: "[fd00::1]:443") == "fd00::1" && ConsoleReviewLimiter.address(of: "10.0.0.7:40000") == "10.0.0.7")
    }
}
