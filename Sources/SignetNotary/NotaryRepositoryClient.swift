import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SignetCrypto
import SignetRegistry
import SignetTUF
import Synchronization

/// Fetches and verifies Notary v1 repositories (Notary server API, `GET
/// /v2/<gun>/_trust/tuf/<role>.json`), keeping each verified collection until the earliest
/// expiry of its roles or ``Configuration/cacheTTL``, whichever comes first, and refusing
/// rollbacks through a ``NotaryVersionGuard``.
///
/// Every role a verification needs (root, timestamp, snapshot, targets and the delegated roles
/// the policy names, with the roles above them) is fetched at once, in parallel; concurrent
/// callers for the same server, GUN and trust share one fetch (single flight).
///
/// A server behind token authentication is answered with the registry client's
/// ``TokenAuthenticator`` (see ``NotaryHTTPFetcher``): the credential for the server's host comes
/// from the calling task's ``RequestCredentials`` (pull secrets), then from the client's own
/// ``RegistryCredentialStore``. Verified collections are kept by server, GUN, trust and the
/// caller's credentials (``RequestCredentials/identity``), and shared only between callers with
/// the same credentials, as registry answers are; at most
/// ``Configuration/maximumCachedCollections`` are kept (an expired one, or the one stored longest
/// ago, makes room), so requests naming endless repositories cannot grow the process.
///
/// Metrics: `signet_notary_metadata_requests_total`, the metadata files requested from Notary servers.
public final class NotaryRepositoryClient: Sendable {
    /// Settings with secure defaults.
    public struct Configuration: Sendable {
        /// How long a verified collection is reused at most (it is never used past its earliest expiry).
        public var cacheTTL: Duration
        /// The largest metadata file accepted (an endless-data attack stops here).
        public var maximumMetadataBytes: Int
        /// The largest `root.json` (current or versioned), `timestamp.json` or `snapshot.json`
        /// accepted: a root holds a few keys and certificates, a timestamp one hash, a snapshot
        /// the hashes of the role files, a few kilobytes each.
        public var maximumRootBytes: Int
        /// The most bytes the older roots of one rotation chain may take together (up to
        /// ``NotaryRepositoryClient/maximumRootVersions`` of them, fetched at once and held until
        /// the chain is checked): each may take its share, and at most ``maximumRootBytes``.
        /// Anyone who may publish a repository on the server can make its current root unsigned
        /// by the pinned keys, and so make signet fetch its older roots: without this bound, 32
        /// files of ``maximumRootBytes`` each per verification.
        public var maximumRootChainBytes: Int
        /// How long one fetch may take, bounded further by the caller's deadline.
        public var requestTimeout: Duration
        /// The most verified collections (and refusals) kept at once.
        public var maximumCachedCollections: Int

        public init(
            cacheTTL: Duration = .seconds(300), maximumMetadataBytes: Int = 4 << 20, maximumRootBytes: Int = 512 << 10,
            maximumRootChainBytes: Int = 1 << 20, requestTimeout: Duration = .seconds(10), maximumCachedCollections: Int = 256
        ) {
            self.cacheTTL = cacheTTL
            self.maximumMetadataBytes = maximumMetadataBytes
            self.maximumRootBytes = min(maximumRootBytes, maximumMetadataBytes)
            self.maximumRootChainBytes = maximumRootChainBytes
            self.requestTimeout = requestTimeout
            self.maximumCachedCollections = maximumCachedCollections
        }
    }

    /// Makes the fetcher for a server trusted through `caBundlePath` (the system store when nil).
    public typealias FetcherFactory = @Sendable (_ caBundlePath: String?) throws -> any TUFFetcher

    /// What one verification asks for.
    public struct Request: Sendable, Hashable {
        /// `https://notary.example.com` (no trailing `/`).
        public var server: String
        public var gun: String
        public var pinnedRootKeys: [PublicKey]
        public var delegations: [String]
        public var caBundlePath: String?
        /// How many of ``pinnedRootKeys`` must have signed the root (``NotaryTrustedCollection``).
        public var pinnedRootThreshold: Int

        public init(
            server: String, gun: String, pinnedRootKeys: [PublicKey], delegations: [String], caBundlePath: String? = nil, pinnedRootThreshold: Int = 1
        ) {
            self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
            self.gun = gun
            self.pinnedRootKeys = pinnedRootKeys
            self.pinnedRootThreshold = pinnedRootThreshold
            self.delegations = delegations.sorted()
            self.caBundlePath = caBundlePath
        }

