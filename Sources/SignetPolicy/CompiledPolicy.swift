import Foundation
import SignetCrypto
import SignetRegistry

/// A ``ClusterImagePolicy`` validated and compiled: globs normalised into matchers, defaults
/// applied (`require: all`, `mode: Enforce`, authority names `authority-<index>`), and the
/// number of authorities that must pass resolved to a count.
///
/// A value type over one shared, immutable storage object: every admission passes policies
/// around, and copying the resource as written field by field cost a retain and a release for
/// each of its strings and arrays.
public struct CompiledPolicy: Sendable {
    private final class Storage: Sendable {
        let name: String
        let source: PolicySourceLocation
        let images: [ImageGlob]
        let authorities: [CompiledAuthority]
        let requiredPasses: Int
        let mode: PolicyMode
        let definition: ClusterImagePolicy
        let definitionDigest: String

        init(
            name: String, source: PolicySourceLocation, images: [ImageGlob], authorities: [CompiledAuthority],
            requiredPasses: Int, mode: PolicyMode, definition: ClusterImagePolicy, definitionDigest: String
        ) {
            self.name = name
            self.source = source
            self.images = images
            self.authorities = authorities
            self.requiredPasses = requiredPasses
            self.mode = mode
            self.definition = definition
            self.definitionDigest = definitionDigest
        }
    }

    private let storage: Storage

    /// `metadata.name`, unique across the ``PolicySet``.
    public var name: String { storage.name }
    /// Where the policy was read from.
    public var source: PolicySourceLocation { storage.source }
    /// The compiled `spec.images` globs.
    public var images: [ImageGlob] { storage.images }
    /// The compiled `spec.authorities`, in order.
    public var authorities: [CompiledAuthority] { storage.authorities }
    /// How many authorities must pass (`require`, with `all` resolved to `authorities.count`).
    public var requiredPasses: Int { storage.requiredPasses }
    /// What a failure does.
    public var mode: PolicyMode { storage.mode }
    /// `spec.requireDigest`: images named by tag alone fail the policy.
    public var requireDigest: Bool { storage.definition.spec.requireDigest ?? false }
    /// The resource as written.
    public var definition: ClusterImagePolicy { storage.definition }
    /// SHA-256 (hexadecimal) of the policy as written: its JSON with sorted keys. Any edit to the
    /// policy changes it; cached verification results are keyed by it. Computed once here, not
    /// at every verification.
    public var definitionDigest: String { storage.definitionDigest }

    public init(
        name: String,
        source: PolicySourceLocation,
        images: [ImageGlob],
        authorities: [CompiledAuthority],
        requiredPasses: Int,
        mode: PolicyMode,
        definition: ClusterImagePolicy
    ) {
        storage = Storage(
            name: name, source: source, images: images, authorities: authorities, requiredPasses: requiredPasses, mode: mode,
            definition: definition, definitionDigest: Self.digest(of: definition, name: name))
    }

