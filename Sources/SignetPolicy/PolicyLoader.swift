import Foundation
import Logging
import Yams

/// One policy source file: its name (as shown in errors) and its bytes.
public struct PolicySourceFile: Sendable, Hashable {
    public var name: String
    public var bytes: [UInt8]

    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}

/// Reads signet resources from YAML and compiles the ``ClusterImagePolicy`` documents into a
/// ``PolicySet``.
///
/// - A directory source is every `*.yaml` / `*.yml` file directly in it, in name order, following
///   symbolic links; names starting with `.` are skipped (a Kubernetes ConfigMap volume keeps its
///   real files under `..data/` and links them from the top level).
/// - A file may hold several YAML documents (`---`); empty documents are skipped.
/// - Documents of the kinds `PolicyException` and `EmergencyBypass` are compiled into the set's
///   exceptions and bypasses; any other kind or version in the `signet.dev` group, and any
///   document outside that group, is an error naming the file and document.
/// - Unknown fields in `spec` and in authorities are errors, so a typo cannot silently weaken a
///   policy. Loading is all or nothing: the first error rejects the whole set.
///
/// Resource shape: Kubernetes API conventions (apiVersion/kind/metadata/spec); see
/// ``ClusterImagePolicy``.
public struct PolicyLoader: Sendable {
    /// Signet kinds besides `ClusterImagePolicy`: exemptions from it.
    public static let exemptionKinds: Set<String> = [PolicyException.kind, EmergencyBypass.kind]

    /// The default of ``keySecretsDirectory``.
    public static let defaultKeySecretsDirectory = "/etc/signet/key-secrets"

    public var logger: Logger
    /// Where `secretRef` keys (public keys, Notation trust material) are read from:
    /// `<directory>/<namespace>/<name>/<key>` (each Secret mounted as a volume there).
    public var keySecretsDirectory: String
    /// Where `configMapRef` keys (trust roots, Notation trust material) are read from:
    /// `<directory>/<namespace>/<name>/<key>` (each ConfigMap mounted as a volume there).
    public var configMapsDirectory: String = PolicyLoader.defaultConfigMapsDirectory

    /// Where the Secret and ConfigMap keys policies name (`secretRef`, `configMapRef`) are read
    /// from instead of ``keySecretsDirectory`` and ``configMapsDirectory`` (the Kubernetes API);
    /// `nil`: the mounted directories.
    public var clusterKeyReader: (any ClusterKeyReader)?

    /// The Sigstore trusted root kept current through TUF, used by `keyless` authorities that
    /// name no `trustRoot` (instead of the embedded production root); its digest is part of the
    /// revision. `nil`: the embedded root.
    public var liveTrustedRoot: LiveTrustedRoot?

    /// The Sigstore roots TUF repositories named by policies (`trustRoot.tuf`) delivered; their
    /// digests are part of the revision. `nil`: such authorities stay unfetched (fail closed),
    /// as in `signet lint`, which runs no TUF client.
    public var tufTrustRoots: PolicyTUFTrustRoots?

    /// Whether a `secretRef` or `configMapRef` key that cannot be read fails its authority closed
    /// (`true`, when signet loads policies it will enforce) or is only checked for shape
    /// (`false`: `signet lint` and admission of signet's own resources, where the Secret or
    /// ConfigMap lives in the cluster, not here).
    public var requireSecretReferences = true

    public init(logger: Logger = Logger(label: "signet.policy"), keySecretsDirectory: String = PolicyLoader.defaultKeySecretsDirectory) {
        self.logger = logger
        self.keySecretsDirectory = keySecretsDirectory
    }

    /// Loads every policy file in `directory`.
    public func load(directory: String) throws(PolicyLoadError) -> PolicySet {
        try load(files: Self.readDirectory(directory))
    }

    /// Loads policies from in-memory files (for example a single `kubectl`-style file).
    public func load(files: [PolicySourceFile]) throws(PolicyLoadError) -> PolicySet {
        // One live root for the whole load, so the revision names the root every policy used.
        var loader = self
        if let live = liveTrustedRoot { loader.liveTrustedRoot = LiveTrustedRoot(live.current) }
        loader.tufTrustRoots = tufTrustRoots?.pinned()
        return try loader.loadPinned(files: files)
    }

