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
    ///   delegations: [targets/releases, targets/alice]   # optional: roles that must have signed
    ///   threshold: 1                  # optional: how many of them; default all
    ///   caBundleFile: /etc/signet/notary/ca.pem          # optional: the server's CA bundle
    /// ```
    ///
    /// Without `delegations`, the tag must be signed in `targets/releases` when the repository
    /// delegates to it, and otherwise in `targets` (the roles `docker trust` signs and reads).
    public struct NotaryV1Authority: Sendable, Hashable, Codable {
        /// The Notary server's base URL (`https://...`).
        public var server: String
        public var rootKeys: [NotaryRootKeySource]
        public var delegations: [String]?
        public var threshold: Int?
        public var caBundleFile: String?

        public init(server: String, rootKeys: [NotaryRootKeySource], delegations: [String]? = nil, threshold: Int? = nil, caBundleFile: String? = nil) {
            self.server = server
            self.rootKeys = rootKeys
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
