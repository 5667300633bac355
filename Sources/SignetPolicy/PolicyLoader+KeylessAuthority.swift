import Foundation
import SignetCrypto
import SignetSigstore
import Yams

extension PolicyLoader {
    /// The default of ``configMapsDirectory``.
    public static let defaultConfigMapsDirectory = "/etc/signet/configmaps"

    /// The embedded production trust root, parsed once per process.
    private static let productionRoot: Result<TrustedRoot, TrustedRootError> = Result { () throws(TrustedRootError) in
        try TrustedRoot.production()
    }

    /// Checks the identities of a `keyless` authority (issuer and subject given once each,
    /// regular expressions that compile, known Fulcio extensions) and reads its trust root, so
    /// that a policy that could never verify is refused when it is loaded, naming the field.
    func compileKeylessAuthority(
        _ body: ClusterImagePolicy.KeylessAuthority, path: String, source: PolicySourceLocation
    ) throws(PolicyLoadError) -> CompiledKeylessAuthority {
        func invalid(_ field: String, _ message: String) -> PolicyLoadError {
            PolicyLoadError(.invalidField, file: source.file, document: source.document, fieldPath: field, message: message)
        }
        guard !body.identities.isEmpty else {
            throw invalid("\(path).identities", "at least one identity is required")
        }
        var identities: [CertificateIdentity] = []
        for (index, entry) in body.identities.enumerated() {
            let entryPath = "\(path).identities[\(index)]"
            func matcher(_ exact: String?, _ pattern: String?, field: String) throws(PolicyLoadError) -> StringMatcher {
                switch (exact, pattern) {
                case (let value?, nil):
                    guard !value.isEmpty else { throw invalid("\(entryPath).\(field)", "must not be empty") }
                    return .exact(value)
                case (nil, let value?):
                    guard !value.isEmpty else { throw invalid("\(entryPath).\(field)RegExp", "must not be empty") }
                    do {
                        _ = try Regex(value)
                    } catch {
                        throw invalid("\(entryPath).\(field)RegExp", "invalid regular expression \"\(value)\": \(error)")
                    }
                    return .regularExpression(value)
                case (nil, nil):
                    throw invalid(entryPath, "an identity needs one of \(field), \(field)RegExp")
                case (.some, .some):
                    throw invalid(entryPath, "an identity has one of \(field), \(field)RegExp, not both")
                }
            }
            let issuer = try matcher(entry.issuer, entry.issuerRegExp, field: "issuer")
            let subject = try matcher(entry.subject, entry.subjectRegExp, field: "subject")
            var extensions: [FulcioExtension: StringMatcher] = [:]
            for (name, value) in (entry.extensions ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let fulcioExtension = Self.keylessExtensionNames[name] else {
                    throw invalid("\(entryPath).extensions.\(name)",
                                  "unknown Fulcio extension (expected one of \(Self.keylessExtensionNames.keys.sorted().joined(separator: ", ")))")
                }
                guard !value.isEmpty else { throw invalid("\(entryPath).extensions.\(name)", "must not be empty") }
                extensions[fulcioExtension] = .exact(value)
            }
            identities.append(CertificateIdentity(issuer: issuer, subjectAlternativeName: subject, extensions: extensions))
        }
        let files = trustRootFiles(body.trustRoot)
        let references = trustRootReferences(body.trustRoot)
        let resolved: ResolvedTrustRoot
        do throws(PolicyLoadError) {
            resolved = try readTrustRoot(body.trustRoot, path: "\(path).trustRoot", use: .certificateAuthorities, invalid: invalid)
        } catch {
            // A trust root file or mounted ConfigMap key that is missing or unusable fails the
            // authority closed, as a removed key does: refusing the reload would keep the last
            // good set, and the root that was removed, in force.
            guard requireSecretReferences, !files.isEmpty || !references.isEmpty, body.trustRoot?.inline == nil else { throw error }
            logger.warning("a keyless authority's trust root cannot be read; it fails every image until it is back", metadata: [
                "source": "\(source)", "authority": "\(path)", "error": "\(error.message)",
            ])
            var unresolved = CompiledKeylessAuthority(
                identities: identities, trustedRoot: TrustedRoot(transparencyLogs: [], certificateAuthorities: [], certificateTransparencyLogs: [], timestampAuthorities: []),
                trustRootSource: "unresolved", trustRootDigest: "unresolved: " + error.message)
            unresolved.trustMaterialFiles = files
            unresolved.clusterReferences = references
            unresolved.unresolvedTrustRoot = "\(error.fieldPath ?? path): \(error.message)"
            return unresolved
        }
        var compiled = CompiledKeylessAuthority(
            identities: identities, trustedRoot: resolved.root, trustRootSource: resolved.origin, trustRootDigest: resolved.digest)
        compiled.trustMaterialFiles = files
        compiled.clusterReferences = references
        compiled.freshness = resolved.freshness
        compiled.tufRepository = resolved.repository
        return compiled
    }