    /// The SHA-256 of the definition's JSON (keys sorted; a number YAML reads as infinite or
    /// NaN written as a string, which `JSONEncoder` otherwise refuses). Should encoding fail all
    /// the same, the digest of the definition's full description: a new revision after an edit
    /// (dictionaries in it are printed in the process's hash order, so two replicas may differ,
    /// which costs a cache refill, never a verdict kept past an edit).
    static func digest(of definition: ClusterImagePolicy, name: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "+Inf", negativeInfinity: "-Inf", nan: "NaN")
        guard let bytes = try? encoder.encode(definition) else {
            return DigestAlgorithm.sha256.hexHash(Array("\(name) \(String(reflecting: definition))".utf8))
        }
        return DigestAlgorithm.sha256.hexHash([UInt8](bytes))
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
/// attestations), each carrying its typed configuration.
public struct CompiledAuthority: Sendable, Hashable {
    /// `name`, or `authority-<index>` when absent.
    public var name: String { _read { yield storage.name } }
    /// The 0-based position in `spec.authorities`.
    public var index: Int { _read { yield storage.index } }
    public var kind: Kind { _read { yield storage.kind } }
    /// ``kind`` without its configuration.
    public var kindName: Kind.Name { storage.kindName }
    /// SHA-256 (hexadecimal) over what the authority trusts that the policy text does not show:
    /// the fingerprints of keys read from files and secrets with their schemes, the threshold and
    /// required annotations, or the keyless trust root and identities. Cached verification
    /// results are keyed by it. Computed once here, not at every verification.
    public var trustFingerprint: String { _read { yield storage.trustFingerprint } }
    /// Why the authority fails every image without asking a verifier, when trust material it
    /// names could not be read: `unresolved key: publicKeys[0]: the public key file /k.pub is
    /// missing or unreadable`, or `unresolved trust root: ...`. `nil` when everything it names
    /// was read.
    /// Worked out once, as the next three: the authority is read for every image of every review.
    public var unresolvedReason: String? { _read { yield storage.unresolvedReason } }
    /// The Sigstore trust root the authority verifies against, as audit records name it: its
    /// origin and the SHA-256 of its JSON (`embedded production root sha256:0123456789ab`,
    /// `TUF https://tuf-repo-cdn.sigstore.dev (targets version 14) sha256:…`, `file /r.json sha256:…`).
    /// Set for `keyless` authorities and for `key` authorities under `transparencyLog: require`,
    /// and for `attestations` authorities with such signers (their distinct roots, joined by
    /// `, `); nil for every other authority, which trusts no root.
    public var trustRoot: String? { _read { yield storage.trustRoot } }
    /// What a `static` authority decides for every image, nil for the others.
    public var staticDecision: StaticDecision? { _read { yield storage.staticDecision } }
    /// The expiry checks of the TUF-delivered roots the authority verifies against, each with
    /// the attestation requirement it belongs to, asked by ``staleTrustRootReason``.
    private var freshnessChecks: [(requirement: String?, check: TrustRootFreshnessCheck)] { _read { yield storage.freshnessChecks } }

    /// Everything above, worked out once and shared by every copy: an authority is handed
    /// around for every image of every review, and a copy is then one reference, not the whole
    /// trust configuration.
    private final class Storage: Sendable {
        let name: String
        let index: Int
        let kind: Kind
        let kindName: Kind.Name
        let trustFingerprint: String
        let unresolvedReason: String?
        let trustRoot: String?
        let staticDecision: StaticDecision?
        let freshnessChecks: [(requirement: String?, check: TrustRootFreshnessCheck)]

        init(name: String, index: Int, kind: Kind) {
            self.name = name
            self.index = index
            self.kind = kind
            self.kindName = kind.name
            self.trustFingerprint = CompiledAuthority.fingerprint(of: kind)
            self.unresolvedReason = CompiledAuthority.unresolvedReason(of: kind)
            self.trustRoot = CompiledAuthority.trustRoot(of: kind)
            self.staticDecision = CompiledAuthority.staticDecision(of: kind)
            self.freshnessChecks = CompiledAuthority.freshnessChecks(of: kind)
        }
    }

    private let storage: Storage

    /// A `static` authority's outcome: whether it passes, and the reason a decision gives.
    public struct StaticDecision: Sendable, Hashable {
        public let passes: Bool
        public let reason: String
    }

    public init(name: String, index: Int, kind: Kind) {
        storage = Storage(name: name, index: index, kind: kind)
    }

    /// Equal when the name, position and kind are: everything else is worked out from them.
    public static func == (lhs: CompiledAuthority, rhs: CompiledAuthority) -> Bool {
        if lhs.storage === rhs.storage { return true }
        return lhs.name == rhs.name && lhs.index == rhs.index && lhs.trustFingerprint == rhs.trustFingerprint && lhs.kind == rhs.kind
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(index)
        hasher.combine(kind)
        hasher.combine(trustFingerprint)
    }