        var repositoryKey: String { "\(server)\u{0}\(gun)" }
    }

    /// A verified collection, or the reason the repository's metadata is not trusted.
    public enum Outcome: Sendable {
        case trusted(NotaryTrustedCollection)
        /// The metadata was fetched but does not verify (signatures, expiry, hashes, rollback,
        /// no trust data): a verdict.
        case untrusted(TUFError)
    }

    private struct Entry: Sendable {
        let outcome: Outcome
        let validUntil: Date
    }

    public let configuration: Configuration
    public let versionGuard: NotaryVersionGuard
    private let clock: @Sendable () -> Date
    private let makeFetcher: FetcherFactory
    private let fetchers = NIOLockedValueBox<[String: any TUFFetcher]>([:])
    private let entries: NIOLockedValueBox<ExpiringTable<CacheKey, Outcome, Date>>
    private let inFlight = NIOLockedValueBox<[CacheKey: Task<Entry, any Error>]>([:])

    /// A request and the credential it is made with at the Notary server (nil: the
    /// deployment's own): requests made with different credentials never share a fetch, and
    /// requests made with the same one do, whoever makes them (keyed by who asked, by
    /// namespace, service account and pull-secret names, made-up names gave every Pod a fetch
    /// and a cache entry of its own).
    private struct CacheKey: Hashable, Sendable {
        var request: Request
        var credential: RegistryCredential?
    }
    private let fetchCount = Atomic<Int>(0)
    private let logger: Logger

    public init(
        configuration: Configuration = Configuration(), versionGuard: NotaryVersionGuard = NotaryVersionGuard(),
        clock: @escaping @Sendable () -> Date = { Date() }, makeFetcher: FetcherFactory? = nil,
        credentials: RegistryCredentialStore = RegistryCredentialStore(), logger: Logger = Logger(label: "signet.notary")
    ) {
        self.configuration = configuration
        self.entries = NIOLockedValueBox(ExpiringTable(capacity: configuration.maximumCachedCollections))
        self.versionGuard = versionGuard
        self.clock = clock
        if let makeFetcher {
            self.makeFetcher = makeFetcher
        } else {
            self.makeFetcher = Self.httpFetcherFactory(requestTimeout: configuration.requestTimeout, credentials: credentials)
        }
        self.logger = logger
    }

    /// How many metadata files were requested from servers so far.
    public var metadataRequests: Int { fetchCount.load(ordering: .relaxed) }

    /// How many collections and refusals are held (expired ones not yet dropped included).
    var cachedCollections: Int { entries.withLockedValue { $0.count } }

    /// The verified collection for `request`, from the cache while it is fresh. Throws
    /// ``TUFError/Code/fetchFailed`` when a server cannot be reached or answers with an error
    /// (the caller could not find out), and `CancellationError` past `deadline`.
    public func collection(_ request: Request, deadline: ContinuousClock.Instant) async throws -> Outcome {
        let now = clock()
        let server = URLComponents(string: request.server).flatMap { url in url.host.map { host in url.port.map { "\(host):\($0)" } ?? host } }
        var credential: RegistryCredential?
        if let server { credential = await RequestCredentials.credential(for: server, repository: request.gun) }
        let key = CacheKey(request: request, credential: credential)
        if let outcome = entries.withLockedValue({ $0.value(for: key, now: now) }) { return outcome }
        let task = inFlight.withLockedValue { tasks -> Task<Entry, any Error> in
            if let running = tasks[key] { return running }
            // The load leaves the table itself once done (its outcome is cached by then): a
            // waiter that gives up at its deadline must not let the next caller start a second
            // load beside the first.
            let task = Task {
                defer { _ = self.inFlight.withLockedValue { $0.removeValue(forKey: key) } }
                return try await self.load(key)
            }
            tasks[key] = task
            return task
        }
        let entry = try await withDeadline(deadline) { try await sharedValue(of: task) }
        return entry.outcome
    }

