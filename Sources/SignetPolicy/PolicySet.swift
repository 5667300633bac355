import Foundation
import SignetCrypto
import SignetRegistry

/// All compiled ``ClusterImagePolicy`` resources in force, with a revision that changes
/// whenever their source changes (caches of verification results key on it).
public struct PolicySet: Sendable {
    /// The policies, sorted by name.
    public let policies: [CompiledPolicy]
    /// A stable hash of the source files (names and bytes) and of the trust material the
    /// policies read (``trustMaterialFiles``), as 32 hexadecimal characters.
    public let revision: String
    /// Every `PolicyException`, active or not (expiry is decided at each admission).
    public let exceptions: [CompiledException]
    /// Every `EmergencyBypass`, active or not.
    public let bypasses: [CompiledBypass]
    /// The part of ``revision`` that can change what is decided in more than one namespace:
    /// everything but the `PolicyException`s (which apply in their own namespace alone). Equal
    /// to ``revision`` for a source that does not tell them apart.
    public let clusterRevision: String
    /// For each namespace holding `PolicyException`s, a stable hash of them as loaded (their
    /// specs, identities, and whether each is in force), so that an edit in one namespace is
    /// told from a change of the whole set: continuous verification decides that namespace's
    /// Pods again, not the cluster's. Empty for a source that does not tell them apart.
    public let namespacedRevisions: [String: String]

    /// No policies; with the default no-match action every image is denied.
    public static let empty = PolicySet(policies: [], revision: StableHash().hexDigest)

    public init(
        policies: [CompiledPolicy], revision: String, exceptions: [CompiledException] = [], bypasses: [CompiledBypass] = [],
        clusterRevision: String? = nil, namespacedRevisions: [String: String] = [:]
    ) {
        self.policies = policies.sorted { $0.name < $1.name }
        self.revision = revision
        self.clusterRevision = clusterRevision ?? revision
        self.namespacedRevisions = namespacedRevisions
        self.exceptions = exceptions.sorted { $0.qualifiedName < $1.qualifiedName }
        self.bypasses = bypasses.sorted { $0.name < $1.name }
    }

    /// Every file a compiled policy read trust material from (key files, mounted Secret keys,
    /// trust root files and mounted ConfigMap keys), sorted: a change to any of them is a change
    /// of the policies (DESIGN: everything a verdict depended on is in its cache key).
    public var trustMaterialFiles: [String] {
        var files: Set<String> = []
        for policy in policies {
            for authority in policy.authorities {
                switch authority.kind {
                case .key(let trust): files.formUnion(trust.trustMaterialFiles + trust.transparencyLog.trustMaterialFiles)
                case .keyless(let trust): files.formUnion(trust.trustMaterialFiles)
                case .notation(let trust): files.formUnion(trust.trustMaterialFiles)
                case .notaryV1(let trust): files.formUnion(trust.trustMaterialFiles)
                case .attestations(let trust): files.formUnion(trust.requirements.flatMap(\.signer.trustMaterialFiles))
                default: break
                }
            }
        }
        return files.sorted()
    }

    /// Every TUF repository a policy names as its own trust root (`trustRoot.tuf`), by identity:
    /// the repositories whose clients must run while this set is in force.
    public var tufRepositories: [PolicyTUFTrustRoots.Repository] { repositories(\.tufRepositories) }

    /// The policies' own TUF repositories some authority was compiled without a root of, by
    /// identity (``CompiledAuthority/pendingTUFRepositories``).
    public var pendingTUFRepositories: [PolicyTUFTrustRoots.Repository] { repositories(\.pendingTUFRepositories) }

    /// The repositories `named` gives for each authority, once each, in order of identity.
    private func repositories(_ named: KeyPath<CompiledAuthority, [PolicyTUFTrustRoots.Repository]>) -> [PolicyTUFTrustRoots.Repository] {
        var repositories: [String: PolicyTUFTrustRoots.Repository] = [:]
        for policy in policies {
            for authority in policy.authorities {
                for repository in authority[keyPath: named] { repositories[repository.identity] = repository }
            }
        }
        return repositories.keys.sorted().map { repositories[$0]! }
    }

    /// Every Secret and ConfigMap key the policies read trust material from (`secretRef`,
    /// `configMapRef`), sorted: what a policy source reading them through the API watches.
    public var clusterReferences: [ClusterKeyReference] {
        var references: Set<ClusterKeyReference> = []
        for policy in policies {
            for authority in policy.authorities {
                switch authority.kind {
                case .key(let trust): references.formUnion(trust.clusterReferences + trust.transparencyLog.clusterReferences)
                case .keyless(let trust): references.formUnion(trust.clusterReferences)
                case .notation(let trust): references.formUnion(trust.clusterReferences)
                case .attestations(let trust): references.formUnion(trust.requirements.flatMap(\.signer.clusterReferences))
                default: break
                }
            }
        }
        return references.sorted()
    }

    /// A fingerprint of the contents (or absence) of `files`: what changes when trust material
    /// a policy read from disk changes.
    public static func trustMaterialFingerprint(_ files: [String]) -> String {
        var hash = StableHash()
        combineTrustMaterial(files, into: &hash)
        return hash.hexDigest
    }

    /// Adds the contents of `files` (or their absence) to `hash`.
    static func combineTrustMaterial(_ files: [String], into hash: inout StableHash) {
        for file in files {
            hash.combine(file)
            if let data = FileManager.default.contents(atPath: file) {
                hash.combine(data.count)
                hash.combine([UInt8](data))
            } else {
                hash.combine(-1)
            }
        }
    }

    /// The policies with a glob matching `image`, in name order.
    public func policies(matching image: ImageReference) -> [CompiledPolicy] {
        policies(matching: ImageMatchSubject(image))
    }

    func policies(matching subject: ImageMatchSubject) -> [CompiledPolicy] {
        policies.filter { $0.matches(subject) }
    }

    /// The policy named `name`.
    public subscript(name: String) -> CompiledPolicy? {
        policies.first { $0.name == name }
    }
}

/// A stable content hash for revisions and fingerprints: the first 128 bits of SHA-256 over what
/// was combined (texts each after their length, numbers as 8 little-endian bytes), the same in
/// every process. Replicas swap in a new policy set only when its revision differs, and some of
/// what is hashed is written by users (a PolicyException's spec): a hash whose steps can be run
/// backwards (FNV) let them aim at the revision in force and keep the set before in use.
package struct StableHash: Sendable {
    private var bytes: [UInt8] = []

    package init() {}

    package mutating func combine(_ more: some Sequence<UInt8>) {
        bytes.append(contentsOf: more)
    }

    /// Everything `other` combined, as if combined here.
    package mutating func combine(_ other: StableHash) {
        bytes.append(contentsOf: other.bytes)
    }

    package mutating func combine(_ text: String) {
        combine(text.utf8.count)
        combine(text.utf8)
    }

    package mutating func combine(_ number: Int) {
        withUnsafeBytes(of: UInt64(truncatingIfNeeded: number).littleEndian) { combine($0) }
    }

    package var hexDigest: String {
        String(DigestAlgorithm.sha256.hexHash(bytes).prefix(32))
    }
}
