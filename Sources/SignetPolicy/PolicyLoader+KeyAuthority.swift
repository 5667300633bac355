import Foundation
import SignetCrypto

extension PolicyLoader {
    /// Reads and parses the public keys of a `key` authority and checks its threshold, so that a
    /// policy whose keys cannot be used is refused when it is loaded, naming the field.
    func compileKeyAuthority(
        _ body: ClusterImagePolicy.KeyAuthority, path: String, source: PolicySourceLocation
    ) throws(PolicyLoadError) -> CompiledKeyAuthority {
        func invalid(_ field: String, _ message: String) -> PolicyLoadError {
            PolicyLoadError(.invalidField, file: source.file, document: source.document, fieldPath: field, message: message)
        }
        guard !body.publicKeys.isEmpty else {
            throw invalid("\(path).publicKeys", "at least one public key is required")
        }
        var keys: [TrustedPublicKey] = []
        var keyIndices: [Int] = []  // the publicKeys index of each entry of keys
        var unresolved = 0
        var files: [String] = []
        for (index, entry) in body.publicKeys.enumerated() {
            let keyPath = "\(path).publicKeys[\(index)]"
            let given = [entry.pem != nil, entry.file != nil, entry.secretRef != nil].filter { $0 }.count
            guard given == 1 else {
                throw invalid(keyPath, "a public key needs exactly one of pem, file, secretRef")
            }
            let pem: String
            let origin: String
            let field: String
            if let inline = entry.pem {
                (pem, origin, field) = (inline, "inline PEM", "\(keyPath).pem")
            } else if let file = entry.file {
                field = "\(keyPath).file"
                files.append(file)
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw invalid(field, "cannot read the public key file \(file)")
                }
                (pem, origin) = (String(decoding: data, as: UTF8.self), "file \(file)")
            } else {
                let secret = entry.secretRef!
                field = "\(keyPath).secretRef"
                let name = secret.key ?? "cosign.pub"
                for part in [secret.namespace, secret.name, name] where part.isEmpty || part.contains("/") || part.hasPrefix(".") {
                    throw invalid(field, "\"\(part)\" is not a valid Secret namespace, name or key")
                }
                let location = [keySecretsDirectory, secret.namespace, secret.name, name].joined(separator: "/")
                files.append(location)
                guard let data = FileManager.default.contents(atPath: location) else {
                    if !requireSecretReferences {
                        unresolved += 1
                        continue
                    }
                    throw invalid(field, "cannot read key \(name) of Secret \(secret.namespace)/\(secret.name) (expected at \(location))")
                }
                (pem, origin) = (String(decoding: data, as: UTF8.self), "secret \(secret.namespace)/\(secret.name) key \(name)")
            }
            let key: PublicKey
            do {
                key = try PublicKey(pem: pem)
            } catch {
                throw invalid(field, "unusable public key: \(error)")
            }
            var scheme = SignatureScheme()
            if let name = entry.hashAlgorithm {
                guard let hash = DigestAlgorithm(rawValue: name) else {
                    throw invalid("\(keyPath).hashAlgorithm", "must be sha256, sha384 or sha512, not \"\(name)\"")
                }
                scheme.hash = hash
            }
            if let name = entry.rsaPadding {
                guard let padding = SignatureScheme.RSAPadding(rawValue: name) else {
                    throw invalid("\(keyPath).rsaPadding", "must be pkcs1v15 or pss, not \"\(name)\"")
                }
                guard case .rsa = key.algorithm else {
                    throw invalid("\(keyPath).rsaPadding", "applies to RSA keys only; this key is \(key.algorithm)")
                }
                scheme.rsaPadding = padding
            }
            // Keys are compared as keys, not as DER (PublicKey.canonicalForm): the same P-256 key
            // compressed and uncompressed, or one RSA key under rsaEncryption and RSASSA-PSS, is
            // one signer and must not count twice toward the threshold.
            if let earlier = keys.firstIndex(where: { $0.key == key }) {
                let encoding = keys[earlier].key.isReencoding(of: key)
                    ? " in another encoding (\(key.algorithm), fingerprint sha256:\(key.fingerprint.prefix(12)) vs sha256:\(keys[earlier].key.fingerprint.prefix(12)))"
                    : ""
                throw invalid(keyPath, "the same key as publicKeys[\(keyIndices[earlier])]\(encoding); a threshold counts distinct keys, so list each key once")
            }
            keys.append(TrustedPublicKey(key: key, scheme: scheme, source: "publicKeys[\(index)] (\(origin))"))
            keyIndices.append(index)
        }
        let threshold = body.threshold ?? 1
        guard threshold >= 1, threshold <= keys.count + unresolved else {
            throw invalid(
                "\(path).threshold",
                "threshold must be between 1 and the number of public keys (\(keys.count + unresolved)), found \(threshold)")
        }
        var compiled = CompiledKeyAuthority(keys: keys, threshold: threshold, requiredAnnotations: body.annotations ?? [:])
        compiled.trustMaterialFiles = files
        return compiled
    }
}