    /// What an authority needs from its trust root.
    enum TrustRootUse {
        /// Certificate authorities (keyless signatures).
        case certificateAuthorities
        /// Transparency logs (key signatures under `transparencyLog: require`).
        case transparencyLogs
    }

    /// A trust root as an authority is compiled with it.
    struct ResolvedTrustRoot {
        var root: TrustedRoot
        /// `embedded production root`, `TUF <mirror> (targets version N)`, `file /r.json`, ...
        var origin: String
        /// SHA-256 (hexadecimal) of its JSON, or a marker for a root not delivered yet.
        var digest: String
        /// Asked at each decision for a root delivered through TUF.
        var freshness: TrustRootFreshnessCheck?
        /// The policy's own TUF repository it comes from.
        var repository: PolicyTUFTrustRoots.Repository?
    }

    /// Reads the trust root `reference` names, or the one in force (from TUF, else embedded).
    func readTrustRoot(
        _ reference: ClusterImagePolicy.TrustRootSource?, path: String, use: TrustRootUse, invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) -> ResolvedTrustRoot {
        guard let reference else {
            if let live = liveTrustedRoot?.current {
                return ResolvedTrustRoot(root: live.root, origin: live.origin, digest: live.digest, freshness: live.freshness)
            }
            switch Self.productionRoot {
            case .success(let root): return ResolvedTrustRoot(root: root, origin: "embedded production root", digest: TrustedRoot.productionJSONDigest)
            case .failure(let error): throw invalid(path, "the embedded production trust root does not load: \(error)")
            }
        }
        let given = [reference.file != nil, reference.inline != nil, reference.configMapRef != nil, reference.tuf != nil].filter { $0 }.count
        guard given == 1 else {
            throw invalid(path, "a trust root needs exactly one of file, inline, configMapRef, tuf")
        }
        let bytes: [UInt8]
        let origin: String
        let field: String
        if let tuf = reference.tuf {
            field = "\(path).tuf"
            let (repository, delivered) = try tufRepository(tuf, path: field, invalid: invalid)
            guard let delivered else {
                // Not delivered yet: no log or CA is trusted, so every image fails closed,
                // naming the repository, until the first refresh succeeds.
                return ResolvedTrustRoot(
                    root: .empty, origin: "TUF \(tuf.mirror) (not fetched yet)", digest: PolicyTUFTrustRoots.pendingDigestPrefix + tuf.mirror, repository: repository)
            }
            switch use {
            case .certificateAuthorities where delivered.root.certificateAuthorities.isEmpty,
                 .transparencyLogs where delivered.root.transparencyLogs.isEmpty:
                // What the repository now delivers trusts nothing this authority needs: it fails
                // closed (an empty root verifies nothing), naming the repository's root.
                return ResolvedTrustRoot(
                    root: .empty,
                    origin: delivered.origin + " (names no usable \(use == .certificateAuthorities ? "certificate authority" : "transparency log"))",
                    digest: delivered.digest, freshness: delivered.freshness, repository: repository)
            default:
                return ResolvedTrustRoot(
                    root: delivered.root, origin: delivered.origin, digest: delivered.digest, freshness: delivered.freshness, repository: repository)
            }
        } else {
            (bytes, origin, field) = try readTrustMaterial(
                file: reference.file, inline: reference.inline, configMapRef: reference.configMapRef, defaultKey: "trusted_root.json",
                what: "trust root", path: path, invalid: invalid)
        }
        let root: TrustedRoot
        do {
            root = try TrustedRoot(json: bytes)
        } catch {
            throw invalid(field, "not a usable Sigstore trusted_root.json: \(error)")
        }
        switch use {
        case .certificateAuthorities where root.certificateAuthorities.isEmpty:
            throw invalid(field, "the trust root has no usable certificate authority, so no keyless signature could verify")
        case .transparencyLogs where root.transparencyLogs.isEmpty:
            throw invalid(field, "the trust root has no usable transparency log, so no signature could show a log entry")
        default:
            break
        }
        return ResolvedTrustRoot(root: root, origin: origin, digest: DigestAlgorithm.sha256.hexHash(bytes))
    }

