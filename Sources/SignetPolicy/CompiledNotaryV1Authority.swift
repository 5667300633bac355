/// A `notaryV1` authority compiled (Docker Content Trust, Notary v1 TUF metadata): the server,
/// the pinned root keys read and parsed, the roles that must have signed and how many.
///
/// Semantics: an image passes when the repository's metadata verifies from a root signed by
/// the pinned keys (thresholds, expiry, snapshot and timestamp hashes, delegations and their
/// paths, no rollback), and at least ``threshold`` of ``delegations`` list the image's tag with
/// the image's digest and manifest length (for an image named by digest alone: some tag with
/// that digest).
public struct CompiledNotaryV1Authority: Sendable, Hashable {
    /// The server's base URL, without a trailing `/`.
    public let server: String
    /// The pinned root keys, in the order written; no two are the same key.
    public let rootKeys: [TrustedPublicKey]
    /// The roles that must have signed; empty means `targets/releases` when the repository
    /// delegates to it, otherwise `targets`.
    public let delegations: [String]
    /// How many of ``delegations`` must vouch (1 when ``delegations`` is empty).
    public let threshold: Int
    /// The PEM bundle of CAs the server's certificate must chain to; the system store when nil.
    public let caBundleFile: String?
    /// How many of ``rootKeys`` must have signed the root the trust chain starts from (at least
    /// 1; the root's own root-role threshold when higher).
    public var rootThreshold = 1
    /// Files read (root key files, the CA bundle), so that a change recompiles the policy.
    public var trustMaterialFiles: [String] = []
    /// Root keys that could not be read; while any is listed the authority fails every image.
    public var unresolvedKeys: [String] = []

    public init(server: String, rootKeys: [TrustedPublicKey], delegations: [String], threshold: Int, caBundleFile: String? = nil) {
        self.server = server
        self.rootKeys = rootKeys
        self.delegations = delegations
        self.threshold = threshold
        self.caBundleFile = caBundleFile
    }
}
