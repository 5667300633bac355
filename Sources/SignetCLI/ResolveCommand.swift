import ArgumentParser
import Foundation
import Logging
import SignetRegistry

/// `signet resolve IMAGE`: what a registry says an image reference is — the digest signatures
/// are looked up under (OCI distribution spec v1.1, "Pulling manifests"), its media type and
/// platforms, and with `--referrers` what is attached to it (cosign tags, OCI 1.1 referrers or
/// the referrers tag schema).
struct ResolveCommand: ParsableCommand, AsynchronousCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Resolve an image reference to its digest and list what is attached to it.",
        discussion: "Exit status: 0 resolved, 2 error (invalid reference, not found, unauthorized, unreachable)."
    )

    @Argument(help: "Image reference, e.g. ghcr.io/org/app:v1 or nginx.")
    var image: String

    @Flag(name: .long, help: "Also list signatures, attestations and other referrers attached to the image.")
    var referrers = false

    @OptionGroup var registryFlags: RegistryFlags

    @Option(name: .long, help: "Give up after this long, e.g. 30s.")
    var timeout: String = "30s"

    func runAsynchronously() async throws {
        Observability.bootstrapLogging(format: .text, level: .warning)
        guard let budget = GoDuration.parse(timeout), budget > .zero else {
            throw ValidationError("--timeout \(timeout) is not a duration (examples: 10s, 500ms, 2m)")
        }
        let reference: ImageReference
        do {
            reference = try ImageReference(parsing: image)
        } catch {
            throw CommandFailure.report("\(error)")
        }
        let client: RegistryClient
        do {
            let (configuration, credentials) = try registryFlags.resolve(useDefaultDockerConfig: true)
            client = try RegistryClient(configuration: configuration, credentials: credentials, logger: Logger(label: "signet.registry"))
        } catch {
            throw CommandFailure.report("\(error)")
        }
        defer { client.shutdown() }
        do {
            let report = try await ResolveReport.make(
                reference, client: client, includeReferrers: referrers, deadline: .now + budget)
            print(report.render(), terminator: "")
        } catch {
            throw CommandFailure.report("\(error)")
        }
    }
}

/// A command that failed for a reason the user must read: printed to standard error, exit 2.
enum CommandFailure {
    static func report(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("signet: \(message)\n".utf8))
        return ExitCode(2)
    }
}
