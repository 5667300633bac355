extension ClusterImagePolicy {
    /// A `notaryV1` authority as written: Docker Content Trust, the tag's digest as signed in a
    /// Notary v1 server's TUF metadata (Notary server API `/v2/<gun>/_trust/tuf/<role>.json`,
    /// TUF specification 1.0 with Notary's formats).
    ///
    /// ```yaml
    /// notaryV1:
    ///   server: https://notary.example.com:4443
    ///   rootKeys:                     # the repository's root key(s), pinned: never trust on first use
    ///     - pem: |
    ///         -----BEGIN PUBLIC KEY-----       # or the root's CERTIFICATE
    ///         ...
    ///     - file: /etc/signet/notary/root.pub
    ///   rootThreshold: 2              # optional: how many pinned keys must sign the root; default 1
    ///   delegations: [targets/releases, targets/alice]   # optional: roles that must have signed
    ///   threshold: 1                  # optional: how many of them; default all
    ///   caBundleFile: /etc/signet/notary/ca.pem          # optional: the server's CA bundle
    /// ```
    ///
    /// Without `delegations`, the tag must be signed in `targets/releases` when the repository
    /// delegates to it, and otherwise in `targets` (the roles `docker trust` signs and reads).
    ///
    /// `rootThreshold` is the trusted root's threshold in TUF's sense (specification 5.3.4: a
    /// new root is judged by the threshold of the root already trusted, never by its own): the
    /// root the chain starts from must be signed by that many of the pinned keys, or by its own
    /// root role's threshold when that is higher, and each later root of a rotation by that many
    /// of its predecessor's root keys. Without it one pinned key suffices, so several
    /// pinned keys are alternatives (a rotation in progress); a key of them that leaks can then
    /// sign a root of its own.
    public struct NotaryV1Authority: Sendable, Hashable, Codable {
        /// The Notary server's base URL (`https://...`).
        public var server: String
        public var rootKeys: [NotaryRootKeySource]
        public var delegations: [String]?
        public var threshold: Int?
        public var caBundleFile: String?
        /// How many of ``rootKeys`` must have signed the root; 1 when absent.
        public var rootThreshold: Int?

        public init(
            server: String, rootKeys: [NotaryRootKeySource], delegations: [String]? = nil, threshold: Int? = nil, caBundleFile: String? = nil,
            rootThreshold: Int? = nil
        ) {
            self.server = server
            self.rootKeys = rootKeys
            self.rootThreshold = rootThreshold
            self.delegations = delegations
            self.threshold = threshold
            self.caBundleFile = caBundleFile
        }
    }

    /// One pinned root key of a ``NotaryV1Authority``: exactly one of `pem` (a PEM public key,
    /// RFC 7468 section 13, or the root's certificate, section 5) or `file` (a path to one).
    public struct NotaryRootKeySource: Sendable, Hashable, Codable {
        public var pem: String?
        public var file: String?

        public init(pem: String? = nil, file: String? = nil) {
            self.pem = pem
            self.file = file
        }
    }
}
