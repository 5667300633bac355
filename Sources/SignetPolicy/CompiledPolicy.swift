import SignetRegistry

/// A ``ClusterImagePolicy`` validated and compiled: globs normalised into matchers, defaults
/// applied (`require: all`, `mode: Enforce`, authority names `authority-<index>`), and the
/// number of authorities that must pass resolved to a count.
public struct CompiledPolicy: Sendable {
    /// `metadata.name`, unique across the ``PolicySet``.
    public let name: String
    /// Where the policy was read from.
    public let source: PolicySourceLocation
    /// The compiled `spec.images` globs.
    public let images: [ImageGlob]
    /// The compiled `spec.authorities`, in order.
    public let authorities: [CompiledAuthority]
    /// How many authorities must pass (`require`, with `all` resolved to `authorities.count`).
    public let requiredPasses: Int
    /// What a failure does.
    public let mode: PolicyMode
    /// The resource as written.
    public let definition: ClusterImagePolicy

    public init(
        name: String,
        source: PolicySourceLocation,
        images: [ImageGlob],
        authorities: [CompiledAuthority],
        requiredPasses: Int,
        mode: PolicyMode,
        definition: ClusterImagePolicy
    ) {
        self.name = name
        self.source = source
        self.images = images
        self.authorities = authorities
        self.requiredPasses = requiredPasses
        self.mode = mode
        self.definition = definition
    }

    /// Whether any of the policy's globs matches `image`.
    public func matches(_ image: ImageReference) -> Bool {
        matches(ImageMatchSubject(image))
    }

    func matches(_ subject: ImageMatchSubject) -> Bool {
        images.contains { $0.matches(subject) }
    }
}

/// Where a policy document came from: the file name and the 1-based index of the YAML document
/// in that file.
public struct PolicySourceLocation: Sendable, Hashable, CustomStringConvertible {
    public let file: String
    public let document: Int

    public init(file: String, document: Int) {
        self.file = file
        self.document = document
    }

    public var description: String { "\(file), document \(document)" }
}

/// One authority of a compiled policy.
///
/// The kinds mirror the authority kinds of a ``ClusterImagePolicy``: `static` is decided by the
/// ``PolicyEvaluator``; the signature kinds are handed to an ``AuthorityVerifier``
/// (cosign key-based and keyless, Notation, Notary v1 / Docker Content Trust, in-toto
/// attestations). `key` and `keyless` carry their typed configuration; the others will replace their
/// ``PolicyValue`` bodies as their verifiers land.
public struct CompiledAuthority: Sendable, Hashable {
    /// `name`, or `authority-<index>` when absent.
    public let name: String
    /// The 0-based position in `spec.authorities`.
    public let index: Int
    public let kind: Kind

    public init(name: String, index: Int, kind: Kind) {
        self.name = name
        self.index = index
        self.kind = kind
    }

    /// What the authority checks.
    public enum Kind: Sendable, Hashable {
        /// Passes or fails every image; `message` explains why.
        case `static`(action: StaticAction, message: String?)
        /// cosign, key-based signatures.
        case key(CompiledKeyAuthority)
        /// Sigstore keyless signatures (Fulcio certificate, Rekor entry): cosign `.sig` layers
        /// and Sigstore bundles attached as referrers.
        case keyless(CompiledKeylessAuthority)
        /// Notary Project (Notation) signatures.
        case notation(PolicyValue)
        /// Notary v1 / Docker Content Trust.
        case notaryV1(PolicyValue)
        /// in-toto attestations with predicate conditions.
        case attestations(PolicyValue)

        /// The field name of the kind in the resource: `static`, `key`, `keyless`, ...
        public var fieldName: String {
            switch self {
            case .static: "static"
            case .key: "key"
            case .keyless: "keyless"
            case .notation: "notation"
            case .notaryV1: "notaryV1"
            case .attestations: "attestations"
            }
        }
    }
}
