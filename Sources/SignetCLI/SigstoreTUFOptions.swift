import ArgumentParser
import Foundation
import Logging
import SignetPolicy
import SignetTrustRoot
import SignetTUF

/// The flags of `signet serve` and `signet scan` for keeping the Sigstore trusted root current
/// through TUF (TUF specification section 5, against the Sigstore repository or a mirror of it).
/// Off by default: signet then trusts the root embedded at build time and never leaves the
/// cluster for trust material. Each flag has an environment-variable twin. `serve` refreshes for
/// its lifetime; `scan` refreshes once before it decides, so both decide with the same root.
struct SigstoreTUFOptions: ParsableArguments {
    @Flag(name: .customLong("sigstore-tuf"), help: "Keep the Sigstore trusted root current through TUF; keyless authorities that name no trustRoot use it. (env: SIGNET_SIGSTORE_TUF=true, default off: the root embedded at build time)")
    var enabled = false

    @Option(name: .customLong("sigstore-tuf-mirror"), help: "The Sigstore TUF repository: metadata at <url>/, targets at <url>/targets/. (env: SIGNET_SIGSTORE_TUF_MIRROR, default \(SigstoreTUFRoot.publicMirrorURL))")
    var mirror: String?

    @Option(name: .customLong("sigstore-tuf-cache-dir"), help: "Where the last good TUF metadata and trusted root are kept between restarts, the Sigstore repository's at the top and each repository a policy's trustRoot.tuf names under repositories/<sha256>. (env: SIGNET_SIGSTORE_TUF_CACHE_DIR, default: memory only)")
    var cacheDirectory: String?

    @Option(name: .customLong("sigstore-tuf-refresh-interval"), help: "How often the Sigstore repository, and each TUF repository a policy's trustRoot names, is asked for new metadata; a failed refresh is retried after at most 5m. (env: SIGNET_SIGSTORE_TUF_REFRESH_INTERVAL, default 6h)")
    var refreshInterval: String?

    @Option(name: .customLong("sigstore-tuf-ca-bundle"), help: "PEM CA bundle for an HTTPS mirror. (env: SIGNET_SIGSTORE_TUF_CA_BUNDLE, default: the system store)")
    var caBundle: String?

    @Option(name: .customLong("sigstore-tuf-root"), help: "The TUF root.json the repository is trusted from, for a private Sigstore or a mirror signed with keys of its own. (env: SIGNET_SIGSTORE_TUF_ROOT, default: the Sigstore root embedded at build time)")
    var bootstrapRoot: String?

