extension ClusterImagePolicy {
    /// A `key` authority as written: cosign key-based signatures (sigstore/cosign
    /// `specs/SIGNATURE_SPEC.md`) by `threshold` distinct keys of `publicKeys`.
    ///
    /// ```yaml
    /// key:
    ///   publicKeys:
    ///     - pem: |
    ///         -----BEGIN PUBLIC KEY-----
    ///         ...
    ///         -----END PUBLIC KEY-----
    ///     - file: /etc/signet/keys/bob.pub
    ///     - secretRef: {namespace: signet-system, name: release-keys, key: cosign.pub}
    ///       hashAlgorithm: sha256     # sha256 (default) | sha384 | sha512
    ///       rsaPadding: pkcs1v15      # pkcs1v15 (default) | pss; RSA keys only
    ///   threshold: 2                  # distinct keys that must have signed; default 1
    ///   annotations:                  # optional: required entries of the payload's `optional`
    ///     env: prod
    ///   transparencyLog: require      # require | ignore (default): a Rekor entry of each signature
    ///   trustRoot: {file: /r.json}    # with require: the Rekor keys; the Sigstore root when absent
    /// ```
    public struct KeyAuthority: Sendable, Hashable, Codable {
        public var publicKeys: [PublicKeySource]
        public var threshold: Int?
        public var annotations: [String: String]?
        /// `require` or `ignore` (the default): whether each signature must be logged in a
        /// transparency log the trust root names (cosign 2 and later require it unless told
        /// `--insecure-ignore-tlog`).
        public var transparencyLog: String?
        /// The `trusted_root.json` whose transparency logs vouch under `require`; the Sigstore
        /// root in force (embedded or from TUF) when absent.
        public var trustRoot: TrustRootSource?

        public init(
            publicKeys: [PublicKeySource], threshold: Int? = nil, annotations: [String: String]? = nil, transparencyLog: String? = nil,
            trustRoot: TrustRootSource? = nil
        ) {
            self.publicKeys = publicKeys
            self.threshold = threshold
            self.annotations = annotations
            self.transparencyLog = transparencyLog
            self.trustRoot = trustRoot
        }
    }

    /// Where one public key of a ``KeyAuthority`` comes from: exactly one of `pem` (a PEM
    /// SubjectPublicKeyInfo, RFC 7468 section 13), `file` (a path to one) or `secretRef` (a key of
    /// a Kubernetes Secret, read from the mounted secrets directory), plus how it signs.
    public struct PublicKeySource: Sendable, Hashable, Codable {
        public var pem: String?
        public var file: String?
        public var secretRef: SecretKeyReference?
        /// `sha256` (default), `sha384` or `sha512`.
        public var hashAlgorithm: String?
        /// `pkcs1v15` (default) or `pss` (RFC 8017 section 8); RSA keys only.
        public var rsaPadding: String?

        public init(pem: String? = nil, file: String? = nil, secretRef: SecretKeyReference? = nil, hashAlgorithm: String? = nil, rsaPadding: String? = nil) {
            self.pem = pem
            self.file = file
            self.secretRef = secretRef
            self.hashAlgorithm = hashAlgorithm
            self.rsaPadding = rsaPadding
        }
    }

    /// A key of a Kubernetes Secret (`v1/Secret` `data`): `namespace`, `name`, and `key`
    /// (default `cosign.pub`, the key `cosign generate-key-pair k8s://ns/name` writes).
    public struct SecretKeyReference: Sendable, Hashable, Codable {
        public var namespace: String
        public var name: String
        public var key: String?

        public init(namespace: String, name: String, key: String? = nil) {
            self.namespace = namespace
            self.name = name
            self.key = key
        }
    }
}
