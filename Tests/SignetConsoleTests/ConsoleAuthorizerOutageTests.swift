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
        let decision = await authorizer.decide(token: "whoever", action: .read)
        guard case .unavailable(let message) = decision else {
            Issue.record("expected unavailable, got \(decision)")
            return
        }
        #expect(message.hasPrefix("the API server could not review the token"), "\(message)")
        let port = try #require(URL(string: server.url)?.port)
        #expect(!message.contains("\(port)") && !message.contains("127.0.0.1"), "\(message)")
    }
}
