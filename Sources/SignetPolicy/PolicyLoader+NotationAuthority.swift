import Foundation
import SignetCrypto
import SignetNotation

extension PolicyLoader {
    /// Reads and validates a `notation` authority's trust policy document and trust stores, so a
    /// policy whose document `notation` would refuse is refused when loaded, naming the field and
    /// the statement. A file that is missing while enforcing (cluster mode) compiles to an
    /// unresolved authority that fails every image, as key files do.
    func compileNotationAuthority(
        _ body: ClusterImagePolicy.NotationAuthority, path: String, source: PolicySourceLocation
    ) throws(PolicyLoadError) -> CompiledNotationAuthority {
        func invalid(_ field: String, _ message: String) -> PolicyLoadError {
            PolicyLoadError(.invalidField, file: source.file, document: source.document, fieldPath: field, message: message)
        }
        var files: [String] = []
        var unresolved: [String] = []
        let documentBytes: [UInt8]
        let documentSource: String
        switch (body.trustPolicy, body.trustPolicyFile) {
        case (.some(let value), nil):
            documentSource = "inline"
            switch value {
            case .string(let text): documentBytes = Array(text.utf8)
            case .object:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                guard let data = try? encoder.encode(value) else { throw invalid("\(path).trustPolicy", "cannot be written as JSON") }
                documentBytes = [UInt8](data)
            default: throw invalid("\(path).trustPolicy", "must be the trust policy document as JSON text or as an object")
            }
        case (nil, .some(let file)):
            files.append(file)
            documentSource = "file \(file)"
            guard let data = FileManager.default.contents(atPath: file) else {
                guard requireSecretReferences else { throw invalid("\(path).trustPolicyFile", "cannot read the trust policy file \(file)") }
                unresolved.append("trustPolicyFile: the trust policy file \(file) is missing or unreadable")
                documentBytes = []
                break
            }
            documentBytes = [UInt8](data)
        default:
            throw invalid(path, "a notation authority needs exactly one of trustPolicy, trustPolicyFile")
        }
        var policy: NotationTrustPolicy?
        if unresolved.isEmpty {
            do {
                policy = try NotationTrustPolicy(json: documentBytes)
            } catch {
                throw invalid(body.trustPolicy != nil ? "\(path).trustPolicy" : "\(path).trustPolicyFile", error.description)
            }
        }
        var stores = NotationTrustStores()
        for (index, entry) in (body.trustStores ?? []).enumerated() {
            let field = "\(path).trustStores[\(index)]"
            let parts = entry.name.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let type = NotationTrustPolicy.TrustStoreName.StoreType(rawValue: String(parts[0])), !parts[1].isEmpty else {
                throw invalid("\(field).name", "\"\(entry.name)\" is not {type}:{name} with type ca, signingAuthority or tsa")
            }
            let name = NotationTrustPolicy.TrustStoreName(type: type, name: String(parts[1]))
            let bytes: [UInt8]
            let origin: String
            switch (entry.pem, entry.file) {
            case (.some(let pem), nil):
                (bytes, origin) = (Array(pem.utf8), "\(field).pem")
            case (nil, .some(let file)):
                files.append(file)
                guard let data = FileManager.default.contents(atPath: file) else {
                    guard requireSecretReferences else { throw invalid("\(field).file", "cannot read the certificate file \(file)") }
                    unresolved.append("trustStores[\(index)]: the certificate file \(file) is missing or unreadable")
                    continue
                }
                (bytes, origin) = ([UInt8](data), "file \(file)")
            default:
                throw invalid(field, "a trust store entry needs exactly one of pem, file")
            }
            do {
                stores.add(try NotationTrustStores.certificates(in: bytes, origin: origin), to: name)
            } catch {
                throw invalid(field, error.description)
            }
        }
        if let directory = body.trustStoreDirectory {
            do {
                let read = try NotationTrustStores.directory(directory)
                for (name, certificates) in read.stores { stores.add(certificates, to: name) }
            } catch {
                throw invalid("\(path).trustStoreDirectory", error.description)
            }
            files.append(contentsOf: Self.filesUnder(directory))
        }
        var crls: [CertificateRevocationList] = []
        for (index, entry) in (body.crls ?? []).enumerated() {
            let field = "\(path).crls[\(index)]"
            let bytes: [UInt8]
            switch (entry.pem, entry.file) {
            case (.some(let pem), nil):
                bytes = Array(pem.utf8)
            case (nil, .some(let file)):
                files.append(file)
                guard let data = FileManager.default.contents(atPath: file) else {
                    guard requireSecretReferences else { throw invalid("\(field).file", "cannot read the CRL file \(file)") }
                    unresolved.append("crls[\(index)]: the CRL file \(file) is missing or unreadable")
                    continue
                }
                bytes = [UInt8](data)
            default:
                throw invalid(field, "a CRL entry needs exactly one of pem, file")
            }
            do {
                crls += try CertificateRevocationList.lists(in: bytes)
            } catch {
                throw invalid(field, "not a PEM or DER CRL: \(error)")
            }
        }
        var material = documentBytes
        for (name, certificates) in stores.stores.sorted(by: { $0.key.description < $1.key.description }) {
            material += Array(name.description.utf8)
            for certificate in certificates { material += certificate.derEncoded }
        }
        for crl in crls { material += crl.derEncoded }
        let digest = DigestAlgorithm.sha256.hexHash(material + Array(unresolved.joined(separator: "|").utf8))
        var compiled = CompiledNotationAuthority(
            trustPolicy: policy ?? NotationTrustPolicy.empty, trustStores: stores, trustPolicySource: documentSource, trustDigest: digest)
        compiled.trustMaterialFiles = files
        compiled.crls = crls
        if !unresolved.isEmpty {
            compiled.unresolvedTrustMaterial = unresolved.joined(separator: "; ")
            logger.warning("a notation authority names trust material that cannot be read; it fails every image until it is back", metadata: [
                "source": "\(source)", "authority": "\(path)", "unresolved": "\(compiled.unresolvedTrustMaterial!)",
            ])
        }
        return compiled
    }

    private static func filesUnder(_ directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [directory] }
        var files: [String] = []
        while let next = enumerator.nextObject() as? String { files.append(directory + "/" + next) }
        return files.sorted()
    }
}