    private static func fingerprint(of kind: Kind) -> String {
        var text = kind.fieldName
        if case .key(let trust) = kind {
            for key in trust.keys { text += "|\(key.key.fingerprint):\(key.scheme)" }
            text += "|threshold=\(trust.threshold)"
            for (name, value) in trust.requiredAnnotations.sorted(by: { $0.key < $1.key }) { text += "|\(name)=\(value)" }
            for unresolved in trust.unresolvedKeys { text += "|unresolved=\(unresolved)" }
            let log = trust.transparencyLog
            text += "|tlog=\(log.requirement.rawValue):\(log.trustRootDigest):\(log.unresolvedTrustRoot ?? "")"
        }
        if case .keyless(let trust) = kind {
            text += "|root=\(trust.trustRootDigest)|" + trust.identities.map(\.description).joined(separator: "|")
        }
        if case .notation(let trust) = kind {
            text += "|notation=\(trust.trustDigest)"
        }
        if case .notaryV1(let trust) = kind {
            text += "|server=\(trust.server)|delegations=\(trust.delegations.joined(separator: ","))|threshold=\(trust.threshold)"
            for key in trust.rootKeys { text += "|root=\(key.key.fingerprint)" }
            text += "|ca=\(trust.caBundleFile ?? "")|rootThreshold=\(trust.rootThreshold)"
            for unresolved in trust.unresolvedKeys { text += "|unresolved=\(unresolved)" }
        }
        if case .attestations(let trust) = kind {
            for requirement in trust.requirements {
                text += "|attestation=\(requirement.name):\(requirement.predicateType):\(requirement.signer.fingerprintText)"
            }
        }
        return DigestAlgorithm.sha256.hexHash(Array(text.utf8))
    }

    /// ``trustRoot`` for `kind`.
    private static func trustRoot(of kind: Kind) -> String? {
        switch kind {
        case .keyless(let trust):
            return Self.trustRoot(of: trust)
        case .key(let trust):
            return Self.trustRoot(of: trust)
        case .attestations(let trust):
            var roots: [String] = []
            for requirement in trust.requirements {
                let root = switch requirement.signer {
                case .key(let signer): Self.trustRoot(of: signer)
                case .keyless(let signer): Self.trustRoot(of: signer)
                }
                if let root, !roots.contains(root) { roots.append(root) }
            }
            return roots.isEmpty ? nil : roots.joined(separator: ", ")
        default:
            return nil
        }
    }

    private static func trustRoot(of trust: CompiledKeylessAuthority) -> String? {
        guard trust.unresolvedTrustRoot == nil else { return nil }
        return "\(trust.trustRootSource) sha256:\(trust.trustRootDigest.prefix(12))"
    }

    private static func trustRoot(of trust: CompiledKeyAuthority) -> String? {
        let log = trust.transparencyLog
        guard log.requirement == .require, log.unresolvedTrustRoot == nil else { return nil }
        return "\(log.trustRootSource) sha256:\(log.trustRootDigest.prefix(12))"
    }

    /// ``unresolvedReason`` for `kind`.
    private static func unresolvedReason(of kind: Kind) -> String? {
        switch kind {
        case .key(let trust) where !trust.unresolvedKeys.isEmpty:
            return "unresolved key: " + trust.unresolvedKeys.joined(separator: "; ") + "; the authority fails every image until the key is back"
        case .key(let trust) where trust.transparencyLog.unresolvedTrustRoot != nil:
            return "unresolved trust root: \(trust.transparencyLog.unresolvedTrustRoot!); the authority fails every image until it is back"
        case .keyless(let trust):
            return trust.unresolvedTrustRoot.map { "unresolved trust root: \($0); the authority fails every image until it is back" }
        case .attestations(let trust):
            let unresolved = trust.requirements.flatMap { requirement in
                requirement.signer.unresolved.map { "attestation \(requirement.name): \($0)" }
            }
            return unresolved.isEmpty ? nil
                : "unresolved trust material: " + unresolved.joined(separator: "; ") + "; the authority fails every image until it is back"
        case .notation(let trust):
            return trust.unresolvedTrustMaterial.map { "unresolved notation trust material: \($0); the authority fails every image until it is back" }
        case .notaryV1(let trust) where !trust.unresolvedKeys.isEmpty:
            return "unresolved Notary trust: " + trust.unresolvedKeys.joined(separator: "; ") + "; the authority fails every image until it is back"
        default:
            return nil
        }
    }

