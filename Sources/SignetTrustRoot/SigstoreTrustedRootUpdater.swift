import Foundation
import SignetCrypto
import SignetSigstore
import SignetTUF

/// Keeps the Sigstore `trusted_root.json` current with a TUF client (TUF specification section
/// 5) against the Sigstore repository or a mirror of it, so new Rekor shards, CT logs and
/// Fulcio or TSA certificates are trusted, and retired ones end, without a new signet build.
///
/// Until the first refresh succeeds, ``current`` is the root embedded at build time. Each
/// refresh verifies the metadata (root rotation from the embedded TUF root, thresholds,
/// rollback, expiry, hashes), downloads `trusted_root.json` only when its trusted hash
/// changed, and publishes it on ``updates``. A failed refresh keeps the last good root, but only
/// for as long as the metadata it was verified under is unexpired: ``freshness`` says, at each
/// decision, when that metadata has expired (freeze-attack protection, sections 5.4.4 to
/// 5.6.5), and verification that depends on the root then fails closed. With a cache directory,
/// ``loadStored()`` puts the root the stored metadata vouches for in force at start, after
/// verifying that metadata again (root chain, signatures, versions, hashes, expiry), before
/// the repository is reached.
public actor SigstoreTrustedRootUpdater {
    public let configuration: TrustedRootUpdaterConfiguration
    private let client: TUFClient
    private let now: @Sendable () -> Date
    private var state: CurrentTrustedRoot
    private var lastError: TUFError?
    /// Until when the root in force may be used; recorded by every refresh.
    public nonisolated let freshness: TrustedRootFreshness
    private let continuation: AsyncStream<CurrentTrustedRoot>.Continuation
    /// Every new trusted root, as it is adopted.
    public nonisolated let updates: AsyncStream<CurrentTrustedRoot>

    /// - Parameters:
    ///   - fetcher: how files are fetched; HTTP(S) through SignetHTTPClient when nil.
    ///   - now: the calendar clock metadata expiry is judged against.
    public init(
        configuration: TrustedRootUpdaterConfiguration, fetcher: (any TUFFetcher)? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws(TrustedRootUpdaterError) {
        self.configuration = configuration
        self.now = now
        freshness = TrustedRootFreshness(mirrorURL: configuration.mirrorURL, now: now)
        do {
            state = try CurrentTrustedRoot.embedded()
        } catch {
            throw TrustedRootUpdaterError("the embedded trusted root does not load: \(error)")
        }
        let store: any TUFMetadataStore
        do {
            if let directory = configuration.cacheDirectory {
                store = try TUFDirectoryStore(directory: URL(fileURLWithPath: directory))
            } else {
                store = TUFMemoryStore()
            }
            let transport = try fetcher ?? HTTPTUFFetcher(configuration: .init(
                caBundlePath: configuration.caBundlePath, requestTimeout: configuration.requestTimeout))
            client = TUFClient(
                configuration: TUFClientConfiguration(layout: TUFStandardLayout(
                    metadataBaseURL: configuration.mirrorURL, targetsBaseURL: configuration.mirrorURL.trimmingSlash + "/targets")),
                fetcher: transport, store: store, bootstrapRoot: configuration.bootstrapRoot, now: now)
        } catch {
            throw TrustedRootUpdaterError("\(error)")
        }
        (updates, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// The trusted root in force.
    public var current: CurrentTrustedRoot { state }

    /// Why the last refresh failed; nil after a success.
    public var lastRefreshError: TUFError? { lastError }

    /// Whether the cache directory holds metadata an earlier run verified (its timestamp).
    public var hasStoredMetadata: Bool {
        get async { await client.storeHoldsTimestamp }
    }

    /// Runs one TUF update and adopts the trusted root it vouches for. Throws, keeping the root
    /// in force, when the repository cannot be reached or any check fails, or when the target
    /// is not a usable trusted root.
    @discardableResult
    public func refresh() async throws(TUFError) -> CurrentTrustedRoot {
        let started = now()
        do throws(TUFError) {
            // The trusted root is downloaded with the metadata, and stored with it or not at all.
            let trusted = try await client.refresh(prefetching: [SigstoreTUFRoot.trustedRootTarget])
            let target = try await client.targetInfo(for: SigstoreTUFRoot.trustedRootTarget)
            let bytes = try await client.download(target)
            try adopt(bytes, targetsVersion: trusted.targets["targets"]?.signed.header.version ?? 0, at: started)
            lastError = nil
            freshness.recordSuccess(validUntil: await client.trustedMetadata?.earliestExpiry ?? trusted.earliestExpiry)
            return state
        } catch {
            lastError = error
            freshness.recordFailure(error)
            throw error
        }
    }

    /// Puts in force the trusted root the metadata kept in the cache directory vouches for,
    /// without asking the repository (``TUFClient/loadStored()``: the stored root chain from the
    /// bootstrap root, the stored timestamp, snapshot and targets verified again, none expired,
    /// the stored target's hashes matching). Throws, keeping the root in force, when there is
    /// no cache or anything in it is missing, does not verify or has expired.
    @discardableResult
    public func loadStored() async throws(TUFError) -> CurrentTrustedRoot {
        let started = now()
        let trusted = try await client.loadStored()
        let target = try await client.targetInfo(for: SigstoreTUFRoot.trustedRootTarget)
        guard let bytes = try await client.storedTarget(target) else {
            throw TUFError(.notFound, "the store holds no \(SigstoreTUFRoot.trustedRootTarget) matching the stored metadata")
        }
        try adopt(bytes, targetsVersion: trusted.targets["targets"]?.signed.header.version ?? 0, at: started)
        freshness.recordSuccess(validUntil: await client.trustedMetadata?.earliestExpiry ?? trusted.earliestExpiry)
        return state
    }

    /// Makes `bytes` (the trusted root target, verified against its metadata) the root in force
    /// and publishes it when it differs from the one in force.
    private func adopt(_ bytes: [UInt8], targetsVersion: Int, at started: Date) throws(TUFError) {
        let digest = DigestAlgorithm.sha256.hexHash(bytes)
        if digest == state.digest, state.refreshedAt != nil {
            state.refreshedAt = started
            return
        }
        let root: TrustedRoot
        do {
            root = try TrustedRoot(json: bytes)
        } catch {
            throw TUFError(.unusableTarget, "\(SigstoreTUFRoot.trustedRootTarget) is not a usable trusted root: \(error)")
        }
        state = CurrentTrustedRoot(
            root: root, digest: digest, origin: "TUF \(configuration.mirrorURL) (targets version \(targetsVersion))", refreshedAt: started)
        continuation.yield(state)
    }

    /// Refreshes now and then every ``TrustedRootUpdaterConfiguration/refreshInterval`` (or
    /// ``TrustedRootUpdaterConfiguration/retryInterval`` after a failure; 5 s doubling up to it
    /// while no root from TUF has been in force), and no later than
    /// the moment the metadata in force expires (a repository whose metadata expires sooner than
    /// the interval is asked before its root turns stale), until the task is cancelled.
    /// `onSuccess` hears each adopted or confirmed root, `onFailure` each failed refresh.
    public func run(
        onSuccess: @Sendable (CurrentTrustedRoot) -> Void = { _ in }, onFailure: @Sendable (TUFError) -> Void = { _ in }
    ) async {
        while !Task.isCancelled {
            var wait = configuration.refreshInterval
            do {
                onSuccess(try await refresh())
            } catch {
                onFailure(error)
                wait = min(configuration.retryInterval, configuration.refreshInterval)
                if freshness.current.validUntil == nil {
                    // No root from TUF in force yet, and the embedded one is not trusted once a
                    // refresh has failed: sooner, 5 s doubling up to the retry interval.
                    let doublings = min(max(freshness.current.consecutiveFailures - 1, 0), 6)
                    wait = min(wait, .seconds(5 << doublings))
                }
            }
            if let expires = freshness.current.validUntil?.expires, case let untilExpiry = expires.timeIntervalSince(now()),
               untilExpiry > 0, untilExpiry < 1e9 {
                // A second after it; once expired, the retry interval paces the attempts.
                wait = min(wait, .milliseconds(Int64(untilExpiry * 1000) + 1000))
            }
            do {
                try await Task.sleep(for: wait)
            } catch {
                break
            }
        }
        continuation.finish()
    }
}

/// Why a ``SigstoreTrustedRootUpdater`` could not start.
public struct TrustedRootUpdaterError: Error, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}

extension String {
    var trimmingSlash: String { hasSuffix("/") ? String(dropLast()) : self }
}
