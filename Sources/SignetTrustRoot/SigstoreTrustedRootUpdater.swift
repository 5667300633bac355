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
/// changed, and publishes it on ``updates``. A failed refresh keeps the last good root.
public actor SigstoreTrustedRootUpdater {
    public let configuration: TrustedRootUpdaterConfiguration
    private let client: TUFClient
    private let now: @Sendable () -> Date
    private var state: CurrentTrustedRoot
    private var lastError: TUFError?
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

    /// Runs one TUF update and adopts the trusted root it vouches for. Throws, keeping the root
    /// in force, when the repository cannot be reached or any check fails, or when the target
    /// is not a usable trusted root.
    @discardableResult
    public func refresh() async throws(TUFError) -> CurrentTrustedRoot {
        let started = now()
        do throws(TUFError) {
            let trusted = try await client.refresh()
            let target = try await client.targetInfo(for: SigstoreTUFRoot.trustedRootTarget)
            let bytes = try await client.download(target)
            let digest = DigestAlgorithm.sha256.hexHash(bytes)
            lastError = nil
            if digest == state.digest, state.refreshedAt != nil {
                state.refreshedAt = started
                return state
            }
            let root: TrustedRoot
            do {
                root = try TrustedRoot(json: bytes)
            } catch {
                throw TUFError(.unusableTarget, "\(SigstoreTUFRoot.trustedRootTarget) is not a usable trusted root: \(error)")
            }
            let version = trusted.targets["targets"]?.signed.header.version ?? 0
            state = CurrentTrustedRoot(
                root: root, digest: digest, origin: "TUF \(configuration.mirrorURL) (targets version \(version))", refreshedAt: started)
            continuation.yield(state)
            return state
        } catch {
            lastError = error
            throw error
        }
    }

    /// Refreshes now and then every ``TrustedRootUpdaterConfiguration/refreshInterval`` (or
    /// ``TrustedRootUpdaterConfiguration/retryInterval`` after a failure), until the task is
    /// cancelled. `onFailure` hears each failed refresh.
    public func run(onFailure: @Sendable (TUFError) -> Void = { _ in }) async {
        while !Task.isCancelled {
            var wait = configuration.refreshInterval
            do {
                try await refresh()
            } catch {
                onFailure(error)
                wait = min(configuration.retryInterval, configuration.refreshInterval)
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
