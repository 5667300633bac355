import ArgumentParser

/// The `signet` command line: the admission webhook server and its offline twins.
public struct SignetCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "signet",
        abstract: "A Kubernetes admission webhook that admits a pod only when every image it runs carries a trusted signature.",
        version: SignetVersion.current,
        subcommands: [
            ServeCommand.self, ReviewCommand.self, LintCommand.self, VerifyCommand.self, VerifyBundleCommand.self,
            ResolveCommand.self, ScanCommand.self, HistoryCommand.self, VersionCommand.self,
        ]
    )

    public init() {}
}

/// signet's release version.
public enum SignetVersion {
    public static let current = "0.1.0"
}

/// `signet version`: the release and the libraries it runs on.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print signet's version.")

    func run() {
        print("signet \(SignetVersion.current)")
    }
}

/// A subcommand whose work is asynchronous. The executable awaits `runAsynchronously()` for these
/// and calls `run()` for the others.
public protocol AsynchronousCommand: ParsableCommand {
    func runAsynchronously() async throws
}