    private func load(_ key: CacheKey) async throws -> Entry {
        let request = key.request
        let fetched = clock()
        let files = try await consistentFiles(request, fetched: try await fetchAll(request))
        let outcome: Outcome
        let validUntil: Date
        let ttl = Double(configuration.cacheTTL.components.seconds) + Double(configuration.cacheTTL.components.attoseconds) / 1e18
        do {
            var collection = try await verifiedCollection(request, files: files, at: fetched)
            if let rollback = versionGuard.admit(collection.versions, for: request.repositoryKey) {
                throw TUFError(.rollback, "\(request.gun) on \(request.server): \(rollback)")
            }
            validUntil = min(collection.earliestExpiry, fetched.addingTimeInterval(ttl))
            collection.reusedUntil = validUntil
            for (role, reason) in collection.untrustedRoles.sorted(by: { $0.key < $1.key }) {
                // Vouches for nothing; a hash or signature failure may be tampering.
                logger.warning("Notary delegated role not trusted", metadata: [
                    "server": "\(request.server)", "gun": "\(request.gun)", "role": "\(role)", "reason": "\(reason)",
                ])
            }
            outcome = .trusted(collection)
        } catch {
            logger.info("Notary metadata refused", metadata: ["server": "\(request.server)", "gun": "\(request.gun)", "reason": "\(error)"])
            guard let error = error as? TUFError, error.code != .fetchFailed else { throw error }
            outcome = .untrusted(error)
            validUntil = fetched.addingTimeInterval(min(ttl, 30))
        }
        let entry = Entry(outcome: outcome, validUntil: validUntil)
        entries.withLockedValue { _ = $0.insert(outcome, for: key, expires: validUntil, now: fetched) }
        return entry
    }

    /// The collection verified from the pinned root keys; when the current root is not signed by
    /// them, once more through the chain of versioned roots.
    private func verifiedCollection(_ request: Request, files: NotaryTrustedCollection.Files, at time: Date) async throws -> NotaryTrustedCollection {
        let first = Result { () throws(TUFError) -> NotaryTrustedCollection in
            try NotaryTrustedCollection(
                gun: request.gun, files: files, pinnedRootKeys: request.pinnedRootKeys, pinnedRootThreshold: request.pinnedRootThreshold,
                delegations: request.delegations, at: time)
        }
        switch first {
        case .success(let collection):
            return collection
        case .failure(let error):
            guard error.code == .thresholdNotMet, error.reason.contains("pinned root key") else { throw error }
            let older = try await olderRoots(request, current: files["root"] ?? [])
            return try NotaryTrustedCollection(
                gun: request.gun, files: files, pinnedRootKeys: request.pinnedRootKeys, pinnedRootThreshold: request.pinnedRootThreshold,
                delegations: request.delegations, at: time, olderRoots: older)
        }
    }

