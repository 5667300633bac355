import SignetHTTP
import Testing

@testable import SignetCLI

/// The console's own connection limits: its sign-in page needs no token, so one address cannot
/// take every connection.
@Suite struct ConsoleConnectionLimitTests {
    @Test func oneAddressHoldsAtMostAQuarterOfTheConsolesConnections() throws {
        let options = try ConsoleOptions.parse(["--console-port", "9444"])
        var webhook = HTTPServerConfiguration()
        webhook.port = 8443
        webhook.maxConnections = 4096
        let console = try #require(try options.resolve(webhook: webhook))
        #expect(console.server.maxConnections == 256)
        #expect(console.server.peerLimits.maxConnectionsPerPeer == 64)
    }
}
