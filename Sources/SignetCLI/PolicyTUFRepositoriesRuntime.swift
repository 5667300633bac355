import Foundation
import Logging
import SignetCrypto
import SignetPolicy
import SignetTrustRoot

/// The TUF clients of the repositories policies name as their trust root (`trustRoot.tuf`): one
/// ``SigstoreTrustedRootUpdater`` per repository (TUF specification section 5, bootstrapped from
/// the policy's `root.json`, never from the embedded Sigstore root), started when a policy first
/// names it and stopped when no policy in force names it any longer; each root it adopts is
/// published to ``PolicyTUFTrustRoots``, which recompiles the policies that use it, with the
/// check of its metadata's expiry that every decision asks (freeze-attack protection).
///
/// With a cache directory, each repository keeps its last good metadata in
/// `<cache>/repositories/<sha256 of mirror and root>/`; a restarted client verifies it again
/// (root chain from the policy's root, signatures, versions, hashes, expiry) and puts the root
/// it vouches for in force before reaching the mirror, and its stored versions are the floor
/// the repository's metadata must not go below (rollback across a restart).
struct PolicyTUFRepositoriesRuntime: Sendable {
    let roots: PolicyTUFTrustRoots
    /// Refresh interval, CA bundle, cache directory and request timeout shared by every repository.
    let settings: TrustedRootUpdaterConfiguration
    let now: @Sendable () -> Date
    let metrics = TUFTrustRootMetrics(repository: "policy")

    /// Where `repository` keeps its metadata under the cache directory `cache`: one directory per
    /// repository identity (mirror URL and bootstrap root), so two policies naming one mirror
    /// with different roots never share metadata.
    static func cacheDirectory(for repository: PolicyTUFTrustRoots.Repository, under cache: String) -> String {
        let key = DigestAlgorithm.sha256.hexHash(Array((repository.mirrorURL + "\n").utf8) + repository.bootstrapRoot)
        return URL(fileURLWithPath: cache).appendingPathComponent("repositories").appendingPathComponent(key).path
    }

    /// Runs a client for every repository while policies name it, until the task is cancelled.
    func run(logger: Logger) async {
        var clients: [String: Task<Void, Never>] = [:]
        for await change in roots.changes {
            switch change {
            case .registered(let repository):
                guard clients[repository.identity] == nil else { continue }
                let client = self
                clients[repository.identity] = Task { await client.keepCurrent(repository, logger: logger) }
            case .unregistered(let repository):
                guard let task = clients.removeValue(forKey: repository.identity) else { continue }
                task.cancel()
                logger.notice("stopped keeping a trust root current through TUF: no policy in force names its repository", metadata: [
                    "repository": "\(repository.identity)",
                ])
            }
        }
        for task in clients.values { task.cancel() }
    }

    /// `repository`'s client settings: the shared ones with its mirror, its bootstrap root and
    /// a cache directory of its own.
    private func configuration(for repository: PolicyTUFTrustRoots.Repository) -> TrustedRootUpdaterConfiguration {
        var configuration = settings
        configuration.mirrorURL = repository.mirrorURL
        configuration.bootstrapRoot = repository.bootstrapRoot
        configuration.cacheDirectory = settings.cacheDirectory.map { Self.cacheDirectory(for: repository, under: $0) }
        return configuration
    }

    /// For `signet scan`, which decides once: each of `repositories` refreshed once (TUF
    /// specification section 5) and the root it delivers put in force, in order. Throws naming
    /// the first repository that cannot deliver one: its authorities could not be decided as
    /// admission decides them.
    func refreshOnce(_ repositories: [PolicyTUFTrustRoots.Repository], logger: Logger) async throws(PolicyTUFRefreshFailure) {
        for repository in repositories {
            do {
                let updater = try SigstoreTrustedRootUpdater(configuration: configuration(for: repository), now: now)
                Self.putInForce(try await updater.refresh(), from: updater, for: repository, in: roots, logger: logger)
                metrics.refreshed()
            } catch {
                metrics.failed()
                throw PolicyTUFRefreshFailure(repository: repository, reason: "\(error)")
            }
        }
    }

    /// Publishes `root`, adopted by `updater`, as `repository`'s root in force, with the check of
    /// its metadata's expiry every decision asks.
    private static func putInForce(
        _ root: CurrentTrustedRoot, from updater: SigstoreTrustedRootUpdater, for repository: PolicyTUFTrustRoots.Repository,
        in roots: PolicyTUFTrustRoots, logger: Logger
    ) {
        let freshness = updater.freshness
        roots.publish(
            .init(root: root.root, digest: root.digest, origin: root.origin, freshness: TrustRootFreshnessCheck { freshness.staleReason() }),
            for: repository)
        logger.notice("policy trust root from TUF in force", metadata: [
            "repository": "\(repository.identity)", "origin": "\(root.origin)", "digest": "\(root.digest)",
        ])
    }

    /// One repository's client: the stored metadata first, then refreshes until cancelled.
    private func keepCurrent(_ repository: PolicyTUFTrustRoots.Repository, logger: Logger) async {
        let configuration = configuration(for: repository)
        let updater: SigstoreTrustedRootUpdater
        do {
            updater = try SigstoreTrustedRootUpdater(configuration: configuration, now: now)
        } catch {
            logger.error("cannot start the TUF client of a policy's trust root", metadata: [
                "repository": "\(repository.identity)", "error": "\(error)",
            ])
            return
        }
        logger.info("keeping a policy's trust root current through TUF", metadata: [
            "repository": "\(repository.identity)", "refresh_interval": "\(configuration.refreshInterval)",
            "cache": "\(configuration.cacheDirectory ?? "memory")",
        ])
        let (roots, metrics) = (roots, metrics)
        metrics.track(updater.freshness)
        defer { metrics.untrack(updater.freshness) }
        if configuration.cacheDirectory != nil {
            do {
                let stored = try await updater.loadStored()
                logger.notice("policy trust root from the last good TUF metadata on disk in force", metadata: [
                    "repository": "\(repository.identity)", "origin": "\(stored.origin)",
                    "valid_until": "\(updater.freshness.current.validUntil?.description ?? "-")",
                ])
            } catch {
                logger.info("no usable TUF metadata on disk for a policy's repository; waiting for the first refresh", metadata: [
                    "repository": "\(repository.identity)", "error": "\(error)",
                ])
            }
        }
        let freshness = updater.freshness
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await root in updater.updates {
                    Self.putInForce(root, from: updater, for: repository, in: roots, logger: logger)
                }
            }
            group.addTask {
                await updater.run(onSuccess: { _ in metrics.refreshed() }, onFailure: { error in
                    metrics.failed()
                    TUFRefreshLog.failure(
                        error, freshness: freshness, subject: "a policy's trust root", logger: logger,
                        metadata: ["repository": "\(repository.identity)"])
                })
            }
        }
    }
}

/// A policy's TUF repository that could not deliver a trust root
/// (``PolicyTUFRepositoriesRuntime/refreshOnce(_:logger:)``).
struct PolicyTUFRefreshFailure: Error, CustomStringConvertible {
    let repository: PolicyTUFTrustRoots.Repository
    let reason: String

    var description: String { "cannot refresh the trust root of \(repository.mirrorURL) through TUF: \(reason)" }
}
