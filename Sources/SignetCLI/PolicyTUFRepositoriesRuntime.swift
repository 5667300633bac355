import Foundation
import Logging
import SignetPolicy
import SignetTrustRoot

/// The TUF clients of the repositories policies name as their trust root (`trustRoot.tuf`): one
/// ``SigstoreTrustedRootUpdater`` per repository (TUF specification section 5, bootstrapped from
/// the policy's `root.json`, never from the embedded Sigstore root), started when a policy first
/// names it and refreshed for the server's lifetime; each root it adopts is published to
/// ``PolicyTUFTrustRoots``, which recompiles the policies that use it.
struct PolicyTUFRepositoriesRuntime: Sendable {
    let roots: PolicyTUFTrustRoots
    /// Refresh interval, CA bundle and request timeout shared by every repository.
    let settings: TrustedRootUpdaterConfiguration
    let now: @Sendable () -> Date

    /// Runs a client for every repository as it is named, until the task is cancelled.
    func run(logger: Logger) async {
        await withDiscardingTaskGroup { group in
            for await repository in roots.newRepositories {
                var configuration = settings
                configuration.mirrorURL = repository.mirrorURL
                configuration.bootstrapRoot = repository.bootstrapRoot
                configuration.cacheDirectory = nil
                let updater: SigstoreTrustedRootUpdater
                do {
                    updater = try SigstoreTrustedRootUpdater(configuration: configuration, now: now)
                } catch {
                    logger.error("cannot start the TUF client of a policy's trust root", metadata: [
                        "repository": "\(repository.identity)", "error": "\(error)",
                    ])
                    continue
                }
                logger.info("keeping a policy's trust root current through TUF", metadata: [
                    "repository": "\(repository.identity)", "refresh_interval": "\(configuration.refreshInterval)",
                ])
                let roots = roots
                group.addTask {
                    for await root in updater.updates {
                        roots.publish(.init(root: root.root, digest: root.digest, origin: root.origin), for: repository)
                        logger.notice("policy trust root from TUF in force", metadata: [
                            "repository": "\(repository.identity)", "origin": "\(root.origin)", "digest": "\(root.digest)",
                        ])
                    }
                }
                group.addTask {
                    await updater.run { error in
                        logger.error("TUF refresh of a policy's trust root failed; the root in force stays", metadata: [
                            "repository": "\(repository.identity)", "error": "\(error)",
                        ])
                    }
                }
            }
        }
    }
}
