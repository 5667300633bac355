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
        let (root, origin, digest): (TrustedRoot, String, String)
        do throws(PolicyLoadError) {
            (root, origin, digest) = try readTrustRoot(body.trustRoot, path: "\(path).trustRoot", use: .certificateAuthorities, invalid: invalid)
        } catch {
            // A trust root file or mounted ConfigMap key that is missing or unusable fails the
            // authority closed, as a removed key does: refusing the reload would keep the last
            // good set, and the root that was removed, in force.
            guard requireSecretReferences, !files.isEmpty, body.trustRoot?.inline == nil else { throw error }
            logger.warning("a keyless authority's trust root cannot be read; it fails every image until it is back", metadata: [
                "source": "\(source)", "authority": "\(path)", "error": "\(error.message)",
            ])
            var unresolved = CompiledKeylessAuthority(
                identities: identities, trustedRoot: TrustedRoot(transparencyLogs: [], certificateAuthorities: [], certificateTransparencyLogs: [], timestampAuthorities: []),
                trustRootSource: "unresolved", trustRootDigest: "unresolved: " + error.message)
            unresolved.trustMaterialFiles = files
            unresolved.unresolvedTrustRoot = "\(error.fieldPath ?? path): \(error.message)"
            return unresolved
        }
        var compiled = CompiledKeylessAuthority(identities: identities, trustedRoot: root, trustRootSource: origin, trustRootDigest: digest)
        compiled.trustMaterialFiles = files
        return compiled
    }

    /// What an authority needs from its trust root.
    enum TrustRootUse {
        /// Certificate authorities (keyless signatures).
        case certificateAuthorities
        /// Transparency logs (key signatures under `transparencyLog: require`).
        case transparencyLogs
    }

    /// Reads the trust root `reference` names, or the one in force (from TUF, else embedded).
    func readTrustRoot(
        _ reference: ClusterImagePolicy.TrustRootSource?, path: String, use: TrustRootUse, invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) -> (TrustedRoot, String, String) {
        guard let reference else {
            if let live = liveTrustedRoot?.current { return (live.root, live.origin, live.digest) }
            switch Self.productionRoot {
            case .success(let root): return (root, "embedded production root", TrustedRoot.productionJSONDigest)
            case .failure(let error): throw invalid(path, "the embedded production trust root does not load: \(error)")
            }
        }
        let given = [reference.file != nil, reference.inline != nil, reference.configMapRef != nil].filter { $0 }.count
        guard given == 1 else {
            throw invalid(path, "a trust root needs exactly one of file, inline, configMapRef")
        }
        let bytes: [UInt8]
        let origin: String
        let field: String
        if let inline = reference.inline {
            (bytes, origin, field) = (Array(inline.utf8), "inline", "\(path).inline")
        } else if let file = reference.file {
            field = "\(path).file"
            guard let data = FileManager.default.contents(atPath: file) else {
                throw invalid(field, "cannot read the trust root file \(file)")
            }
            (bytes, origin) = ([UInt8](data), "file \(file)")
        } else {
            let configMap = reference.configMapRef!
            field = "\(path).configMapRef"
            let name = configMap.key ?? "trusted_root.json"
            for part in [configMap.namespace, configMap.name, name] where part.isEmpty || part.contains("/") || part.hasPrefix(".") {
                throw invalid(field, "\"\(part)\" is not a valid ConfigMap namespace, name or key")
            }
            let location = [configMapsDirectory, configMap.namespace, configMap.name, name].joined(separator: "/")
            guard let data = FileManager.default.contents(atPath: location) else {
                throw invalid(field, "cannot read key \(name) of ConfigMap \(configMap.namespace)/\(configMap.name) (expected at \(location))")
            }
            (bytes, origin) = ([UInt8](data), "configmap \(configMap.namespace)/\(configMap.name) key \(name)")
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
        return (root, origin, DigestAlgorithm.sha256.hexHash(bytes))
    }

    /// The file a trust root reference reads: its `file`, or its mounted ConfigMap key.
    func trustRootFiles(_ reference: ClusterImagePolicy.TrustRootSource?) -> [String] {
        if let file = reference?.file { return [file] }
        if let configMap = reference?.configMapRef {
            return [[configMapsDirectory, configMap.namespace, configMap.name, configMap.key ?? "trusted_root.json"].joined(separator: "/")]
        }
        return []
    }

    /// Fulcio extensions an identity may require, by their sigstore-go `certificate.Extensions`
    /// names; the issuer has its own fields.
    static let keylessExtensionNames: [String: FulcioExtension] = Dictionary(
        uniqueKeysWithValues: FulcioExtension.allCases.filter { $0 != .issuer && $0 != .issuerV1 }.map { ($0.description, $0) })

    static let keylessFields: Set<String> = ["identities", "trustRoot"]
    static let keylessIdentityFields: Set<String> = ["issuer", "issuerRegExp", "subject", "subjectRegExp", "extensions"]
    static let trustRootFields: Set<String> = ["file", "inline", "configMapRef"]
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
        }
    }
}
