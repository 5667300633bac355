extension ClusterImagePolicy {
    /// A `notation` authority as written: Notary Project signatures checked with a Notary
    /// Project trust policy document (`trustpolicy.json`, pasted as it is) and trust stores
    /// (Notary Project trust store and trust policy specification).
    ///
    /// ```yaml
    /// notation:
    ///   trustPolicy: |            # the trustpolicy.json document, inline (JSON text or YAML)
    ///     {"version": "1.0", "trustPolicies": [ ... ]}
    ///   # or trustPolicyFile: /etc/signet/notation/trustpolicy.json
    ///   # or trustPolicyConfigMapRef: {namespace: signet-system, name: notation, key: trustpolicy.json}
    ///   # or trustPolicySecretRef: {namespace: signet-system, name: notation}   # key trustpolicy.json
    ///   trustStores:              # named stores the document refers to, {type}:{name}
    ///     - name: ca:wabbit-networks
    ///       pem: |
    ///         -----BEGIN CERTIFICATE-----
    ///         ...
    ///     - name: tsa:acme-tsa
    ///       file: /etc/signet/notation/tsa-root.crt
    ///     - name: signingAuthority:aws-signer
    ///       configMapRef: {namespace: signet-system, name: notation, key: aws-signer-root.crt}
    ///   trustStoreDirectory: /etc/signet/notation/truststore   # optional: x509/{type}/{name}/*.crt
    ///   crls:                     # optional: CRLs for the revocation check, pem, file,
    ///     - file: /etc/signet/notation/intermediate.crl     # configMapRef or secretRef
    /// ```
    ///
    /// A `configMapRef` or `secretRef` (Kubernetes "ConfigMaps", "Secrets") is read from the
    /// mounted volume (`/etc/signet/configmaps` or `/etc/signet/key-secrets`, then
    /// `<namespace>/<name>/<key>`), or with `--key-secrets-source api` through the Kubernetes
    /// API, watched: a change recompiles the policy within one reload interval, and a key that
    /// is missing fails the authority closed.
    public struct NotationAuthority: Sendable, Hashable, Codable {
        /// The trust policy document inline: JSON text, or the same structure written as YAML.
        public var trustPolicy: PolicyValue?
        /// A file holding the trust policy document.
        public var trustPolicyFile: String?
        /// A ConfigMap key holding the trust policy document (key `trustpolicy.json` by default).
        public var trustPolicyConfigMapRef: ConfigMapKeyReference?
        /// A Secret key holding the trust policy document (key `trustpolicy.json` by default).
        public var trustPolicySecretRef: SecretKeyReference?
        /// Certificates of named trust stores.
        public var trustStores: [NotationTrustStoreSource]?
        /// A Notation trust store directory (`x509/{ca,signingAuthority,tsa}/{name}/*.{pem,crt,cer}`).
        public var trustStoreDirectory: String?
        /// CRLs for the revocation check (RFC 5280 section 5), each `pem` or `file`. A current one
        /// of a certificate's issuer that covers it makes its status known; when downloads are on
        /// (`--notation-crl-downloads`) the certificate's `http` distribution points are
        /// downloaded too, and a listing in either revokes.
        public var crls: [NotationCRLSource]?

        public init(trustPolicy: PolicyValue? = nil, trustPolicyFile: String? = nil, trustStores: [NotationTrustStoreSource]? = nil, trustStoreDirectory: String? = nil) {
            self.trustPolicy = trustPolicy
            self.trustPolicyFile = trustPolicyFile
            self.trustStores = trustStores
            self.trustStoreDirectory = trustStoreDirectory
        }
    }

    /// One CRL: exactly one of `pem` (`-----BEGIN X509 CRL-----` blocks), `file`, `configMapRef`
    /// or `secretRef` (PEM or DER; `key` required).
    public struct NotationCRLSource: Sendable, Hashable, Codable {
        public var pem: String?
        public var file: String?
        public var configMapRef: ConfigMapKeyReference?
        public var secretRef: SecretKeyReference?

        public init(pem: String? = nil, file: String? = nil) {
            self.pem = pem
            self.file = file
        }
    }

    /// Certificates for one named trust store: `name` as the trust policy writes it
    /// (`ca:acme`, `signingAuthority:aws-signer`, `tsa:acme-tsa`) and exactly one of `pem`
    /// (PEM certificates, RFC 7468 section 5), `file`, `configMapRef` or `secretRef` (PEM or DER;
    /// `key` required).
    public struct NotationTrustStoreSource: Sendable, Hashable, Codable {
        public var name: String
        public var pem: String?
        public var file: String?
        public var configMapRef: ConfigMapKeyReference?
        public var secretRef: SecretKeyReference?

        public init(name: String, pem: String? = nil, file: String? = nil) {
            self.name = name
            self.pem = pem
            self.file = file
        }
    }
}
