import NIOConcurrencyHelpers
import SignetCrypto
import SignetSigstore

/// Sigstore trusted roots delivered by TUF repositories that policies name themselves
/// (`trustRoot.tuf`: a mirror and the repository's bootstrap `root.json`; TUF specification
/// section 5), as opposed to the one Sigstore root signet serve keeps current
/// (``LiveTrustedRoot``).
///
/// A ``PolicyLoader`` asks for a repository's root when it compiles an authority naming it; the
/// first ask registers the repository, and until a TUF refresh has delivered its root the
/// authority has no trusted logs or CAs, so it fails closed. `signet serve` runs a TUF client
/// for each registered repository and publishes every root it adopts here; the published roots'
/// digests are part of the policy sources' change checks and of the policy set's revision, so a
/// new root recompiles the policies and retires the verdicts cached under the old one. Each
/// policy set put in force is handed to ``retain(only:)``: repositories it no longer names
/// (their policies were edited or removed) are unregistered, their roots dropped and their
/// clients stopped, so signet asks no mirror that no policy in force names.
public final class PolicyTUFTrustRoots: Sendable {
    /// A repository registered or unregistered, in order.
    public enum Change: Sendable, Equatable {
        /// A policy names it: its client should run.
        case registered(Repository)
        /// No policy in force names it any longer: its client should stop.
        case unregistered(Repository)
    }

    /// One repository: where it is served and the root it is trusted from.
    public struct Repository: Sendable, Hashable {
        /// Metadata at `<mirrorURL>/`, targets at `<mirrorURL>/targets/`.
        public var mirrorURL: String
        /// The `root.json` the rotation chain starts from (TUF specification section 5.2).
        public var bootstrapRoot: [UInt8]

        public init(mirrorURL: String, bootstrapRoot: [UInt8]) {
            self.mirrorURL = mirrorURL
            self.bootstrapRoot = bootstrapRoot
        }

        /// The mirror and the SHA-256 of the bootstrap root: two policies naming the same mirror
        /// with different roots are two repositories, each trusted from its own root.
        public var identity: String { "\(mirrorURL) root sha256:\(DigestAlgorithm.sha256.hexHash(bootstrapRoot))" }
    }

    /// How the trust root digest of an authority compiled before its repository delivered a
    /// root begins (`pending: TUF <mirror>`).
    public static let pendingDigestPrefix = "pending: TUF "

    private struct Shared {
        var roots: [String: LiveTrustedRoot.Snapshot] = [:]
        var registered: [String: Repository] = [:]
    }

    private let shared: NIOLockedValueBox<Shared>
    private let registrations: AsyncStream<Change>.Continuation
    /// Each repository as it is first asked for, and as the policies in force stop naming it.
    public let changes: AsyncStream<Change>
    /// The roots a pinned copy reads (one load sees one state); nil: the shared ones.
    private let pinnedRoots: [String: LiveTrustedRoot.Snapshot]?
    private let parent: PolicyTUFTrustRoots?

    public init() {
        shared = NIOLockedValueBox(Shared())
        (changes, registrations) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        pinnedRoots = nil
        parent = nil
    }

    private init(pinning parent: PolicyTUFTrustRoots) {
        shared = NIOLockedValueBox(Shared())
        (changes, registrations) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(0))
        pinnedRoots = parent.shared.withLockedValue { $0.roots }
        self.parent = parent
    }

    /// A copy whose roots stay as they are now (registrations still reach this registry), so a
    /// whole policy load, and its revision, sees one state.
    public func pinned() -> PolicyTUFTrustRoots {
        parent == nil ? PolicyTUFTrustRoots(pinning: self) : self
    }

    /// The root `repository` delivered, or nil when none has been delivered yet (the repository
    /// is registered for the TUF client then).
    public func root(for repository: Repository) -> LiveTrustedRoot.Snapshot? {
        let owner = parent ?? self
        let isNew = owner.shared.withLockedValue { state in
            guard state.registered[repository.identity] == nil else { return false }
            state.registered[repository.identity] = repository
            return true
        }
        if isNew { owner.registrations.yield(.registered(repository)) }
        if let pinnedRoots { return pinnedRoots[repository.identity] }
        return owner.shared.withLockedValue { $0.roots[repository.identity] }
    }

    /// Makes `snapshot` the root in force for `repository`, while it is registered (a client
    /// that is being stopped cannot bring back the root of a repository no policy names).
    public func publish(_ snapshot: LiveTrustedRoot.Snapshot, for repository: Repository) {
        (parent ?? self).shared.withLockedValue { state in
            guard state.registered[repository.identity] != nil else { return }
            state.roots[repository.identity] = snapshot
        }
    }

    /// Makes the registered repositories exactly `repositories` (those the policy set just put
    /// in force names): the others are unregistered and their roots dropped, and any of
    /// `repositories` not registered is registered. Returns what changed.
    @discardableResult
    public func retain(only repositories: [Repository]) -> [Change] {
        let owner = parent ?? self
        let wanted = Dictionary(repositories.map { ($0.identity, $0) }, uniquingKeysWith: { first, _ in first })
        let changes = owner.shared.withLockedValue { state in
            var changes: [Change] = []
            for (identity, repository) in state.registered.sorted(by: { $0.key < $1.key }) where wanted[identity] == nil {
                state.registered[identity] = nil
                state.roots[identity] = nil
                changes.append(.unregistered(repository))
            }
            for (identity, repository) in wanted.sorted(by: { $0.key < $1.key }) where state.registered[identity] == nil {
                state.registered[identity] = repository
                changes.append(.registered(repository))
            }
            return changes
        }
        for change in changes { owner.registrations.yield(change) }
        return changes
    }

    /// The repositories asked for so far.
    public var repositories: [Repository] {
        (parent ?? self).shared.withLockedValue { Array($0.registered.values) }.sorted { $0.identity < $1.identity }
    }

    /// The delivered roots (repository and digest), for change checks and revisions.
    public var fingerprint: String {
        let roots = pinnedRoots ?? shared.withLockedValue { $0.roots }
        return roots.keys.sorted().map { "\($0)=\(roots[$0]!.digest)" }.joined(separator: ";")
    }
}
