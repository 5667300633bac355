import SignetHTTP
import Testing

@testable import SignetCLI

/// The console's own connection and body limits: its sign-in page needs no token, so one address
/// cannot take every connection, and no one can make it read the webhook's 8 MiB bodies.
@Suite struct ConsoleConnectionLimitTests {
    @Test func oneAddressHoldsAtMostAQuarterOfTheConsolesConnections() throws {
        let options = try ConsoleOptions.parse(["--console-port", "9444"])
        var webhook = HTTPServerConfiguration()
        webhook.port = 8443
        webhook.maxConnections = 4096
        let console = try #require(try options.resolve(webhook: webhook))
        #expect(console.server.maxConnections == 256)
        #expect(console.server.peerLimits.maxConnectionsPerPeer == 64)
        #expect(console.server.parserLimits.maxBodyBytes == 64 << 10)
        #expect(webhook.parserLimits.maxBodyBytes == 8 << 20)
    }
}
