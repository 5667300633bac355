import ArgumentParser
import SignetCLI
import SignetCrypto

// OpenSSL keeps its library state until the process is gone (no atexit cleanup racing the
// threads that still use it); this must come before anything else initialises OpenSSL.
OpenSSLLibraryState.keepUntilProcessExit()

// Parses the command line, then runs the chosen subcommand, awaiting the asynchronous ones.
do {
    var command = try SignetCommand.parseAsRoot()
    if let asynchronous = command as? any AsynchronousCommand {
        try await asynchronous.runAsynchronously()
    } else {
        try command.run()
    }
} catch {
    SignetCommand.exit(withError: error)
}
