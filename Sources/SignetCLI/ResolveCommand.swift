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

    @Option(name: .long, help: "PEM CA bundle for registries with private certificates. (env: SIGNET_REGISTRY_CA_BUNDLE)")
    var registryCABundle: String?

    @Option(name: .long, help: "Registry host[:port] to reach over plain HTTP (dangerous; repeatable). (env: SIGNET_ALLOW_INSECURE_REGISTRIES, comma-separated)")
    var allowInsecureRegistry: [String] = []

    @Option(name: .long, help: "Docker config.json with registry credentials. (env: DOCKER_CONFIG/config.json, default ~/.docker/config.json when present)")
    var dockerConfig: String?

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
        let options = try RegistryOptions(
            caBundle: registryCABundle, insecureRegistries: allowInsecureRegistry, dockerConfig: dockerConfig)
        let client = try options.makeClient(logger: Logger(label: "signet.registry"))
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

/// Registry client settings shared by the commands that reach registries.
struct RegistryOptions {
    var configuration: RegistryClientConfiguration
    var credentials: RegistryCredentialStore

    init(caBundle: String?, insecureRegistries: [String], dockerConfig: String?) throws {
        var insecure = Set(insecureRegistries)
        if insecure.isEmpty, let list = ProcessInfo.processInfo.environment["SIGNET_ALLOW_INSECURE_REGISTRIES"] {
            insecure = Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        configuration = RegistryClientConfiguration(
            caBundlePath: EnvironmentOption.string(caBundle, "SIGNET_REGISTRY_CA_BUNDLE"),
            allowInsecureRegistries: insecure)
        credentials = RegistryCredentialStore()
        if let path = Self.dockerConfigPath(explicit: dockerConfig) {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                throw CommandFailure.report("cannot read docker config \(path)")
            }
            do {
                credentials = try RegistryCredentialStore(dockerConfigJSON: bytes)
            } catch {
                throw CommandFailure.report("docker config \(path): \(error)")
            }
        }
    }

    func makeClient(logger: Logger) throws -> RegistryClient {
        do {
            return try RegistryClient(configuration: configuration, credentials: credentials, logger: logger)
        } catch {
            throw CommandFailure.report("\(error)")
        }
    }

    /// An explicit path, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` when it exists.
    static func dockerConfigPath(explicit: String?) -> String? {
        if let explicit { return explicit }
        let environment = ProcessInfo.processInfo.environment
        if let directory = environment["DOCKER_CONFIG"], !directory.isEmpty {
            let path = directory + "/config.json"
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }
        if let home = environment["HOME"] {
            let path = home + "/.docker/config.json"
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }
}

/// A command that failed for a reason the user must read: printed to standard error, exit 2.
enum CommandFailure {
    static func report(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("signet: \(message)\n".utf8))
        return ExitCode(2)
    }
}
