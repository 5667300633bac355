import ArgumentParser
import Foundation
import Logging
import SignetPolicy
import SignetTrustRoot

/// `signet serve`'s flags for keeping the Sigstore trusted root current through TUF (TUF
/// specification section 5, against the Sigstore repository or a mirror of it). Off by
/// default: signet then trusts the root embedded at build time and never leaves the cluster
/// for trust material. Each flag has an environment-variable twin.
struct SigstoreTUFOptions: ParsableArguments {
    @Flag(name: .customLong("sigstore-tuf"), help: "Keep the Sigstore trusted root current through TUF; keyless authorities that name no trustRoot use it. (env: SIGNET_SIGSTORE_TUF=true, default off: the root embedded at build time)")
    var enabled = false

    @Option(name: .customLong("sigstore-tuf-mirror"), help: "The Sigstore TUF repository: metadata at <url>/, targets at <url>/targets/. (env: SIGNET_SIGSTORE_TUF_MIRROR, default \(SigstoreTUFRoot.publicMirrorURL))")
    var mirror: String?

    @Option(name: .customLong("sigstore-tuf-cache-dir"), help: "Where the last good TUF metadata and trusted root are kept between restarts. (env: SIGNET_SIGSTORE_TUF_CACHE_DIR, default: memory only)")
    var cacheDirectory: String?

    @Option(name: .customLong("sigstore-tuf-refresh-interval"), help: "How often the Sigstore repository, and each TUF repository a policy's trustRoot names, is asked for new metadata; a failed refresh is retried after at most 5m. (env: SIGNET_SIGSTORE_TUF_REFRESH_INTERVAL, default 6h)")
    var refreshInterval: String?

    @Option(name: .customLong("sigstore-tuf-ca-bundle"), help: "PEM CA bundle for an HTTPS mirror. (env: SIGNET_SIGSTORE_TUF_CA_BUNDLE, default: the system store)")
    var caBundle: String?

    @Option(name: .customLong("sigstore-tuf-root"), help: "The TUF root.json the repository is trusted from, for a private Sigstore or a mirror signed with keys of its own. (env: SIGNET_SIGSTORE_TUF_ROOT, default: the Sigstore root embedded at build time)")
    var bootstrapRoot: String?

    @Option(name: .customLong("sigstore-tuf-now-unsafe"), help: "Judge TUF metadata expiry as if it were this RFC 3339 time instead of the clock: this turns off freeze-attack protection, for tests and frozen copies of a repository only. (env: SIGNET_SIGSTORE_TUF_NOW_UNSAFE)")
    var nowUnsafe: String?

    /// The updater's configuration and the clock it judges expiry by, or nil when TUF is off.
    func resolve() throws -> (configuration: TrustedRootUpdaterConfiguration, now: @Sendable () -> Date)? {
        let on = enabled || EnvironmentOption.string(nil, "SIGNET_SIGSTORE_TUF").map { $0 == "true" || $0 == "1" } == true
        guard on else { return nil }
        let shared = try resolveShared()
        var configuration = shared.configuration
        let now = shared.now
        configuration.mirrorURL = EnvironmentOption.string(mirror, "SIGNET_SIGSTORE_TUF_MIRROR", default: configuration.mirrorURL)!
        guard configuration.mirrorURL.hasPrefix("https://") || configuration.mirrorURL.hasPrefix("http://") else {
            throw ValidationError("--sigstore-tuf-mirror must be an http(s) URL, not \(configuration.mirrorURL)")
        }
        configuration.cacheDirectory = EnvironmentOption.string(cacheDirectory, "SIGNET_SIGSTORE_TUF_CACHE_DIR")
        if let path = EnvironmentOption.string(bootstrapRoot, "SIGNET_SIGSTORE_TUF_ROOT") {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("--sigstore-tuf-root: cannot read the TUF root \(path)")
            }
            configuration.bootstrapRoot = [UInt8](data)
        }
        return (configuration, now)
    }

    /// What the Sigstore root's updater and the TUF clients of policies' own repositories
    /// (`trustRoot.tuf`) share, whether or not `--sigstore-tuf` is on: the refresh interval, the
    /// CA bundle for HTTPS mirrors and the clock expiry is judged by.
    func resolveShared() throws -> (configuration: TrustedRootUpdaterConfiguration, now: @Sendable () -> Date) {
        var configuration = TrustedRootUpdaterConfiguration()
        configuration.refreshInterval = try EnvironmentOption.duration(
            refreshInterval, "SIGNET_SIGSTORE_TUF_REFRESH_INTERVAL", default: configuration.refreshInterval)
        guard configuration.refreshInterval > .zero else { throw ValidationError("--sigstore-tuf-refresh-interval must be positive") }
        configuration.retryInterval = min(configuration.retryInterval, configuration.refreshInterval)
        configuration.caBundlePath = EnvironmentOption.string(caBundle, "SIGNET_SIGSTORE_TUF_CA_BUNDLE")
        var now: @Sendable () -> Date = { Date() }
        if let text = EnvironmentOption.string(nowUnsafe, "SIGNET_SIGSTORE_TUF_NOW_UNSAFE") {
            guard let instant = KubernetesTime.parse(text) else {
                throw ValidationError("--sigstore-tuf-now-unsafe \(text) is not an RFC 3339 time (for example 2026-08-21T00:00:00Z)")
            }
            now = { instant }
        }
        return (configuration, now)
    }
}

/// The Sigstore trusted-root updater of a running `signet serve`: it refreshes for the
/// server's lifetime and publishes each root it adopts to the ``LiveTrustedRoot`` the policy
/// loader compiles keyless authorities with.
struct SigstoreTUFRuntime: Sendable {
    let updater: SigstoreTrustedRootUpdater
    let live: LiveTrustedRoot

    static func make(configuration: TrustedRootUpdaterConfiguration, now: @escaping @Sendable () -> Date) async throws -> SigstoreTUFRuntime {
        let updater = try SigstoreTrustedRootUpdater(configuration: configuration, now: now)
        let current = await updater.current
        return SigstoreTUFRuntime(
            updater: updater, live: LiveTrustedRoot(.init(root: current.root, digest: current.digest, origin: current.origin)))
    }

    /// Refreshes until the task is cancelled, publishing every adopted root.
    func run(logger: Logger) async {
        let (updater, live) = (updater, live)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await root in updater.updates {
                    let previous = live.current.digest
                    live.publish(.init(root: root.root, digest: root.digest, origin: root.origin))
                    logger.notice("Sigstore trusted root from TUF in force", metadata: [
                        "origin": "\(root.origin)", "digest": "\(root.digest)", "changed": "\(previous != root.digest)",
                    ])
                }
            }
            group.addTask {
                await updater.run { error in
                    logger.error("Sigstore TUF refresh failed; the trusted root in force stays", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
