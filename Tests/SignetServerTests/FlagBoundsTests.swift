import Testing
@testable import SignetCLI

/// Numbers given on the command line or in the environment are checked against what the
/// process can use before anything computes with them: `--max-connections 9223372036854775807`
/// trapped on an integer overflow (SIGILL, no message) where the file-descriptor limit was
/// computed, and a scan concurrency of the same size started that many empty steps per scan.
@Suite struct FlagBoundsTests {
    static let tls = ["--tls-cert", "/nonexistent/tls.crt", "--tls-key", "/nonexistent/tls.key"]

    @Test func connectionsAndLoopsBeyondWhatAProcessCanUseAreRefused() throws {
        for arguments in [["--max-connections", "9223372036854775807"], ["--max-connections", "0"], ["--event-loops", "100000"]] {
            do {
                _ = try ServeCommand.parse(Self.tls + arguments).resolve()
                Issue.record("\(arguments) was accepted")
            } catch {
                #expect("\(error)".contains("--max-connections must be between 1 and 1048576, and --event-loops between 1 and 1024"), "\(error)")
            }
        }
        // Whatever reaches it, the descriptor count saturates instead of trapping.
        #expect(OpenFileLimit.needed(webhookConnections: .max, consoleConnections: .max) == .max)
        #expect(OpenFileLimit.needed(webhookConnections: 1024, consoleConnections: 256) == UInt64(1024 + 256 + OpenFileLimit.reserveForOtherUses))
    }
}
