import Foundation
import Logging
import Metrics
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetTUF
import SignetVerify

/// Docker Content Trust: verifies `notaryV1` authorities against a Notary v1 server's TUF
/// metadata (Notary server API `/v2/<gun>/_trust/tuf/<role>.json`; Docker's content trust
/// client, `docker trust inspect`), behind SignetVerify's ``SignatureVerifier`` seam.
///
/// Steps, in order: the authority's trust material was read; the repository's metadata (GUN =
/// `registry/repository`) verifies as ``NotaryTrustedCollection`` describes, with no rollback
/// (``NotaryRepositoryClient``); then each role that must vouch maps the image's tag to the
/// image's digest and manifest length (an image named by digest alone needs some tag with that
/// digest). A tag signed with another digest is a deny naming both digests and the role.
public struct NotaryV1Verifier: SignatureVerifier {
    public let format = SignatureFormat("notary-v1")
    private let registry: RegistryClient
    public let client: NotaryRepositoryClient

    public init(registry: RegistryClient, client: NotaryRepositoryClient = NotaryRepositoryClient()) {
        self.registry = registry
        self.client = client
    }

    public func handles(_ authority: CompiledAuthority) -> Bool {
        authority.kindName == .notaryV1
    }

    public func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
        guard case .notaryV1(let trust) = request.authority.kind else {
            throw VerificationError.trustServerUnavailable("the Notary v1 verifier was asked about a \(request.authority.kind.fieldName) authority")
        }
        var steps: [VerificationStep] = []
        var timings = VerificationResult.Timings()
        func result(_ passed: Bool, _ reason: String, failure: VerificationFailure?, signers: [VerificationResult.Signer] = []) -> VerificationResult {
            VerificationResult(
                image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
                format: format, passed: passed, reason: reason, failure: failure, signers: signers, steps: steps, timings: timings)
        }
        if let unresolved = request.authority.unresolvedReason {
            steps.append(VerificationStep(name: "trust material", passed: false, detail: unresolved))
            return result(false, unresolved, failure: .unresolvedTrustMaterial)
        }

        // 1. The repository's metadata, verified from the pinned root.
        let gun = request.image.name
        let wanted = trust.delegations.isEmpty ? ["targets/releases"] : trust.delegations
        let repository = NotaryRepositoryClient.Request(
            server: trust.server, gun: gun, pinnedRootKeys: trust.rootKeys.map(\.key), delegations: wanted, caBundlePath: trust.caBundleFile,
            pinnedRootThreshold: trust.rootThreshold)
        let fetchStart = ContinuousClock.now
        Counter(label: "signet_verification_signature_fetches_total", dimensions: [("format", format.name)]).increment()
        // The manifest's length and its other hashes are checked against the signed ones once a
        // role vouches for the digest: fetched beside the metadata rather than after it (one
        // round trip less), and dropped when no role gets that far.
        let registry = self.registry
        let manifestFetch = Task { () async -> Result<[UInt8], RegistryError> in
            do throws(RegistryError) {
                return .success(try await registry.manifest(request.pinnedImage, deadline: request.deadline).bytes)
            } catch {
                return .failure(error)
            }
        }
        defer { manifestFetch.cancel() }
        let outcome: NotaryRepositoryClient.Outcome
        do {
            outcome = try await client.collection(repository, deadline: request.deadline)
        } catch let error as TUFError {
            // Unreachable or overloaded: a later try may succeed. Refused, or metadata that does
            // not verify: met again.
            let reason = "Notary server \(trust.server) for \(gun): \(error.reason)"
            throw error.isTransient
                ? VerificationError.trustServerUnavailable(reason) : VerificationError.trustServerRefused(reason, credentials: error.refusedCredentials)
        } catch {
            throw VerificationError.deadlineExceeded
        }
        timings.fetchMilliseconds = Self.milliseconds(ContinuousClock.now - fetchStart)
        let collection: NotaryTrustedCollection
        switch outcome {
        case .untrusted(let error) where error.code == .notFound:
            steps.append(VerificationStep(name: "trust data", passed: false, detail: error.reason))
            return result(false, "no Docker Content Trust data for \(gun) on \(trust.server): \(error.reason)", failure: .noSignatures)
        case .untrusted(let error):
            steps.append(VerificationStep(name: "trust data", passed: false, detail: error.description))
            return result(false, "the Notary metadata of \(gun) on \(trust.server) is not trusted: \(error.description)", failure: .noValidSignature)
        case .trusted(let trusted):
            collection = trusted
        }
        steps.append(VerificationStep(
            name: "trust data", passed: true,
            detail: "\(gun) on \(trust.server): " + Self.describe(collection)))

