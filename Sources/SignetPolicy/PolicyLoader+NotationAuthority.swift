import Foundation
import SignetCrypto
import SignetNotation

extension PolicyLoader {
    /// Reads and validates a `notation` authority's trust policy document and trust stores, so a
    /// policy whose document `notation` would refuse is refused when loaded, naming the field and
    /// the statement.
    ///
    /// Trust material from outside the policy text (a file, a Secret or ConfigMap key) that is
    /// missing or unusable while enforcing (``requireSecretReferences``, cluster mode) compiles
    /// to an unresolved authority that fails every image, as a removed key does: refusing the
    /// policy would keep the last good set, and the trust that was withdrawn, in force.
    func compileNotationAuthority(
        _ body: ClusterImagePolicy.NotationAuthority, path: String, source: PolicySourceLocation
    ) throws(PolicyLoadError) -> CompiledNotationAuthority {
        func invalid(_ field: String, _ message: String) -> PolicyLoadError {
            PolicyLoadError(.invalidField, file: source.file, document: source.document, fieldPath: field, message: message)
        }
        var reads = NotationMaterialReads()

        // The trust policy document.
        let documentSources: [(String, NotationMaterialSource?)] = [
            ("trustPolicy", body.trustPolicy.map { .inline(Self.documentBytes($0)) }), ("trustPolicyFile", body.trustPolicyFile.map { .file($0) }),
            ("trustPolicyConfigMapRef", body.trustPolicyConfigMapRef.map { .configMap($0) }), ("trustPolicySecretRef", body.trustPolicySecretRef.map { .secret($0) }),
        ]
        let givenDocuments = documentSources.compactMap { field, source in source.map { (field, $0) } }
        guard givenDocuments.count == 1 else {
            throw invalid(path, "a notation authority needs exactly one of \(documentSources.map(\.0).joined(separator: ", "))")
        }
        let (documentField, documentSource) = givenDocuments[0]
        let documentPath = "\(path).\(documentField)"
        if case .inline(nil) = documentSource {
            throw invalid(documentPath, "must be the trust policy document as JSON text or as an object")
        }
        var policy: NotationTrustPolicy?
        var documentBytes: [UInt8] = []
        var documentOrigin = "unresolved"
        if let read = try readNotationMaterial(
            documentSource, field: documentPath, defaultKey: "trustpolicy.json", what: "trust policy", label: documentField, reads: &reads, invalid: invalid) {
            documentOrigin = read.external ? read.origin : "inline"
            do {
                policy = try NotationTrustPolicy(json: read.bytes)
                documentBytes = read.bytes
            } catch {
                try unusable(read, "trust policy document", field: documentPath, label: documentField, message: error.description, reads: &reads, invalid: invalid)
            }
        }

        // The trust stores.
        var stores = NotationTrustStores()
        for (index, entry) in (body.trustStores ?? []).enumerated() {
            let field = "\(path).trustStores[\(index)]"
            let parts = entry.name.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let type = NotationTrustPolicy.TrustStoreName.StoreType(rawValue: String(parts[0])), !parts[1].isEmpty else {
                throw invalid("\(field).name", "\"\(entry.name)\" is not {type}:{name} with type ca, signingAuthority or tsa")
            }
            let name = NotationTrustPolicy.TrustStoreName(type: type, name: String(parts[1]))
            let (materialField, materialSource) = try Self.oneSource(
                pem: entry.pem, file: entry.file, configMapRef: entry.configMapRef, secretRef: entry.secretRef, field: field, what: "a trust store entry",
                invalid: invalid)
            guard let read = try readNotationMaterial(
                materialSource, field: materialField, defaultKey: nil, what: "certificate", label: "trustStores[\(index)]", reads: &reads, invalid: invalid)
            else { continue }
            do {
                stores.add(try NotationTrustStores.certificates(in: read.bytes, origin: read.origin), to: name)
            } catch {
                try unusable(read, "certificates", field: field, label: "trustStores[\(index)]", message: error.description, reads: &reads, invalid: invalid)
            }
        }
        if let directory = body.trustStoreDirectory {
            do {
                let read = try NotationTrustStores.directory(directory)
                for (name, certificates) in read.stores { stores.add(certificates, to: name) }
            } catch {
                throw invalid("\(path).trustStoreDirectory", error.description)
            }
            reads.files.append(contentsOf: Self.filesUnder(directory))
        }

        // The CRLs.
        var crls: [CertificateRevocationList] = []
        for (index, entry) in (body.crls ?? []).enumerated() {
            let field = "\(path).crls[\(index)]"
            let (materialField, materialSource) = try Self.oneSource(
                pem: entry.pem, file: entry.file, configMapRef: entry.configMapRef, secretRef: entry.secretRef, field: field, what: "a CRL entry",
                invalid: invalid)
            guard let read = try readNotationMaterial(
                materialSource, field: materialField, defaultKey: nil, what: "CRL", label: "crls[\(index)]", reads: &reads, invalid: invalid)
            else { continue }
            do {
                crls += try CertificateRevocationList.lists(in: read.bytes)
            } catch {
                try unusable(read, "CRL", field: field, label: "crls[\(index)]", message: "not a PEM or DER CRL: \(error)", reads: &reads, invalid: invalid)
            }
        }

        var material = documentBytes
        for (name, certificates) in stores.stores.sorted(by: { $0.key.description < $1.key.description }) {
            material += Array(name.description.utf8)
            for certificate in certificates { material += certificate.derEncoded }
        }
        for crl in crls { material += crl.derEncoded }
        let digest = DigestAlgorithm.sha256.hexHash(material + Array(reads.unresolved.joined(separator: "|").utf8))
        var compiled = CompiledNotationAuthority(
            trustPolicy: policy ?? NotationTrustPolicy.empty, trustStores: stores, trustPolicySource: documentOrigin, trustDigest: digest)
        compiled.trustMaterialFiles = reads.files
        compiled.clusterReferences = reads.references
        compiled.crls = crls
        if !reads.unresolved.isEmpty {
            compiled.unresolvedTrustMaterial = reads.unresolved.joined(separator: "; ")
            if requireSecretReferences {
                logger.warning("a notation authority names trust material that cannot be read; it fails every image until it is back", metadata: [
                    "source": "\(source)", "authority": "\(path)", "unresolved": "\(compiled.unresolvedTrustMaterial!)",
                ])
            }
        }
        return compiled
    }