    @Option(name: .customLong("sigstore-tuf-now-unsafe"), help: "Judge TUF metadata expiry as if it were this RFC 3339 time instead of the clock, or the time written in a file (@<path>, re-read every 100ms): this turns off freeze-attack protection, for tests and frozen copies of a repository only. (env: SIGNET_SIGSTORE_TUF_NOW_UNSAFE)")
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
    /// CA bundle for HTTPS mirrors, the cache directory (the Sigstore repository's metadata at
    /// its top, each policy repository's in a subdirectory) and the clock expiry is judged by.
    func resolveShared() throws -> (configuration: TrustedRootUpdaterConfiguration, now: @Sendable () -> Date) {
        var configuration = TrustedRootUpdaterConfiguration()
        configuration.refreshInterval = try EnvironmentOption.duration(
            refreshInterval, "SIGNET_SIGSTORE_TUF_REFRESH_INTERVAL", default: configuration.refreshInterval)
        guard configuration.refreshInterval > .zero else { throw ValidationError("--sigstore-tuf-refresh-interval must be positive") }
        configuration.retryInterval = min(configuration.retryInterval, configuration.refreshInterval)
        configuration.caBundlePath = EnvironmentOption.string(caBundle, "SIGNET_SIGSTORE_TUF_CA_BUNDLE")
        configuration.cacheDirectory = EnvironmentOption.string(cacheDirectory, "SIGNET_SIGSTORE_TUF_CACHE_DIR")
        var now: @Sendable () -> Date = { Date() }
        if let text = EnvironmentOption.string(nowUnsafe, "SIGNET_SIGSTORE_TUF_NOW_UNSAFE"), text.hasPrefix("@") {
            let file = try UnsafeClockFile(path: String(text.dropFirst()))
            now = { file.now }
        } else if let text = EnvironmentOption.string(nowUnsafe, "SIGNET_SIGSTORE_TUF_NOW_UNSAFE") {
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
/// loader compiles keyless authorities with, together with the check of its TUF metadata's
/// expiry that every decision asks (freeze-attack protection). With a cache directory, the root
/// the last good metadata on disk vouches for (verified again, unexpired) is in force from the
/// start; otherwise the embedded root is, until the first refresh.
struct SigstoreTUFRuntime: Sendable {
    let updater: SigstoreTrustedRootUpdater
    let live: LiveTrustedRoot
    let metrics: TUFTrustRootMetrics
    /// The mirror, refresh interval, CA bundle and cache directory the updater runs with.
    let configuration: TrustedRootUpdaterConfiguration

    /// The updater `--sigstore-tuf` asks for, or nil when it is off: how `signet serve` and
    /// `signet scan` both start it. Throws `ValidationError` for flags that cannot be used and
    /// ``SigstoreTUFStartError`` when the updater cannot start.
    static func start(_ options: SigstoreTUFOptions, logger: Logger) async throws -> SigstoreTUFRuntime? {
        guard let (configuration, now) = try options.resolve() else { return nil }
        do {
            return try await make(configuration: configuration, now: now, logger: logger)
        } catch {
            throw SigstoreTUFStartError(mirrorURL: configuration.mirrorURL, reason: "\(error)")
        }
    }

    static func make(
        configuration: TrustedRootUpdaterConfiguration, now: @escaping @Sendable () -> Date, logger: Logger
    ) async throws -> SigstoreTUFRuntime {
        let updater = try SigstoreTrustedRootUpdater(configuration: configuration, now: now)
        if configuration.cacheDirectory != nil {
            do {
                let stored = try await updater.loadStored()
                logger.notice("Sigstore trusted root from the last good TUF metadata on disk in force", metadata: [
                    "origin": "\(stored.origin)", "digest": "\(stored.digest)",
                    "valid_until": "\(updater.freshness.current.validUntil?.description ?? "-")",
                ])
            } catch {
                if await updater.hasStoredMetadata {
                    // Metadata kept by an earlier run that has expired or no longer verifies: the
                    // repository had moved past the embedded root, which is not trusted in its place.
                    updater.freshness.recordFailure(error)
                    logger.warning("the TUF metadata on disk cannot be used; keyless verifications fail until a refresh succeeds", metadata: [
                        "error": "\(error)",
                    ])
                } else {
                    // A first start: nothing an earlier run verified (the embedded TUF root may
                    // itself have expired since the build; a refresh rotates from it all the same).
                    logger.info("no TUF metadata on disk; the embedded Sigstore root is in force until the first refresh", metadata: [
                        "error": "\(error)",
                    ])
                }
            }
        }
        let current = await updater.current
        let metrics = TUFTrustRootMetrics(repository: "sigstore")
        metrics.track(updater.freshness)
        return SigstoreTUFRuntime(
            updater: updater, live: LiveTrustedRoot(Self.snapshot(current, updater)), metrics: metrics, configuration: configuration)
    }

    /// `root` as policies compile with it, with the check every decision asks: a root from TUF
    /// is stale once its metadata has expired, the embedded root once a refresh has failed
    /// before any succeeded (``TrustedRootFreshness``).
    static func snapshot(_ root: CurrentTrustedRoot, _ updater: SigstoreTrustedRootUpdater) -> LiveTrustedRoot.Snapshot {
        let freshness = updater.freshness
        return LiveTrustedRoot.Snapshot(
            root: root.root, digest: root.digest, origin: root.origin, freshness: TrustRootFreshnessCheck { freshness.staleReason() })
    }

    /// One refresh, for a run that decides once (`signet scan`): the root it adopts or confirms
    /// is published as ``run(logger:)`` publishes it. Throws, keeping the root in force (the one
    /// on disk, else the embedded one), when the repository cannot be reached or a check fails.
    func refreshOnce(logger: Logger) async throws(TUFError) {
        let root: CurrentTrustedRoot
        do {
            root = try await updater.refresh()
        } catch {
            metrics.failed()
            throw error
        }
        metrics.refreshed()
        live.publish(Self.snapshot(root, updater))
        logger.notice("Sigstore trusted root from TUF in force", metadata: ["origin": "\(root.origin)", "digest": "\(root.digest)"])
    }

    /// Refreshes until the task is cancelled, publishing every adopted root.
    func run(logger: Logger) async {
        let (updater, live, metrics) = (updater, live, metrics)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await root in updater.updates {
                    let previous = live.current.digest
                    live.publish(Self.snapshot(root, updater))
                    logger.notice("Sigstore trusted root from TUF in force", metadata: [
                        "origin": "\(root.origin)", "digest": "\(root.digest)", "changed": "\(previous != root.digest)",
                    ])
                }
            }
            group.addTask {
                await updater.run(onSuccess: { _ in metrics.refreshed() }, onFailure: { error in
                    metrics.failed()
                    TUFRefreshLog.failure(error, freshness: updater.freshness, subject: "the Sigstore trusted root", logger: logger)
                })
            }
        }
    }
}

/// Why the Sigstore trusted-root updater `--sigstore-tuf` asks for could not start (its cache
/// directory or CA bundle cannot be used, for example).
struct SigstoreTUFStartError: Error, CustomStringConvertible {
    let mirrorURL: String
    let reason: String

    var description: String { "cannot start the Sigstore TUF updater for \(mirrorURL): \(reason)" }
}

/// The log line of a failed TUF refresh: an error while the root in force is still valid
/// (naming until when), critical once its metadata has expired or while no refresh has
/// succeeded (every verification depending on it is then denied, with the same reason).
enum TUFRefreshLog {
    static func failure(_ error: TUFError, freshness: TrustedRootFreshness, subject: String, logger: Logger, metadata: Logger.Metadata = [:]) {
        var metadata = metadata
        metadata["error"] = "\(error)"
        metadata["mirror"] = "\(freshness.mirrorURL)"
        metadata["consecutive_failures"] = "\(freshness.current.consecutiveFailures)"
        if let stale = freshness.staleReason() {
            metadata["reason"] = "\(stale)"
            let why = freshness.current.validUntil == nil ? "no refresh has succeeded since start" : "its metadata has expired"
            logger.critical("TUF refresh of \(subject) failed and \(why): verification depending on it is denied", metadata: metadata)
        } else if let validUntil = freshness.current.validUntil {
            metadata["valid_until"] = "\(validUntil)"
            logger.error("TUF refresh of \(subject) failed; the root in force stays until its metadata expires", metadata: metadata)
        } else {
            logger.error("TUF refresh of \(subject) failed; no root from TUF is in force yet", metadata: metadata)
        }
    }
}
