/// Who must have signed a required attestation: a `key` authority's keys and threshold, or a
/// `keyless` authority's identities and Sigstore trust root, compiled exactly as those
/// authorities are for signatures (the same trust material; sigstore/cosign
/// `specs/ATTESTATION_SPEC.md`, Sigstore client specification "Verification").
public enum AttestationSigner: Sendable, Hashable {
    case key(CompiledKeyAuthority)
    case keyless(CompiledKeylessAuthority)

    /// How a deny names the signer: `builder-key or file /k.pub`, or
    /// `{subject ..., issuer ...} (embedded production root)`.
    public var description: String {
        switch self {
        case .key(let trust):
            trust.keys.map(\.source).joined(separator: " or ")
        case .keyless(let trust):
            trust.identities.map { "{\($0)}" }.joined(separator: " or ") + " (\(trust.trustRootSource))"
        }
    }

    /// Files the signer's trust material was read from (a change recompiles the policy).
    public var trustMaterialFiles: [String] {
        switch self {
        case .key(let trust): trust.trustMaterialFiles + trust.transparencyLog.trustMaterialFiles
        case .keyless(let trust): trust.trustMaterialFiles
        }
    }

    /// Secret and ConfigMap keys the signer's trust material is read from.
    public var clusterReferences: [ClusterKeyReference] {
        switch self {
        case .key(let trust): trust.clusterReferences + trust.transparencyLog.clusterReferences
        case .keyless(let trust): trust.clusterReferences
        }
    }

    /// Trust material named but not read: keys, or a trust root.
    public var unresolved: [String] {
        switch self {
        case .key(let trust):
            trust.unresolvedKeys + (trust.transparencyLog.unresolvedTrustRoot.map { ["trust root: \($0)"] } ?? [])
        case .keyless(let trust):
            trust.unresolvedTrustRoot.map { ["trust root: \($0)"] } ?? []
        }
    }

    /// Why the signer's trust root, delivered through TUF, may not be used now; nil while it
    /// may (or when it does not expire).
    public var staleTrustRootReason: String? { freshness?.staleReason }

    /// The expiry check of the TUF-delivered root the signer verifies against, if any.
    var freshness: TrustRootFreshnessCheck? {
        switch self {
        case .key(let trust): trust.transparencyLog.requirement == .require ? trust.transparencyLog.freshness : nil
        case .keyless(let trust): trust.freshness
        }
    }

    /// The policy's own TUF repository the signer's trust root comes from, if any.
    public var tufRepository: PolicyTUFTrustRoots.Repository? {
        switch self {
        case .key(let trust): trust.transparencyLog.requirement == .require ? trust.transparencyLog.tufRepository : nil
        case .keyless(let trust): trust.tufRepository
        }
    }

    /// Whether `other` is this signer byte for byte: `==` compares the identities' texts as
    /// Swift strings, which holds for canonically equivalent ones (`K` and the Kelvin sign), where
    /// the identity matchers compare bytes. Requirements share a signature verdict only then.
    public func isExactly(_ other: AttestationSigner) -> Bool {
        self == other && Array(fingerprintText.utf8) == Array(other.fingerprintText.utf8)
    }

    /// What the signer trusts beyond the policy text, for the authority's trust fingerprint.
    var fingerprintText: String {
        switch self {
        case .key(let trust):
            var text = "key:threshold=\(trust.threshold)"
            for key in trust.keys { text += "|\(key.key.fingerprint):\(key.scheme)" }
            for unresolved in trust.unresolvedKeys { text += "|unresolved=\(unresolved)" }
            let log = trust.transparencyLog
            return text + "|tlog=\(log.requirement.rawValue):\(log.trustRootDigest):\(log.unresolvedTrustRoot ?? "")"
        case .keyless(let trust):
            return "keyless:root=\(trust.trustRootDigest):\(trust.unresolvedTrustRoot ?? "")|" + trust.identities.map(\.description).joined(separator: "|")
        }
    }
}
