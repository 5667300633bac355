extension ClusterImagePolicy {
    /// A `keyless` authority as written: Sigstore keyless signatures (a Fulcio certificate for an
    /// OIDC identity, logged in Rekor), either cosign's `.sig` layers (sigstore/cosign
    /// `specs/SIGNATURE_SPEC.md`) or Sigstore bundles attached as OCI referrers (sigstore/cosign
    /// `specs/BUNDLE_SPEC.md`), by one of ``identities``, trusted through ``trustRoot``.
    ///
    /// ```yaml
    /// keyless:
    ///   identities:
    ///     - issuer: https://token.actions.githubusercontent.com
    ///       subjectRegExp: ^https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*$
    ///       extensions:                        # optional Fulcio extensions, exact values
    ///         githubWorkflowRepository: acme/app
    ///         sourceRepositoryRef: refs/heads/main
    ///   trustRoot:                             # optional; the embedded production root when absent
    ///     file: /etc/signet/trust/trusted_root.json
    ///     # inline: '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", ...}'
    ///     # configMapRef: {namespace: signet-system, name: private-sigstore, key: trusted_root.json}
    /// ```
    ///
    /// Regular expressions must match the whole value (as if anchored), so a pattern never
    /// passes because it matches a prefix or a part of the value.
    public struct KeylessAuthority: Sendable, Hashable, Codable {
        public var identities: [KeylessIdentity]
        public var trustRoot: TrustRootSource?

        public init(identities: [KeylessIdentity], trustRoot: TrustRootSource? = nil) {
            self.identities = identities
            self.trustRoot = trustRoot
        }

        /// A missing `identities` reads as empty, so that the loader reports it with its own
        /// message (and reports an authority with two kinds as such).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            identities = try container.decodeIfPresent([KeylessIdentity].self, forKey: .identities) ?? []
            trustRoot = try container.decodeIfPresent(TrustRootSource.self, forKey: .trustRoot)
        }

        private enum CodingKeys: String, CodingKey {
            case identities, trustRoot
        }
    }

    /// One identity a `keyless` authority accepts (sigstore-go `verify.CertificateIdentity`):
    /// exactly one of `issuer` / `issuerRegExp` (the OIDC issuer, Fulcio extension
    /// 1.3.6.1.4.1.57264.1.8 or the legacy .1), exactly one of `subject` / `subjectRegExp` (the
    /// certificate's SAN: an email, a URI or the Fulcio username), and optional `extensions`:
    /// other Fulcio extensions by their sigstore-go names (sigstore/fulcio `docs/oid-info.md`),
    /// each with the exact value required.
    public struct KeylessIdentity: Sendable, Hashable, Codable {
        public var issuer: String?
        public var issuerRegExp: String?
        public var subject: String?
        public var subjectRegExp: String?
        public var extensions: [String: String]?

        public init(
            issuer: String? = nil, issuerRegExp: String? = nil, subject: String? = nil, subjectRegExp: String? = nil,
            extensions: [String: String]? = nil
        ) {
            self.issuer = issuer
            self.issuerRegExp = issuerRegExp
            self.subject = subject
            self.subjectRegExp = subjectRegExp
            self.extensions = extensions
        }
    }

    /// Where a `keyless` authority's Sigstore `trusted_root.json` comes from
    /// (`dev.sigstore.trustroot.v1.TrustedRoot`, sigstore/protobuf-specs): exactly one of `file`
    /// (a path), `inline` (the JSON itself), `configMapRef` (a key of a ConfigMap, read from the
    /// mounted ConfigMaps directory) or `tuf` (a TUF repository of its own that delivers it).
    public struct TrustRootSource: Sendable, Hashable, Codable {
        public var file: String?
        public var inline: String?
        public var configMapRef: ConfigMapKeyReference?
        public var tuf: TUFRepositoryReference?

        public init(file: String? = nil, inline: String? = nil, configMapRef: ConfigMapKeyReference? = nil, tuf: TUFRepositoryReference? = nil) {
            self.file = file
            self.inline = inline
            self.configMapRef = configMapRef
            self.tuf = tuf
        }
    }

    /// A TUF repository that delivers a Sigstore `trusted_root.json` as its target
    /// `trusted_root.json` (TUF specification section 5; laid out as the Sigstore repository:
    /// metadata at `mirror/`, targets at `mirror/targets/`), kept current by `signet serve`.
    ///
    /// ```yaml
    /// tuf:
    ///   mirror: https://tuf.internal.example
    ///   root: {file: /etc/signet/tuf/root.json}   # or inline, or configMapRef (key default root.json)
    /// ```
    public struct TUFRepositoryReference: Sendable, Hashable, Codable {
        public var mirror: String
        /// The repository's `root.json` the client trusts first (section 5.2).
        public var root: TUFRootReference

        public init(mirror: String, root: TUFRootReference) {
            self.mirror = mirror
            self.root = root
        }
    }

    /// Where a TUF repository's bootstrap `root.json` comes from: exactly one of `file`,
    /// `inline` or `configMapRef` (key `root.json` unless named).
    public struct TUFRootReference: Sendable, Hashable, Codable {
        public var file: String?
        public var inline: String?
        public var configMapRef: ConfigMapKeyReference?

        public init(file: String? = nil, inline: String? = nil, configMapRef: ConfigMapKeyReference? = nil) {
            self.file = file
            self.inline = inline
            self.configMapRef = configMapRef
        }
    }

    /// A key of a Kubernetes ConfigMap (`v1/ConfigMap` `data`): `namespace`, `name`, and `key`
    /// (default `trusted_root.json`).
    public struct ConfigMapKeyReference: Sendable, Hashable, Codable {
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