    /// The inline document's bytes: JSON text as written, or the structure written as YAML
    /// encoded as JSON; `nil` for any other value (refused by the caller).
    private static func documentBytes(_ value: PolicyValue) -> [UInt8]? {
        switch value {
        case .string(let text): return Array(text.utf8)
        case .object:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return (try? encoder.encode(value)).map { [UInt8]($0) }
        default: return nil
        }
    }

    /// The one source a trust store or CRL entry gives, with its field path.
    private static func oneSource(
        pem: String?, file: String?, configMapRef: ClusterImagePolicy.ConfigMapKeyReference?, secretRef: ClusterImagePolicy.SecretKeyReference?,
        field: String, what: String, invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) -> (String, NotationMaterialSource) {
        let given: [(String, NotationMaterialSource?)] = [
            ("pem", pem.map { .inline(Array($0.utf8)) }), ("file", file.map { .file($0) }),
            ("configMapRef", configMapRef.map { .configMap($0) }), ("secretRef", secretRef.map { .secret($0) }),
        ]
        let present = given.compactMap { name, source in source.map { (name, $0) } }
        guard present.count == 1 else {
            throw invalid(field, "\(what) needs exactly one of \(given.map(\.0).joined(separator: ", "))")
        }
        return ("\(field).\(present[0].0)", present[0].1)
    }

    /// The bytes of one piece of trust material and where they came from, or `nil` when a file,
    /// Secret or ConfigMap key cannot be read while enforcing (the reason, after `label`, is
    /// added to `reads.unresolved`; without enforcing a missing file is refused).
    private func readNotationMaterial(
        _ source: NotationMaterialSource, field: String, defaultKey: String?, what: String, label: String, reads: inout NotationMaterialReads,
        invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) -> NotationMaterialRead? {
        let reference: ClusterKeyReference
        switch source {
        case .inline(let bytes):
            return NotationMaterialRead(bytes: bytes ?? [], origin: field, external: false)
        case .file(let file):
            reads.files.append(file)
            if let data = FileManager.default.contents(atPath: file) { return NotationMaterialRead(bytes: [UInt8](data), origin: "file \(file)", external: true) }
            guard requireSecretReferences else { throw invalid(field, "cannot read the \(what) file \(file)") }
            reads.unresolved.append("\(label): the \(what) file \(file) is missing or unreadable")
            return nil
        case .secret(let secret):
            reference = try clusterKeyReference(
                .secret, namespace: secret.namespace, name: secret.name, key: secret.key, defaultKey: defaultKey, field: field, invalid: invalid)
        case .configMap(let configMap):
            reference = try clusterKeyReference(
                .configMap, namespace: configMap.namespace, name: configMap.name, key: configMap.key, defaultKey: defaultKey, field: field, invalid: invalid)
        }
        reads.references.append(reference)
        switch readClusterKey(reference, files: &reads.files) {
        case .found(let bytes):
            return NotationMaterialRead(bytes: bytes, origin: reference.description, external: true)
        case .missing(let why):
            reads.unresolved.append("\(label): \(reference) is missing (\(why))")
            return nil
        }
    }

    /// Material that was read but does not parse: refused when it is the policy text (or when
    /// not enforcing); from a file, Secret or ConfigMap while enforcing, the authority is
    /// unresolved instead (a file or key replaced by something unusable is a removed one).
    private func unusable(
        _ read: NotationMaterialRead, _ what: String, field: String, label: String, message: String, reads: inout NotationMaterialReads,
        invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) {
        guard read.external, requireSecretReferences else { throw invalid(field, message) }
        reads.unresolved.append(message.hasPrefix(read.origin) ? "\(label): \(message)" : "\(label): \(read.origin) holds no usable \(what): \(message)")
    }

    private static func filesUnder(_ directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [directory] }
        var files: [String] = []
        while let next = enumerator.nextObject() as? String { files.append(directory + "/" + next) }
        return files.sorted()
    }
}

/// Where one piece of a `notation` authority's trust material comes from.
private enum NotationMaterialSource {
    /// In the policy text (`nil`: an inline value that is not a document).
    case inline([UInt8]?)
    case file(String)
    case secret(ClusterImagePolicy.SecretKeyReference)
    case configMap(ClusterImagePolicy.ConfigMapKeyReference)
}

/// One piece of trust material read.
private struct NotationMaterialRead {
    var bytes: [UInt8]
    /// `spec.authorities[0].notation.trustStores[0].pem`, `file /x.crt`, `key ca.crt of ConfigMap ns/name`.
    var origin: String
    /// Read from a file, Secret or ConfigMap rather than the policy text.
    var external: Bool
}

/// What a `notation` authority read from outside its policy text while it compiled.
private struct NotationMaterialReads {
    var files: [String] = []
    var references: [ClusterKeyReference] = []
    var unresolved: [String] = []
}
