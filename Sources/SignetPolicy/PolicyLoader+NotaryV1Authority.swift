import Foundation
import SignetCrypto

extension PolicyLoader {
    /// Reads the pinned root keys of a `notaryV1` authority and checks its server, delegations
    /// and threshold, so that a policy that cannot be used is refused when it is loaded, naming
    /// the field. A root key `file` that is missing while the policy source reads trust material
    /// strictly (``requireSecretReferences``) compiles to an unresolved key: the authority then
    /// fails every image (fail closed) instead of keeping an older key in force.
    func compileNotaryV1Authority(
        _ body: ClusterImagePolicy.NotaryV1Authority, path: String, source: PolicySourceLocation
    ) throws(PolicyLoadError) -> CompiledNotaryV1Authority {
        func invalid(_ field: String, _ message: String) -> PolicyLoadError {
            PolicyLoadError(.invalidField, file: source.file, document: source.document, fieldPath: field, message: message)
        }
        var server = body.server.trimmingCharacters(in: .whitespaces)
        while server.hasSuffix("/") { server.removeLast() }
        guard let url = URL(string: server), url.scheme == "https" || url.scheme == "http", url.host != nil,
              url.query == nil, url.fragment == nil else {
            throw invalid("\(path).server", "must be the Notary server's URL (https://host[:port]), found \"\(body.server)\"")
        }
        guard !body.rootKeys.isEmpty else {
            throw invalid("\(path).rootKeys", "at least one pinned root key is required (Notary v1 roots are never trusted on first use)")
        }
        var keys: [TrustedPublicKey] = []
        var files: [String] = []
        var unresolved: [String] = []
        for (index, entry) in body.rootKeys.enumerated() {
            let keyPath = "\(path).rootKeys[\(index)]"
            guard (entry.pem != nil) != (entry.file != nil) else {
                throw invalid(keyPath, "a root key needs exactly one of pem, file")
            }
            let text: String
            let origin: String
            if let pem = entry.pem {
                (text, origin) = (pem, "inline PEM")
            } else {
                let file = entry.file!
                files.append(file)
                guard let data = FileManager.default.contents(atPath: file) else {
                    guard requireSecretReferences else { throw invalid("\(keyPath).file", "cannot read the root key file \(file)") }
                    unresolved.append("rootKeys[\(index)]: the root key file \(file) is missing or unreadable")
                    continue
                }
                (text, origin) = (String(decoding: data, as: UTF8.self), "file \(file)")
            }
            let key: PublicKey
            do {
                if text.contains("-----BEGIN CERTIFICATE-----") {
                    key = try Certificate(pemEncoded: text).publicKey()
                } else {
                    key = try PublicKey(pem: text)
                }
            } catch {
                guard entry.pem == nil, requireSecretReferences else { throw invalid(keyPath, "unusable root key: \(error)") }
                unresolved.append("rootKeys[\(index)]: \(origin) holds no usable key: \(error)")
                continue
            }
            if keys.contains(where: { $0.key == key }) {
                throw invalid(keyPath, "the same root key is listed twice")
            }
            keys.append(TrustedPublicKey(key: key, source: "rootKeys[\(index)] (\(origin))"))
        }
        let delegations = body.delegations ?? []
        for (index, name) in delegations.enumerated() {
            let parts = name.split(separator: "/", omittingEmptySubsequences: false)
            guard name == "targets" || (parts.count >= 2 && parts[0] == "targets" && !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })) else {
                throw invalid("\(path).delegations[\(index)]", "must be targets or a delegated role targets/<name>, found \"\(name)\"")
            }
        }
        guard Set(delegations).count == delegations.count else {
            throw invalid("\(path).delegations", "a role is listed twice")
        }
        if body.delegations != nil, delegations.isEmpty {
            throw invalid("\(path).delegations", "list at least one role, or leave the field out for targets/releases (else targets)")
        }
        let count = max(delegations.count, 1)
        let threshold = body.threshold ?? count
        guard threshold >= 1, threshold <= count else {
            throw invalid("\(path).threshold", "threshold must be between 1 and the number of delegations (\(count)), found \(threshold)")
        }
        if let bundle = body.caBundleFile {
            files.append(bundle)
            if FileManager.default.contents(atPath: bundle) == nil {
                guard requireSecretReferences else { throw invalid("\(path).caBundleFile", "cannot read the CA bundle \(bundle)") }
                unresolved.append("caBundleFile: \(bundle) is missing or unreadable")
            }
        }
        let rootThreshold = body.rootThreshold ?? 1
        guard rootThreshold >= 1, rootThreshold <= body.rootKeys.count else {
            throw invalid("\(path).rootThreshold", "rootThreshold must be between 1 and the number of rootKeys (\(body.rootKeys.count)), found \(rootThreshold)")
        }
        var compiled = CompiledNotaryV1Authority(server: server, rootKeys: keys, delegations: delegations, threshold: threshold, caBundleFile: body.caBundleFile)
        compiled.rootThreshold = rootThreshold
        compiled.trustMaterialFiles = files
        compiled.unresolvedKeys = unresolved
        return compiled
    }
}
