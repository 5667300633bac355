import ArgumentParser
import SignetCLI

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