    private func loadPinned(files: [PolicySourceFile]) throws(PolicyLoadError) -> PolicySet {
        var hash = StableHash()
        if let live = liveTrustedRoot {
            // The origin too, so reasons name the root in force (`TUF <mirror> (targets version N)`).
            hash.combine("live trusted root")
            hash.combine(live.current.digest)
            hash.combine(live.current.origin)
        }
        var policies: [CompiledPolicy] = []
        var exemptions = ExemptionCollector()
        var seen: [String: PolicySourceLocation] = [:]
        for file in files.sorted(by: { $0.name < $1.name }) {
            hash.combine(file.name)
            hash.combine(file.bytes.count)
            hash.combine(file.bytes)
            for resource in try loadFile(file) {
                guard case .policy(let policy) = resource else {
                    try exemptions.add(resource)
                    continue
                }
                if let first = seen[policy.name] {
                    throw PolicyLoadError(
                        .duplicateName, file: policy.source.file, document: policy.source.document, fieldPath: "metadata.name",
                        message: "ClusterImagePolicy \"\(policy.name)\" is already defined in \(first)")
                }
                seen[policy.name] = policy.source
                policies.append(policy)
            }
        }
        // The trust material the policies read is part of the revision: a rotated key or trust
        // root retires the cached verdicts of the old one even though no policy text changed.
        let unhashed = PolicySet(policies: policies, revision: "", exceptions: [], bypasses: [])
        PolicySet.combineTrustMaterial(unhashed.trustMaterialFiles, into: &hash)
        if let tuf = tufTrustRoots {
            // The roots policies' own TUF repositories delivered, as this load saw them.
            hash.combine("TUF trust roots")
            hash.combine(tuf.fingerprint)
        }
        return PolicySet(policies: policies, revision: hash.hexDigest, exceptions: exemptions.exceptions, bypasses: exemptions.bypasses)
    }