    /// The root versions before the current one (`<n>.root.json`, Notary server API), at most
    /// ``maximumRootVersions``, fetched in parallel, each within its share of
    /// ``Configuration/maximumRootChainBytes``; versions the server does not have are skipped.
    private func olderRoots(_ request: Request, current: [UInt8]) async throws -> [[UInt8]] {
        guard case .integer(let version)? = (try? JSONParser().parse(current))?["signed"]?["version"], version > 1 else { return [] }
        let lowest = max(1, Int(version) - Self.maximumRootVersions)
        let fetcher = try fetcher(for: request.caBundlePath)
        let base = "\(request.server)/v2/\(request.gun)/_trust/tuf/"
        let count = Int(version) - lowest
        let limit = Self.olderRootLimit(count: count, configuration: configuration)
        let chainBytes = configuration.maximumRootChainBytes
        fetchCount.add(count, ordering: .relaxed)
        Counter(label: "signet_notary_metadata_requests_total").increment(by: count)
        return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            for number in lowest..<Int(version) {
                group.addTask {
                    do {
                        return try await fetcher.fetch(base + "\(number).root.json", maximumLength: limit)
                    } catch let error as TUFError where error.code == .lengthMismatch {
                        throw TUFError(
                            .lengthMismatch,
                            "\(error.reason): the \(count) older roots of a rotation chain may take \(chainBytes) bytes together")
                    }
                }
            }
            var roots: [[UInt8]] = []
            for try await bytes in group { if let bytes { roots.append(bytes) } }
            return roots
        }
    }

    /// How many root versions back a rotation chain is followed.
    static let maximumRootVersions = 32

    /// The largest older root accepted when `count` of them are fetched: an equal share of the
    /// chain's bytes, at most the limit of any root.
    static func olderRootLimit(count: Int, configuration: Configuration) -> Int {
        min(configuration.maximumRootBytes, configuration.maximumRootChainBytes / max(1, count))
    }

    /// The roles signed with the root's own keys, whose files are bounded by
    /// ``Configuration/maximumRootBytes``.
    static let rootLevelRoles: Set<String> = ["root", "timestamp", "snapshot"]

    /// Every role a verification of `request` reads: the top-level ones, then each delegated
    /// role asked for with the roles above it.
    static func roleNames(_ request: Request) -> [String] {
        var names = ["root", "timestamp", "snapshot", "targets"]
        for name in request.delegations where name != "targets" {
            let parts = name.split(separator: "/")
            guard parts.count >= 2 else { continue }
            for depth in 2...parts.count where !names.contains(parts[0..<depth].joined(separator: "/")) {
                names.append(parts[0..<depth].joined(separator: "/"))
            }
        }
        return names
    }

    /// Fetches every file the verification needs in parallel; a file the server does not have is absent.
    private func fetchAll(_ request: Request) async throws -> NotaryTrustedCollection.Files {
        for part in [request.gun] + request.delegations where part.split(separator: "/").contains("..") || part.contains("?") || part.contains("#") {
            throw TUFError(.malformedMetadata, "\"\(part)\" is not a Notary name")
        }
        let fetcher = try fetcher(for: request.caBundlePath)
        let names = Self.roleNames(request)
        let base = "\(request.server)/v2/\(request.gun)/_trust/tuf/"
        let limit = configuration.maximumMetadataBytes
        let rootLimit = configuration.maximumRootBytes
        fetchCount.add(names.count, ordering: .relaxed)
        Counter(label: "signet_notary_metadata_requests_total").increment(by: names.count)
        return try await withThrowingTaskGroup(of: (String, [UInt8]?).self) { group in
            for name in names {
                let maximum = Self.rootLevelRoles.contains(name) ? rootLimit : limit
                group.addTask { (name, try await fetcher.fetch(base + name + ".json", maximumLength: maximum)) }
            }
            var files: NotaryTrustedCollection.Files = [:]
            for try await (name, bytes) in group {
                if let bytes { files[name] = bytes }
            }
            return files
        }
    }

    /// `fetched` with each file that is not the one the role above it lists fetched again by
    /// the checksum listed (`<role>.<sha256 hex>.json`, Notary server API; the server keeps
    /// every version under that name), top down: the snapshot the timestamp lists, then the
    /// root, `targets` and delegated roles the snapshot lists.
    ///
    /// ``fetchAll(_:)`` asks for every role at once under its plain name, so a publish landing
    /// between two of those requests leaves files of two moments that do not verify together
    /// (a hash mismatch: the repository refused for 30 s, or a delegated role skipped for a
    /// whole cache TTL). Notary's own client fetches down the chain by checksum; this keeps
    /// one round trip when nothing moved and adds at most two when something did. Nothing here
    /// is trusted yet: the files are only picked, and verified afterwards as any other, so a
    /// server that answers a checksum name with other bytes is refused as before.
    private func consistentFiles(_ request: Request, fetched: NotaryTrustedCollection.Files) async throws -> NotaryTrustedCollection.Files {
        let format = NotaryMetadataFormat()
        var files = fetched
        /// The checksum to fetch `meta`'s file by, when `bytes` are not that file.
        func checksum(_ meta: NotaryFileMeta?, unlessMatching bytes: [UInt8]?) -> String? {
            guard let expected = meta?.hashes["sha256"], expected.count == 64 else { return nil }  // nothing to fetch by
            return bytes.map(self.checksum(of:)) == expected ? nil : expected
        }
        guard let timestampBytes = files["timestamp"],
              let timestamp = try? SignedMetadata(bytes: timestampBytes, format: format, context: "timestamp.json", read: NotaryTimestampMetadata.init)
        else { return files }
        if let checksum = checksum(timestamp.signed.snapshot, unlessMatching: files["snapshot"]) {
            let refetched = try await fetchByChecksum(request, [(name: "snapshot", checksum: checksum)])
            // Not the listed snapshot either: refused as it is, nothing more asked for.
            guard let bytes = refetched["snapshot"], self.checksum(of: bytes) == checksum else { return files }
            files["snapshot"] = bytes
        }
        guard let snapshotBytes = files["snapshot"],
              let snapshot = try? SignedMetadata(bytes: snapshotBytes, format: format, context: "snapshot.json", read: NotarySnapshotMetadata.init)
        else { return files }
        var stale: [(name: String, checksum: String)] = []
        for name in Self.roleNames(request) where !["timestamp", "snapshot"].contains(name) {
            if let checksum = checksum(snapshot.signed.meta[name], unlessMatching: files[name]) { stale.append((name, checksum)) }
        }
        guard !stale.isEmpty else { return files }
        return files.merging(try await fetchByChecksum(request, stale)) { _, refetched in refetched }
    }

    /// The name a file is fetched by beside its role (`<role>.<checksum>.json`): its SHA-256, in hex.
    private func checksum(of bytes: [UInt8]) -> String { DigestAlgorithm.sha256.hexHash(bytes) }

    /// `names` fetched in parallel under their consistent names; a file the server does not
    /// have is absent, and so is every file when the server (or a proxy before it) refuses
    /// those names: the files fetched under plain names are then verified as they are, and
    /// refused for their hashes as before. Past the caller's deadline, cancelled.
    private func fetchByChecksum(_ request: Request, _ names: [(name: String, checksum: String)]) async throws -> NotaryTrustedCollection.Files {
        do {
            return try await fetchEachByChecksum(request, names)
        } catch let error as TUFError {
            logger.info("Notary metadata could not be fetched by checksum", metadata: [
                "server": "\(request.server)", "gun": "\(request.gun)", "reason": "\(error)",
            ])
            return [:]
        }
    }

    private func fetchEachByChecksum(_ request: Request, _ names: [(name: String, checksum: String)]) async throws -> NotaryTrustedCollection.Files {
        let fetcher = try fetcher(for: request.caBundlePath)
        let base = "\(request.server)/v2/\(request.gun)/_trust/tuf/"
        fetchCount.add(names.count, ordering: .relaxed)
        Counter(label: "signet_notary_metadata_requests_total").increment(by: names.count)
        return try await withThrowingTaskGroup(of: (String, [UInt8]?).self) { group in
            for (name, checksum) in names {
                let maximum = Self.rootLevelRoles.contains(name) ? configuration.maximumRootBytes : configuration.maximumMetadataBytes
                group.addTask { (name, try await fetcher.fetch(base + "\(name).\(checksum).json", maximumLength: maximum)) }
            }
            var files: NotaryTrustedCollection.Files = [:]
            for try await (name, bytes) in group {
                if let bytes { files[name] = bytes }
            }
            return files
        }
    }

    /// Fetchers over HTTPS (``NotaryHTTPFetcher``, libcurl on a thread of its own), sharing one
    /// ``TokenAuthenticator`` so a token serves every fetcher of the client.
    static func httpFetcherFactory(requestTimeout: Duration, credentials: RegistryCredentialStore) -> FetcherFactory {
        let authenticator = TokenAuthenticator()
        return { path in
            try NotaryHTTPFetcher(
                configuration: NotaryHTTPFetcher.Configuration(caBundlePath: path, requestTimeout: requestTimeout, userAgent: "signet-notary"),
                authenticator: authenticator, credentials: credentials)
        }
    }

    private func fetcher(for caBundlePath: String?) throws -> any TUFFetcher {
        let key = caBundlePath ?? ""
        if let existing = fetchers.withLockedValue({ $0[key] }) { return existing }
        let made = try makeFetcher(caBundlePath)
        return fetchers.withLockedValue { table in
            if let existing = table[key] { return existing }
            table[key] = made
            return made
        }
    }
}