        // 2. The roles that must vouch for the tag (or, by digest alone, for the digest).
        let roles: [String]
        let threshold: Int
        if trust.delegations.isEmpty {
            roles = [Self.defaultRole(in: collection)]
            threshold = 1
        } else {
            (roles, threshold) = (trust.delegations, trust.threshold)
        }
        let checkStart = ContinuousClock.now
        func manifest() async throws(VerificationError) -> [UInt8] {
            switch await manifestFetch.value {
            case .success(let bytes): return bytes
            case .failure(let error): throw VerificationError(error)
            }
        }
        // A reference with neither tag nor digest runs `latest`: that tag must be signed as the digest.
        let tag = request.image.effectiveTag
        var vouched: [(role: NotaryTrustedCollection.TrustedRole, detail: String)] = []
        var refusals: [String] = []
        for name in roles {
            guard let role = collection.roles[name] else {
                let why = Self.absence(of: name, in: collection)
                steps.append(VerificationStep(name: name, passed: false, detail: why))
                refusals.append(why)
                continue
            }
            if let tag {
                guard let target = role.targets[tag] else {
                    let why = "\(name) has not signed tag \(tag)"
                    steps.append(VerificationStep(name: name, passed: false, detail: why))
                    refusals.append(why)
                    continue
                }
                guard let signed = target.hashes[request.digest.algorithm] else {
                    let why = "\(name) signed tag \(tag) without a \(request.digest.algorithm) hash"
                    steps.append(VerificationStep(name: name, passed: false, detail: why))
                    refusals.append(why)
                    continue
                }
                guard signed == request.digest.encoded.lowercased() else {
                    let why = "\(name) signed tag \(tag) as \(request.digest.algorithm):\(signed), but the image is \(request.digest)"
                    steps.append(VerificationStep(name: name, passed: false, detail: why))
                    refusals.append(why)
                    continue
                }
                let bytes = try await manifest()
                guard bytes.count == target.length else {
                    let why = "\(name) signed tag \(tag) with length \(target.length), but the manifest of \(request.digest) is \(bytes.count) bytes"
                    steps.append(VerificationStep(name: name, passed: false, detail: why))
                    refusals.append(why)
                    continue
                }
                if let mismatch = Self.otherHashMismatch(target.hashes, manifest: bytes, digest: request.digest) {
                    let why = "\(name) signed tag \(tag) with \(mismatch)"
                    steps.append(VerificationStep(name: name, passed: false, detail: why))
                    refusals.append(why)
                    continue
                }
                let detail = "\(name) signed tag \(tag) as \(request.digest) (\(target.length) bytes)"
                steps.append(VerificationStep(name: name, passed: true, detail: detail + "; " + Self.describe(role)))
                vouched.append((role, detail))
            } else {
                let candidates = role.targets.filter { $0.value.hashes[request.digest.algorithm] == request.digest.encoded.lowercased() }
                let bytes = candidates.isEmpty ? [] : try await manifest()
                let tags = candidates.filter {
                    $0.value.length == bytes.count && Self.otherHashMismatch($0.value.hashes, manifest: bytes, digest: request.digest) == nil
                }.keys.sorted()
                guard !tags.isEmpty else {
                    let why = "\(name) has signed no tag as \(request.digest)"
                    steps.append(VerificationStep(name: name, passed: false, detail: why))
                    refusals.append(why)
                    continue
                }
                let detail = "\(name) signed \(request.digest) as tag \(tags.joined(separator: ", "))"
                steps.append(VerificationStep(name: name, passed: true, detail: detail + "; " + Self.describe(role)))
                vouched.append((role, detail))
            }
        }
        timings.checkMilliseconds = Self.milliseconds(ContinuousClock.now - checkStart)
        let signers = vouched.flatMap { entry in
            entry.role.signedBy.map { id in
                let key = entry.role.signerKeys[id]
                let fingerprint = key.flatMap { try? NotaryKeys.verifier(for: $0) as? NotarySignatureVerifier }?.key.fingerprint ?? ""
                return VerificationResult.Signer(
                    key: "\(entry.role.name) key \(id)", algorithm: key?.keyType ?? "", fingerprint: fingerprint, identity: entry.role.name, layers: [])
            }
        }
        let subject = tag.map { "tag \($0) of \(gun)" } ?? "\(gun)@\(request.digest)"
        guard vouched.count >= threshold else {
            let count = "\(vouched.count) of the \(threshold) role(s) required vouch"
            let reason = "\(subject) is not signed as required in Notary \(trust.server) (\(count)): " + refusals.joined(separator: "; ")
            return result(false, reason, failure: vouched.isEmpty ? .noValidSignature : .thresholdNotMet, signers: signers)
        }
        let reason = "\(subject) is signed in Notary \(trust.server): " + vouched.map(\.detail).joined(separator: "; ")
        var passed = result(true, reason, failure: nil, signers: signers)
        // No longer than the collection is reused: a pass kept past it would outlive a target
        // the signer removed by up to the cache's TTL.
        passed.validUntil = min(collection.earliestExpiry, collection.reusedUntil)
        return passed
    }

    /// Why the role `name` vouches for nothing: it, or a role above it, failed its checks
    /// (``NotaryTrustedCollection/untrustedRoles``), or it was never delegated or published.
    static func absence(of name: String, in collection: NotaryTrustedCollection) -> String {
        let failed = collection.untrustedRoles.keys.filter { name == $0 || name.hasPrefix($0 + "/") }.min { $0.count < $1.count }
        guard let failed, let reason = collection.untrustedRoles[failed] else {
            return "\(name) did not sign (the repository does not delegate to it or never published it)"
        }
        return "\(name) is not trusted: \(failed == name ? "" : "the role delegating to it, \(failed), is not: ")\(reason)"
    }

    /// The role that must vouch when the policy names none, as Docker Content Trust signs:
    /// `targets/releases` when the owner-signed `targets` delegates to it, which must then vouch
    /// whether or not the snapshot lists it (a server that signs the snapshot could leave it
    /// out, and a client that falls back would accept what `targets` signed before the
    /// delegation existed); `targets` in a repository without that delegation.
    public static func defaultRole(in collection: NotaryTrustedCollection) -> String {
        collection.delegatedByTargets.contains("targets/releases") ? "targets/releases" : "targets"
    }

    /// The first hash a target lists beside the digest's own that the manifest's bytes do not
    /// have, described; nil when every one signet can compute matches (TUF specification 5.7.3:
    /// a target's file must match all its hashes, not only the one the reference names). An
    /// algorithm signet does not know is left out.
    static func otherHashMismatch(_ hashes: [String: String], manifest: [UInt8], digest: ImageDigest) -> String? {
        for (name, signed) in hashes.sorted(by: { $0.key < $1.key }) where name != digest.algorithm {
            guard let algorithm = DigestAlgorithm(rawValue: name) else { continue }
            let actual = algorithm.hexHash(manifest)
            if signed.lowercased() != actual {
                return "\(name) hash \(signed), but the manifest of \(digest) has \(name) \(actual)"
            }
        }
        return nil
    }

    /// `version 2, signed by key 8ed6f73e… (threshold 1 of 1 key), expires 2029-12-01T13:58:16Z`:
    /// what `docker trust inspect --pretty` shows of a role.
    static func describe(_ role: NotaryTrustedCollection.TrustedRole) -> String {
        let keys = role.signedBy.map { String($0.prefix(12)) }.joined(separator: ", ")
        return "version \(role.version), signed by key \(keys) (threshold \(role.threshold) of \(role.keyIDs.count) key(s)), expires \(KubernetesTime.format(role.expires))"
    }

    /// `root v1 (root key 354e203ba09d, threshold 1, expires …), timestamp v4 (expires …), snapshot v5 (expires …)`.
    static func describe(_ collection: NotaryTrustedCollection) -> String {
        let root = collection.root
        let rootRole = root.roles["root"]
        let rootKeys = (rootRole?.keyIDs ?? []).map { String($0.prefix(12)) }.joined(separator: ", ")
        return "root v\(root.header.version) (root key \(rootKeys), threshold \(rootRole?.threshold ?? 1), expires \(KubernetesTime.format(root.header.expires))), "
            + "timestamp v\(collection.timestamp.header.version) (expires \(KubernetesTime.format(collection.timestamp.header.expires))), "
            + "snapshot v\(collection.snapshot.header.version) (expires \(KubernetesTime.format(collection.snapshot.header.expires)))"
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}