    /// The policy files of `directory` with their bytes, in name order.
    public static func readDirectory(_ directory: String) throws(PolicyLoadError) -> [PolicySourceFile] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw PolicyLoadError(.unreadable, file: directory, message: "cannot list the policy directory: \(error.localizedDescription)")
        }
        var files: [PolicySourceFile] = []
        for name in names.sorted() where isPolicyFileName(name) {
            let path = (directory as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw PolicyLoadError(.unreadable, file: name, message: "cannot read the file")
            }
            files.append(PolicySourceFile(name: name, bytes: [UInt8](data)))
        }
        return files
    }

    static func isPolicyFileName(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".yaml") || name.hasSuffix(".yml"))
    }

    // MARK: - Documents

    func loadFile(_ file: PolicySourceFile) throws(PolicyLoadError) -> [LoadedResource] {
        guard let text = String(validating: file.bytes, as: UTF8.self) else {
            throw PolicyLoadError(.invalidYAML, file: file.name, message: "file is not valid UTF-8")
        }
        let parser: Parser
        do {
            parser = try Parser(yaml: text)
        } catch {
            throw PolicyLoadError(.invalidYAML, file: file.name, document: 1, message: Self.describe(yamlError: error))
        }
        // Every document is composed and counted before any is read: the documents of a file
        // stand for a bounded number of nodes together (``YAMLExpansion/Budget``).
        var roots: [Node] = []
        var expansion = YAMLExpansion.Budget()
        while true {
            let document = roots.count + 1
            let root: Node?
            do {
                root = try parser.nextRoot()
            } catch {
                throw PolicyLoadError(.invalidYAML, file: file.name, document: document, message: Self.describe(yamlError: error))
            }
            guard let root else { break }
            do {
                try expansion.spend(on: root)
            } catch {
                throw PolicyLoadError(.invalidYAML, file: file.name, document: document, message: error.description)
            }
            roots.append(root)
        }
        var policies: [LoadedResource] = []
        for (index, root) in roots.enumerated() {
            if let policy = try loadDocument(root, at: PolicySourceLocation(file: file.name, document: index + 1)) {
                policies.append(policy)
            }
        }
        return policies
    }

    private func loadDocument(_ node: Node, at location: PolicySourceLocation) throws(PolicyLoadError) -> LoadedResource? {
        if node.null != nil {
            return nil
        }
        guard let mapping = node.mapping else {
            throw PolicyLoadError(.notASignetResource, file: location.file, document: location.document,
                                  message: "document is not a mapping with apiVersion and kind")
        }
        let apiVersion = Self.string(mapping, "apiVersion")
        let kind = Self.string(mapping, "kind")
        guard let apiVersion, let kind else {
            throw PolicyLoadError(.notASignetResource, file: location.file, document: location.document,
                                  message: "document has no apiVersion or kind; expected apiVersion \(ClusterImagePolicy.apiVersion), kind \(ClusterImagePolicy.kind)")
        }
        let group = apiVersion.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        guard group == ClusterImagePolicy.group, apiVersion.contains("/") else {
            throw PolicyLoadError(.notASignetResource, file: location.file, document: location.document,
                                  message: "\(kind) of apiVersion \"\(apiVersion)\" is not a signet.dev resource")
        }
        guard apiVersion == ClusterImagePolicy.apiVersion else {
            throw PolicyLoadError(.unsupportedResource, file: location.file, document: location.document, fieldPath: "apiVersion",
                                  message: "unsupported apiVersion \"\(apiVersion)\" (this signet reads \(ClusterImagePolicy.apiVersion))")
        }
        if Self.exemptionKinds.contains(kind) {
            return try loadExemption(kind: kind, node: node, mapping: mapping, at: location)
        }
        guard kind == ClusterImagePolicy.kind else {
            throw PolicyLoadError(.unsupportedResource, file: location.file, document: location.document, fieldPath: "kind",
                                  message: "unknown signet.dev kind \"\(kind)\"")
        }
        try Self.checkKnownFields(mapping, at: location)
        let policy: ClusterImagePolicy
        do {
            policy = try YAMLDecoder().decode(ClusterImagePolicy.self, from: node)
        } catch let error as DecodingError {
            let (path, message) = Self.describe(decodingError: error)
            throw PolicyLoadError(.invalidField, file: location.file, document: location.document, fieldPath: path, message: message)
        } catch {
            throw PolicyLoadError(.invalidField, file: location.file, document: location.document, message: "\(error)")
        }
        return .policy(try compile(policy, source: location))
    }

    // MARK: - Compilation

    /// Validates `policy` and compiles it, applying defaults.
    public func compile(_ policy: ClusterImagePolicy, source: PolicySourceLocation) throws(PolicyLoadError) -> CompiledPolicy {
        func invalid(_ path: String, _ message: String) -> PolicyLoadError {
            PolicyLoadError(.invalidField, file: source.file, document: source.document, fieldPath: path, message: message)
        }
        let name = policy.metadata.name
        guard Self.isValidResourceName(name) else {
            throw invalid("metadata.name", "\"\(name)\" is not a valid resource name (lowercase letters, digits, '-' and '.', at most 253 characters)")
        }
        guard !policy.spec.images.isEmpty else {
            throw invalid("spec.images", "at least one image glob is required")
        }
        var globs: [ImageGlob] = []
        for (index, pattern) in policy.spec.images.enumerated() {
            do {
                globs.append(try ImageGlob(pattern.glob, tags: pattern.tags))
            } catch {
                throw invalid("spec.images[\(index)].glob", error.description)
            }
        }
        guard !policy.spec.authorities.isEmpty else {
            throw invalid("spec.authorities", "at least one authority is required")
        }
        var authorities: [CompiledAuthority] = []
        var names: Set<String> = []
        for (index, authority) in policy.spec.authorities.enumerated() {
            let path = "spec.authorities[\(index)]"
            let written = [
                ("static", authority.static != nil), ("key", authority.key != nil), ("keyless", authority.keyless != nil),
                ("notation", authority.notation != nil), ("notaryV1", authority.notaryV1 != nil), ("attestations", authority.attestations != nil),
            ].filter(\.1).map(\.0)
            guard written.count == 1 else {
                throw invalid(path, written.isEmpty
                    ? "an authority needs exactly one of static, key, keyless, notation, notaryV1, attestations"
                    : "an authority has exactly one kind, found \(written.joined(separator: ", "))")
            }
            // Bodies are compiled only once the authority is known to have one kind.
            let kind: CompiledAuthority.Kind
            if let body = authority.static {
                kind = .static(action: body.action, message: body.message)
            } else if let body = authority.key {
                kind = .key(try compileKeyAuthority(body, path: "\(path).key", source: source))
            } else if let body = authority.keyless {
                kind = .keyless(try compileKeylessAuthority(body, path: "\(path).keyless", source: source))
            } else if let body = authority.notation {
                kind = .notation(try compileNotationAuthority(body, path: "\(path).notation", source: source))
            } else if let body = authority.notaryV1 {
                kind = .notaryV1(try compileNotaryV1Authority(body, path: "\(path).notaryV1", source: source))
            } else {
                kind = .attestations(try compileAttestationAuthority(authority.attestations!, path: "\(path).attestations", source: source))
            }
            let authorityName = authority.name ?? "authority-\(index)"
            guard !authorityName.isEmpty else {
                throw invalid("\(path).name", "name must not be empty")
            }
            guard names.insert(authorityName).inserted else {
                throw invalid("\(path).name", "duplicate authority name \"\(authorityName)\"")
            }
            authorities.append(CompiledAuthority(name: authorityName, index: index, kind: kind))
        }
        try Self.checkSelection(policy.spec, invalid: invalid)
        let required: Int
        switch policy.spec.require ?? .all {
        case .all:
            required = authorities.count
        case .count(let count):
            guard count >= 1, count <= authorities.count else {
                throw invalid("spec.require", "require must be between 1 and the number of authorities (\(authorities.count)), found \(count)")
            }
            required = count
        }
        return CompiledPolicy(
            name: name, source: source, images: globs, authorities: authorities, requiredPasses: required,
            mode: policy.spec.mode ?? .enforce, definition: policy)
    }

    /// A DNS subdomain name (RFC 1123), as Kubernetes requires of cluster-scoped resource names.
    static func isValidResourceName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 253 else { return false }
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
        }
        guard isAlphanumeric(bytes[0]), isAlphanumeric(bytes[bytes.count - 1]) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    // MARK: - Strict fields

    private static let topLevelFields: Set<String> = ["apiVersion", "kind", "metadata", "spec", "status"]
    private static let specFields: Set<String> = ["images", "authorities", "require", "mode", "namespaceSelector", "kinds", "requireDigest"]
    private static let authorityFields: Set<String> = ["name", "static", "key", "keyless", "notation", "notaryV1", "attestations"]
    private static let staticFields: Set<String> = ["action", "message"]
    static let imageFields: Set<String> = ["glob", "tags"]
    private static let keyFields: Set<String> = ["publicKeys", "threshold", "annotations", "transparencyLog", "trustRoot"]
    private static let publicKeyFields: Set<String> = ["pem", "file", "secretRef", "hashAlgorithm", "rsaPadding"]
    private static let secretRefFields: Set<String> = ["namespace", "name", "key"]
    private static let notationFields: Set<String> = [
        "trustPolicy", "trustPolicyFile", "trustPolicyConfigMapRef", "trustPolicySecretRef", "trustStores", "trustStoreDirectory", "crls",
    ]
    private static let notationCRLFields: Set<String> = ["pem", "file", "configMapRef", "secretRef"]
    private static let notationStoreFields: Set<String> = ["name", "pem", "file", "configMapRef", "secretRef"]
    private static let notaryV1Fields: Set<String> = ["server", "rootKeys", "delegations", "threshold", "caBundleFile", "rootThreshold"]
    private static let notaryRootKeyFields: Set<String> = ["pem", "file"]

    private static func checkKnownFields(_ root: Node.Mapping, at location: PolicySourceLocation) throws(PolicyLoadError) {
        try checkKeys(root, allowed: topLevelFields, path: "", at: location)
        guard let spec = value(root, "spec")?.mapping else { return }
        try checkKeys(spec, allowed: specFields, path: "spec", at: location)
        if let selector = value(spec, "namespaceSelector")?.mapping {
            try checkKeys(selector, allowed: selectorFields, path: "spec.namespaceSelector", at: location)
        }
        if let images = value(spec, "images")?.sequence {
            for (index, image) in images.enumerated() {
                if let mapping = image.mapping {
                    try checkKeys(mapping, allowed: imageFields, path: "spec.images[\(index)]", at: location)
                }
            }
        }
        if let authorities = value(spec, "authorities")?.sequence {
            for (index, authority) in authorities.enumerated() {
                guard let mapping = authority.mapping else { continue }
                let path = "spec.authorities[\(index)]"
                try checkKeys(mapping, allowed: authorityFields, path: path, at: location)
                if let body = value(mapping, "static")?.mapping {
                    try checkKeys(body, allowed: staticFields, path: "\(path).static", at: location)
                }
                if let body = value(mapping, "notation")?.mapping {
                    try checkKeys(body, allowed: notationFields, path: "\(path).notation", at: location)
                    for field in ["trustPolicyConfigMapRef", "trustPolicySecretRef"] {
                        guard let reference = value(body, field)?.mapping else { continue }
                        try checkKeys(reference, allowed: secretRefFields, path: "\(path).notation.\(field)", at: location)
                    }
                    for (list, allowed) in [("trustStores", notationStoreFields), ("crls", notationCRLFields)] {
                        for (entryIndex, entry) in (value(body, list)?.sequence ?? []).enumerated() {
                            guard let entryMapping = entry.mapping else { continue }
                            let entryPath = "\(path).notation.\(list)[\(entryIndex)]"
                            try checkKeys(entryMapping, allowed: allowed, path: entryPath, at: location)
                            for field in ["configMapRef", "secretRef"] {
                                guard let reference = value(entryMapping, field)?.mapping else { continue }
                                try checkKeys(reference, allowed: secretRefFields, path: "\(entryPath).\(field)", at: location)
                            }
                        }
                    }
                }
                if let body = value(mapping, "keyless")?.mapping {
                    try checkKeylessFields(body, path: "\(path).keyless", at: location)
                }
                if let body = value(mapping, "notaryV1")?.mapping {
                    try checkKeys(body, allowed: notaryV1Fields, path: "\(path).notaryV1", at: location)
                    for (keyIndex, key) in (value(body, "rootKeys")?.sequence ?? []).enumerated() {
                        guard let keyMapping = key.mapping else { continue }
                        try checkKeys(keyMapping, allowed: notaryRootKeyFields, path: "\(path).notaryV1.rootKeys[\(keyIndex)]", at: location)
                    }
                }
                if let body = value(mapping, "key")?.mapping {
                    try checkKeyFields(body, path: "\(path).key", at: location)
                }
                // An attestation's signer is a key or keyless authority as any other: a field
                // misspelt there (an identity's `extensions`, a `threshold`) must not be dropped
                // unseen, widening who may sign (the CRD keeps `attestations` unpruned).
                let requirements = value(mapping, "attestations")?.mapping.flatMap { value($0, "require")?.sequence } ?? []
                for (index, requirement) in requirements.enumerated() {
                    guard let requirementMapping = requirement.mapping else { continue }
                    let requirementPath = "\(path).attestations.require[\(index)]"
                    if let body = value(requirementMapping, "key")?.mapping {
                        try checkKeyFields(body, path: "\(requirementPath).key", at: location)
                    }
                    if let body = value(requirementMapping, "keyless")?.mapping {
                        try checkKeylessFields(body, path: "\(requirementPath).keyless", at: location)
                    }
                }
            }
        }
    }

    /// The fields of a `key` authority (or an attestation's `key` signer) at `path`.
    private static func checkKeyFields(_ body: Node.Mapping, path: String, at location: PolicySourceLocation) throws(PolicyLoadError) {
        try checkKeys(body, allowed: keyFields, path: path, at: location)
        try checkTrustRootFields(body, path: path, at: location)
        for (keyIndex, key) in (value(body, "publicKeys")?.sequence ?? []).enumerated() {
            guard let keyMapping = key.mapping else { continue }
            let keyPath = "\(path).publicKeys[\(keyIndex)]"
            try checkKeys(keyMapping, allowed: publicKeyFields, path: keyPath, at: location)
            if let secret = value(keyMapping, "secretRef")?.mapping {
                try checkKeys(secret, allowed: secretRefFields, path: "\(keyPath).secretRef", at: location)
            }
        }
    }

    static func checkKeys(_ mapping: Node.Mapping, allowed: Set<String>, path: String, at location: PolicySourceLocation) throws(PolicyLoadError) {
        for key in mapping.keys {
            let name = key.string ?? "\(key)"
            if !allowed.contains(name) {
                throw PolicyLoadError(
                    .invalidField, file: location.file, document: location.document,
                    fieldPath: path.isEmpty ? name : "\(path).\(name)",
                    message: "unknown field \"\(name)\" (expected one of \(allowed.sorted().joined(separator: ", ")))")
            }
        }
    }

    static func value(_ mapping: Node.Mapping, _ key: String) -> Node? {
        mapping.first { $0.key.string == key }?.value
    }

    private static func string(_ mapping: Node.Mapping, _ key: String) -> String? {
        value(mapping, key)?.string
    }

    // MARK: - Messages

    static func describe(yamlError error: any Error) -> String {
        guard let error = error as? YamlError else { return "invalid YAML: \(error)" }
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "invalid YAML: \(problem) at line \(mark.line), column \(mark.column)"
        case .reader(let problem, _, _, _):
            return "invalid YAML: \(problem)"
        case .duplicatedKeysInMapping(let duplicates, _):
            return "invalid YAML: duplicated keys \(duplicates.joined(separator: ", "))"
        default:
            return "invalid YAML: \(error)"
        }
    }

    static func describe(decodingError error: DecodingError) -> (path: String, message: String) {
        func render(_ path: [any CodingKey]) -> String {
            var text = ""
            for key in path {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text
        }
        switch error {
        case .keyNotFound(let key, let context):
            return (render(context.codingPath + [key]), "required field is missing")
        case .valueNotFound(let type, let context):
            return (render(context.codingPath), "a value of type \(type) is required")
        case .typeMismatch(let type, let context):
            return (render(context.codingPath), "expected a value of type \(type)")
        case .dataCorrupted(let context):
            var message = context.debugDescription
            if let underlying = context.underlyingError { message += " (\(underlying))" }
            return (render(context.codingPath), message)
        @unknown default:
            return ("", "\(error)")
        }
    }
}