/// `task`'s value, or `CancellationError` as soon as the caller is cancelled while the task
/// goes on for others (`task.value` itself waits for the task whatever happens to its caller,
/// so a deadline around it ended nothing: a review waited for a hung Notary server's request
/// timeouts past its own deadline).
func sharedValue<T: Sendable>(of task: Task<T, any Error>) async throws -> T {
    let waiter = NIOLockedValueBox<(continuation: CheckedContinuation<T, any Error>?, ended: Bool)>((nil, false))
    @Sendable func end(_ result: Result<T, any Error>) {
        let continuation = waiter.withLockedValue { state -> CheckedContinuation<T, any Error>? in
            guard !state.ended else { return nil }
            state.ended = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: result)
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let cancelled = waiter.withLockedValue { state -> Bool in
                if state.ended { return true }
                state.continuation = continuation
                return false
            }
            if cancelled {
                continuation.resume(throwing: CancellationError())
                return
            }
            Task {
                do {
                    end(.success(try await task.value))
                } catch {
                    end(.failure(error))
                }
            }
        }
    } onCancel: {
        end(.failure(CancellationError()))
    }
}

/// Runs `body`, throwing `CancellationError` when `deadline` passes first.
func withDeadline<T: Sendable>(_ deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(until: deadline, clock: .continuous)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw CancellationError() }
        return value
    }
}