    /// The bytes of a `file`, `inline` or `configMapRef` reference (exactly one given, checked by
    /// the caller), where they came from and the field that named them.
    func readTrustMaterial(
        file: String?, inline: String?, configMapRef: ClusterImagePolicy.ConfigMapKeyReference?, defaultKey: String, what: String,
        path: String, invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) -> (bytes: [UInt8], origin: String, field: String) {
        if let inline {
            return (Array(inline.utf8), "inline", "\(path).inline")
        }
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw invalid("\(path).file", "cannot read the \(what) file \(file)")
            }
            return ([UInt8](data), "file \(file)", "\(path).file")
        }
        guard let configMap = configMapRef else { throw invalid(path, "needs one of file, inline, configMapRef") }
        let field = "\(path).configMapRef"
        let reference = try clusterKeyReference(
            .configMap, namespace: configMap.namespace, name: configMap.name, key: configMap.key, defaultKey: defaultKey, field: field, invalid: invalid)
        var read: [String] = []  // listed by trustRootFiles
        switch readClusterKey(reference, files: &read) {
        case .found(let bytes):
            return (bytes, "configmap \(configMap.namespace)/\(configMap.name) key \(reference.key)", field)
        case .missing(let why):
            throw invalid(field, "cannot read \(reference) (\(why))")
        }
    }

    /// The repository a policy's `trustRoot.tuf` names and the trusted root it delivered, or nil
    /// when none has been delivered yet (the repository is registered with ``tufTrustRoots`` for
    /// `signet serve`'s TUF client). The bootstrap `root.json` is read here, so a missing one is
    /// the same error as a missing trust root file.
    func tufRepository(
        _ reference: ClusterImagePolicy.TUFRepositoryReference, path: String, invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) -> (PolicyTUFTrustRoots.Repository, LiveTrustedRoot.Snapshot?) {
        guard reference.mirror.hasPrefix("https://") || reference.mirror.hasPrefix("http://") else {
            throw invalid("\(path).mirror", "must be an http(s) URL, not \"\(reference.mirror)\"")
        }
        let root = reference.root
        guard [root.file != nil, root.inline != nil, root.configMapRef != nil].filter({ $0 }).count == 1 else {
            throw invalid("\(path).root", "a TUF root needs exactly one of file, inline, configMapRef")
        }
        let (bootstrap, _, _) = try readTrustMaterial(
            file: root.file, inline: root.inline, configMapRef: root.configMapRef, defaultKey: "root.json", what: "TUF root",
            path: "\(path).root", invalid: invalid)
        let repository = PolicyTUFTrustRoots.Repository(mirrorURL: reference.mirror, bootstrapRoot: bootstrap)
        return (repository, tufTrustRoots?.root(for: repository))
    }

    /// The file a trust root reference reads: its `file`, its mounted ConfigMap key, or its TUF
    /// repository's bootstrap root file or mounted key (no ConfigMap file when ConfigMaps are
    /// read through the API).
    func trustRootFiles(_ reference: ClusterImagePolicy.TrustRootSource?) -> [String] {
        if let file = reference?.file ?? reference?.tuf?.root.file { return [file] }
        guard !readsClusterKeysThroughAPI else { return [] }
        return trustRootReferences(reference).map(mountedLocation)
    }

    /// The ConfigMap key a trust root reference reads (its `configMapRef`, or its TUF
    /// repository's bootstrap root's), if any.
    func trustRootReferences(_ reference: ClusterImagePolicy.TrustRootSource?) -> [ClusterKeyReference] {
        if let configMap = reference?.configMapRef {
            return [ClusterKeyReference(kind: .configMap, namespace: configMap.namespace, name: configMap.name, key: configMap.key ?? "trusted_root.json")]
        }
        if let configMap = reference?.tuf?.root.configMapRef {
            return [ClusterKeyReference(kind: .configMap, namespace: configMap.namespace, name: configMap.name, key: configMap.key ?? "root.json")]
        }
        return []
    }

    /// Fulcio extensions an identity may require, by their sigstore-go `certificate.Extensions`
    /// names; the issuer has its own fields.
    static let keylessExtensionNames: [String: FulcioExtension] = Dictionary(
        uniqueKeysWithValues: FulcioExtension.allCases.filter { $0 != .issuer && $0 != .issuerV1 }.map { ($0.description, $0) })

    static let keylessFields: Set<String> = ["identities", "trustRoot"]
    static let keylessIdentityFields: Set<String> = ["issuer", "issuerRegExp", "subject", "subjectRegExp", "extensions"]
    static let trustRootFields: Set<String> = ["file", "inline", "configMapRef", "tuf"]
    static let tufRepositoryFields: Set<String> = ["mirror", "root"]
    static let tufRootFields: Set<String> = ["file", "inline", "configMapRef"]
    static let configMapRefFields: Set<String> = ["namespace", "name", "key"]

    /// Refuses unknown fields in a `keyless` authority body at `path`.
    static func checkKeylessFields(_ body: Node.Mapping, path: String, at location: PolicySourceLocation) throws(PolicyLoadError) {
        try checkKeys(body, allowed: keylessFields, path: path, at: location)
        for (index, identity) in (value(body, "identities")?.sequence ?? []).enumerated() {
            guard let mapping = identity.mapping else { continue }
            try checkKeys(mapping, allowed: keylessIdentityFields, path: "\(path).identities[\(index)]", at: location)
        }
        try checkTrustRootFields(body, path: path, at: location)
    }

    /// Refuses unknown fields in the `trustRoot` of an authority body at `path`.
    static func checkTrustRootFields(_ body: Node.Mapping, path: String, at location: PolicySourceLocation) throws(PolicyLoadError) {
        if let trustRoot = value(body, "trustRoot")?.mapping {
            try checkKeys(trustRoot, allowed: trustRootFields, path: "\(path).trustRoot", at: location)
            if let configMap = value(trustRoot, "configMapRef")?.mapping {
                try checkKeys(configMap, allowed: configMapRefFields, path: "\(path).trustRoot.configMapRef", at: location)
            }
            if let tuf = value(trustRoot, "tuf")?.mapping {
                try checkKeys(tuf, allowed: tufRepositoryFields, path: "\(path).trustRoot.tuf", at: location)
                if let root = value(tuf, "root")?.mapping {
                    try checkKeys(root, allowed: tufRootFields, path: "\(path).trustRoot.tuf.root", at: location)
                    if let configMap = value(root, "configMapRef")?.mapping {
                        try checkKeys(configMap, allowed: configMapRefFields, path: "\(path).trustRoot.tuf.root.configMapRef", at: location)
                    }
                }
            }
        }
    }
}
