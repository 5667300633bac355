import ArgumentParser
import Foundation
import SignetRegistry

/// The registry flags `serve`, `verify` and `resolve` share, with their environment twins.
struct RegistryFlags: ParsableArguments {
    @Option(name: .long, help: "PEM CA bundle trusted for registries instead of the system store. (env: SIGNET_REGISTRY_CA_BUNDLE)")
    var registryCABundle: String?

    @Option(name: .long, help: "Registry (host or host:port) reached over plain HTTP; repeatable. Dangerous outside tests. (env: SIGNET_ALLOW_INSECURE_REGISTRIES, comma-separated)")
    var allowInsecureRegistry: [String] = []

    @Option(name: .long, help: "Docker config.json with registry credentials. (env: SIGNET_DOCKER_CONFIG)")
    var dockerConfig: String?

    @Option(name: .long, help: "Memory budget for the bodies of registry responses being downloaded; past it the largest download of the namespace holding the most is stopped (and retried). At least 1 MiB; below 16 MiB the largest blobs cannot be fetched. (env: SIGNET_MAX_BUFFERED_REGISTRY_BYTES, default 67108864)")
    var maxBufferedRegistryBytes: Int?

    @Option(name: .long, help: "Host name lookups of registry requests under way or left running by ended requests (a DNS server that does not answer) before new lookups are refused, naming why; one namespace takes at most a quarter. At least 1. (env: SIGNET_MAX_UNFINISHED_LOOKUPS, default 64)")
    var maxUnfinishedLookups: Int?

    /// The client configuration and credentials these flags describe. With
    /// `useDefaultDockerConfig`, `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` is read
    /// when no config is named (the command-line tools do this; the server does not).
    func resolve(useDefaultDockerConfig: Bool) throws(RegistryFlagsError) -> (RegistryClientConfiguration, RegistryCredentialStore) {
        var configuration = RegistryClientConfiguration()
        configuration.caBundlePath = EnvironmentOption.string(registryCABundle, "SIGNET_REGISTRY_CA_BUNDLE")
        let insecure = allowInsecureRegistry.isEmpty
            ? (EnvironmentOption.string(nil, "SIGNET_ALLOW_INSECURE_REGISTRIES") ?? "").split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            : allowInsecureRegistry
        configuration.allowInsecureRegistries = Set(insecure.filter { !$0.isEmpty })
        do {
            configuration.maximumBufferedResponseBytes = try EnvironmentOption.int(
                maxBufferedRegistryBytes, "SIGNET_MAX_BUFFERED_REGISTRY_BYTES", default: configuration.maximumBufferedResponseBytes)
            configuration.maximumUnfinishedLookups = try EnvironmentOption.int(
                maxUnfinishedLookups, "SIGNET_MAX_UNFINISHED_LOOKUPS", default: configuration.maximumUnfinishedLookups)
        } catch {
            throw RegistryFlagsError(description: "\(error)")
        }
        guard configuration.maximumUnfinishedLookups >= 1 else {
            throw RegistryFlagsError(description: "--max-unfinished-lookups must be at least 1")
        }
        guard configuration.maximumBufferedResponseBytes >= 1 << 20 else {
            throw RegistryFlagsError(description: "--max-buffered-registry-bytes must be at least 1048576 (1 MiB)")
        }
        var credentials = RegistryCredentialStore()
        let named = EnvironmentOption.string(dockerConfig, "SIGNET_DOCKER_CONFIG")
        if let path = named ?? (useDefaultDockerConfig ? Self.defaultDockerConfigPath() : nil) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RegistryFlagsError(description: "cannot read the docker config \(path)")
            }
            do {
                credentials = try RegistryCredentialStore(dockerConfigJSON: [UInt8](data))
            } catch {
                throw RegistryFlagsError(description: "docker config \(path): \(error)")
            }
        }
        return (configuration, credentials)
    }

    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, when it exists.
    static func defaultDockerConfigPath() -> String? {
        let environment = ProcessInfo.processInfo.environment
        let candidates = [
            environment["DOCKER_CONFIG"].map { $0 + "/config.json" },
            environment["HOME"].map { $0 + "/.docker/config.json" },
        ]
        return candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0) }
    }
}

/// Registry flags that cannot be used as given.
struct RegistryFlagsError: Error, CustomStringConvertible {
    let description: String
}
