import Foundation
import SignetCrypto

extension PolicyLoader {
    /// Reads and parses the public keys of a `key` authority and checks its threshold, so that a
    /// policy whose keys cannot be used is refused when it is loaded, naming the field.
    ///
    /// A key read from outside the policy text (a `file`, or a `secretRef` when
    /// ``requireSecretReferences`` is set) that is missing or unusable does not refuse the
    /// policy: the authority compiles with it in ``CompiledKeyAuthority/unresolvedKeys`` and
    /// fails every image it is asked about (fail closed). Refusing would keep the last good set,
    /// and with it the key that was removed, in force.
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
        // Keys that could not be read: named for the deny reason (enforcing) or only counted
        // toward the threshold (`requireSecretReferences` off: the Secret lives in a cluster).
        var unresolvedKeys: [String] = []
        var files: [String] = []
        var clusterReferences: [ClusterKeyReference] = []
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
                    guard requireSecretReferences else { throw invalid(field, "cannot read the public key file \(file)") }
                    unresolvedKeys.append("publicKeys[\(index)]: the public key file \(file) is missing or unreadable")
                    continue
                }
                (pem, origin) = (String(decoding: data, as: UTF8.self), "file \(file)")
            } else {
                let secret = entry.secretRef!
                field = "\(keyPath).secretRef"
                let reference = try clusterKeyReference(
                    .secret, namespace: secret.namespace, name: secret.name, key: secret.key, defaultKey: "cosign.pub", field: field, invalid: invalid)
                clusterReferences.append(reference)
                let bytes: [UInt8]
                switch readClusterKey(reference, files: &files) {
                case .found(let found):
                    bytes = found
                case .missing(let why):
                    unresolvedKeys.append("publicKeys[\(index)]: \(reference) is missing (\(why))")
                    continue
                }
                (pem, origin) = (String(decoding: bytes, as: UTF8.self), "secret \(secret.namespace)/\(secret.name) key \(reference.key)")
            }
            let key: PublicKey
            do {
                key = try PublicKey(pem: pem)
            } catch {
                // A key file or Secret replaced by something unusable is a removed key.
                guard entry.pem == nil, requireSecretReferences else { throw invalid(field, "unusable public key: \(error)") }
                unresolvedKeys.append("publicKeys[\(index)]: \(origin) holds no usable public key: \(error)")
                continue
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
        guard threshold >= 1, threshold <= body.publicKeys.count else {
            throw invalid(
                "\(path).threshold",
                "threshold must be between 1 and the number of public keys (\(body.publicKeys.count)), found \(threshold)")
        }
        if !unresolvedKeys.isEmpty, requireSecretReferences {
            logger.warning("a key authority names keys that cannot be read; it fails every image until they are back", metadata: [
                "source": "\(source)", "authority": "\(path)", "unresolved": "\(unresolvedKeys.joined(separator: "; "))",
            ])
        }
        var compiled = CompiledKeyAuthority(keys: keys, threshold: threshold, requiredAnnotations: body.annotations ?? [:])
        compiled.trustMaterialFiles = files
        compiled.unresolvedKeys = unresolvedKeys
        compiled.clusterReferences = clusterReferences
        compiled.transparencyLog = try compileTransparencyLog(body, path: path, source: source, invalid: invalid)
        return compiled
    }

    /// Reads `transparencyLog` (`require` | `ignore`, default `ignore`) and, under `require`, the
    /// trust root whose transparency logs must vouch for each signature. A trust root file that
    /// is missing or unusable fails the authority closed, as for `keyless` authorities.
    private func compileTransparencyLog(
        _ body: ClusterImagePolicy.KeyAuthority, path: String, source: PolicySourceLocation, invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) -> KeyTransparencyLog {
        let requirement: KeyTransparencyLog.Requirement
        switch body.transparencyLog {
        case nil: requirement = .ignore
        case let text?:
            guard let parsed = KeyTransparencyLog.Requirement(rawValue: text) else {
                throw invalid("\(path).transparencyLog", "must be require or ignore, not \"\(text)\"")
            }
            requirement = parsed
        }
        guard requirement == .require else {
            if body.trustRoot != nil {
                throw invalid("\(path).trustRoot", "a trust root is read only with transparencyLog: require (it names the logs that must vouch)")
            }
            return .ignore
        }
        let files = trustRootFiles(body.trustRoot)
        let references = trustRootReferences(body.trustRoot)
        do throws(PolicyLoadError) {
            let resolved = try readTrustRoot(body.trustRoot, path: "\(path).trustRoot", use: .transparencyLogs, invalid: invalid)
            var log = KeyTransparencyLog(
                requirement: .require, trustedRoot: resolved.root, trustRootSource: resolved.origin, trustRootDigest: resolved.digest)
            log.trustMaterialFiles = files
            log.clusterReferences = references
            log.freshness = resolved.freshness
            log.tufRepository = resolved.repository
            return log
        } catch {
            guard requireSecretReferences, !files.isEmpty || !references.isEmpty, body.trustRoot?.inline == nil else { throw error }
            logger.warning("a key authority's trust root cannot be read; it fails every image until it is back", metadata: [
                "source": "\(source)", "authority": "\(path)", "error": "\(error.message)",
            ])
            var log = KeyTransparencyLog(
                requirement: .require, trustedRoot: .empty, trustRootSource: "unresolved", trustRootDigest: "unresolved: " + error.message)
            log.trustMaterialFiles = files
            log.clusterReferences = references
            log.unresolvedTrustRoot = "\(error.fieldPath ?? path): \(error.message)"
            return log
        }
    }
}