    /// Why the authority fails every image at this moment: the trust root it verifies against
    /// was delivered through TUF and the metadata it was verified under has expired with no
    /// refresh to replace it (freeze-attack protection, TUF specification sections 5.4.4 to
    /// 5.6.5): `Sigstore trust root is stale: TUF timestamp metadata (version 3) of https://…
    /// expired at …; refresh failing: …`. Asked at each decision and never cached, so the
    /// authority verifies again as soon as a refresh succeeds. Nil while the root may be used,
    /// and for roots that do not expire (embedded, file, inline, ConfigMap).
    public var staleTrustRootReason: String? {
        for (requirement, check) in freshnessChecks {
            guard let reason = check.staleReason else { continue }
            return requirement.map { "attestation \($0): \(reason)" } ?? reason
        }
        return nil
    }

    private static func freshnessChecks(of kind: Kind) -> [(requirement: String?, check: TrustRootFreshnessCheck)] {
        switch kind {
        case .key(let trust):
            let log = trust.transparencyLog
            return log.requirement == .require ? log.freshness.map { [(nil, $0)] } ?? [] : []
        case .keyless(let trust):
            return trust.freshness.map { [(nil, $0)] } ?? []
        case .attestations(let trust):
            return trust.requirements.compactMap { requirement in requirement.signer.freshness.map { (requirement.name, $0) } }
        default:
            return []
        }
    }

    private static func staticDecision(of kind: Kind) -> StaticDecision? {
        guard case .static(let action, let message) = kind else { return nil }
        let passes = action == .pass
        return StaticDecision(
            passes: passes, reason: message ?? (passes ? "static authority passes every image" : "static authority fails every image"))
    }

    /// The policies' own TUF repositories (`trustRoot.tuf`) the authority's trust roots come from.
    public var tufRepositories: [PolicyTUFTrustRoots.Repository] {
        switch kind {
        case .key(let trust):
            return trust.transparencyLog.requirement == .require ? trust.transparencyLog.tufRepository.map { [$0] } ?? [] : []
        case .keyless(let trust):
            return trust.tufRepository.map { [$0] } ?? []
        case .attestations(let trust):
            return trust.requirements.compactMap(\.signer.tufRepository)
        default:
            return []
        }
    }

    /// The policies' own TUF repositories the authority names whose root had not been delivered
    /// when it was compiled: until it is compiled again with one, the authority trusts nothing.
    public var pendingTUFRepositories: [PolicyTUFTrustRoots.Repository] {
        func pending(_ digest: String, _ repository: PolicyTUFTrustRoots.Repository?) -> PolicyTUFTrustRoots.Repository? {
            digest.hasPrefix(PolicyTUFTrustRoots.pendingDigestPrefix) ? repository : nil
        }
        func pending(_ log: KeyTransparencyLog) -> PolicyTUFTrustRoots.Repository? {
            log.requirement == .require ? pending(log.trustRootDigest, log.tufRepository) : nil
        }
        switch kind {
        case .key(let trust):
            return pending(trust.transparencyLog).map { [$0] } ?? []
        case .keyless(let trust):
            return pending(trust.trustRootDigest, trust.tufRepository).map { [$0] } ?? []
        case .attestations(let trust):
            return trust.requirements.compactMap { requirement in
                switch requirement.signer {
                case .key(let signer): pending(signer.transparencyLog)
                case .keyless(let signer): pending(signer.trustRootDigest, signer.tufRepository)
                }
            }
        default:
            return []
        }
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
        case notation(CompiledNotationAuthority)
        /// Notary v1 / Docker Content Trust: the tag's digest as signed in a Notary server's TUF metadata.
        case notaryV1(CompiledNotaryV1Authority)
        /// in-toto attestations with predicate conditions.
        case attestations(CompiledAttestationAuthority)

        /// The field name of the kind in the resource: `static`, `key`, `keyless`, ...
        public var fieldName: String { name.rawValue }

        /// The kind without its configuration.
        public var name: Name {
            switch self {
            case .static: .static
            case .key: .key
            case .keyless: .keyless
            case .notation: .notation
            case .notaryV1: .notaryV1
            case .attestations: .attestations
            }
        }

        /// Which kind an authority is, without its configuration; the raw value is the field
        /// name in the resource. What code that only asks "is it a `key` authority" compares:
        /// matching ``Kind`` itself copies the whole trust configuration it carries.
        public enum Name: String, Sendable, Hashable, CaseIterable {
            case `static`, key, keyless, notation, notaryV1, attestations
        }
    }
}
