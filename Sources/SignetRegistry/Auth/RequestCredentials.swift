/// Registry credentials that belong to one piece of work rather than to the client: in signet,
/// the image pull secrets of the pod under admission (Kubernetes `core/v1`
/// `PodSpec.imagePullSecrets` and `ServiceAccount.imagePullSecrets`).
///
/// A source is asked when a registry request is about to be sent, so work answered from the
/// verdict caches never reads a secret; the Notary v1 client also asks it before looking up its
/// collection cache, which is keyed by the credential. Implementations may fetch lazily and
/// must be safe to call from concurrent tasks.
public protocol RegistryCredentialSource: Sendable {
    /// The credential for `repository` of `registry` (as in ``ImageReference/repository`` and
    /// ``ImageReference/registry``; `nil` for a server that is not a registry), if this source
    /// has one (see ``RegistryCredentialStore/credential(for:repository:)``).
    func credential(for registry: String, repository: String?) async -> RegistryCredential?

    /// What sources with the same credentials share (for example the namespace and secret
    /// names they are read from): two with the same identity get the same answers from a
    /// registry, so work done for one may be handed to the other. `nil` (the default): none is
    /// known, and the source shares with no other.
    var identity: String? { get }

    /// Why some of this source's credentials were not read, if some were not
    /// (``RegistryCredentialStore/withheld``); asked only when a registry refused a request sent
    /// without credentials. `nil` (the default): nothing was withheld.
    func withheldReason() async -> String?
}

extension RegistryCredentialSource {
    public var identity: String? { nil }
    public func withheldReason() async -> String? { nil }
}

extension RegistryCredentialStore: RegistryCredentialSource {
    public func withheldReason() async -> String? { withheld }
}

/// The credentials in force for the registry requests of the current task and its child tasks,
/// whichever ``RegistryClient`` sends them: a task-local value, as ``RegistryRequestCounter`` is.
///
/// A credential from the request's source wins over the client's own for the same registry;
/// registries the source has nothing for use the client's credentials (signet's configured
/// docker `config.json`). Bearer tokens are cached per credential, so a token fetched with one
/// pod's secret never authorises a request made for another pod.
///
/// ```swift
/// let manifest = try await RequestCredentials.using(podSecrets) {
///     try await client.manifest(reference, deadline: deadline)
/// }
/// ```
public enum RequestCredentials {
    @TaskLocal static var current: (any RegistryCredentialSource)?

    /// Who the registry requests of the current task are made for: ``Identity/client`` when
    /// no source is installed (the client's own credentials), the source's identity when it
    /// has one, and a value of its own otherwise.
    public static var identity: Identity {
        guard let current else { return .client }
        if let identity = current.identity { return .source(identity) }
        return .unshared(UniqueIdentity())
    }

    /// The credential the current task's source has for `registry` (a registry or another
    /// server that authenticates like one, such as a Notary server), if a source is installed
    /// and has one.
    public static func credential(for registry: String, repository: String? = nil) async -> RegistryCredential? {
        await current?.credential(for: registry, repository: repository)
    }

    /// See ``identity``.
    public enum Identity: Sendable, Hashable {
        case client
        case source(String)
        /// Equal to no other.
        case unshared(UniqueIdentity)
    }

    /// A value equal only to itself.
    public final class UniqueIdentity: Sendable, Hashable {
        init() {}
        public static func == (lhs: UniqueIdentity, rhs: UniqueIdentity) -> Bool { lhs === rhs }
        public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
    }

    /// Runs `body` with `source` supplying registry credentials to every request it sends.
    public static func using<Result: Sendable>(
        _ source: (any RegistryCredentialSource)?, _ body: () async throws -> Result
    ) async rethrows -> Result {
        try await $current.withValue(source) { try await body() }
    }
}
