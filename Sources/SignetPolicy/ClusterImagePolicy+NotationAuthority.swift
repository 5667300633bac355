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
    ///   trustStores:              # named stores the document refers to, {type}:{name}
    ///     - name: ca:wabbit-networks
    ///       pem: |
    ///         -----BEGIN CERTIFICATE-----
    ///         ...
    ///     - name: tsa:acme-tsa
    ///       file: /etc/signet/notation/tsa-root.crt
    ///   trustStoreDirectory: /etc/signet/notation/truststore   # optional: x509/{type}/{name}/*.crt
    /// ```
    public struct NotationAuthority: Sendable, Hashable, Codable {
        /// The trust policy document inline: JSON text, or the same structure written as YAML.
        public var trustPolicy: PolicyValue?
        /// A file holding the trust policy document.
        public var trustPolicyFile: String?
        /// Certificates of named trust stores.
        public var trustStores: [NotationTrustStoreSource]?
        /// A Notation trust store directory (`x509/{ca,signingAuthority,tsa}/{name}/*.{pem,crt,cer}`).
        public var trustStoreDirectory: String?

        public init(trustPolicy: PolicyValue? = nil, trustPolicyFile: String? = nil, trustStores: [NotationTrustStoreSource]? = nil, trustStoreDirectory: String? = nil) {
            self.trustPolicy = trustPolicy
            self.trustPolicyFile = trustPolicyFile
            self.trustStores = trustStores
            self.trustStoreDirectory = trustStoreDirectory
        }
    }

    /// Certificates for one named trust store: `name` as the trust policy writes it
    /// (`ca:acme`, `signingAuthority:aws-signer`, `tsa:acme-tsa`) and exactly one of `pem`
    /// (PEM certificates, RFC 7468 section 5) or `file` (PEM or DER).
    public struct NotationTrustStoreSource: Sendable, Hashable, Codable {
        public var name: String
        public var pem: String?
        public var file: String?

        public init(name: String, pem: String? = nil, file: String? = nil) {
            self.name = name
            self.pem = pem
            self.file = file
        }
    }
}
