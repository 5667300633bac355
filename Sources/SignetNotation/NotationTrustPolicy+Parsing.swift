import Foundation

extension NotationTrustPolicy {
    /// Reads and validates a `trustpolicy.json` document. Errors name the statement and the
    /// value, in the words `notation` uses for the same mistakes.
    public init(json bytes: [UInt8]) throws(NotationTrustPolicyError) {
        guard let root = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            throw NotationTrustPolicyError("the trust policy is not a JSON object")
        }
        guard let version = root["version"] as? String else { throw NotationTrustPolicyError("the trust policy has no version") }
        guard version == "1.0" else { throw NotationTrustPolicyError("trust policy version \"\(version)\" is not supported (1.0)") }
        guard let entries = root["trustPolicies"] as? [Any], !entries.isEmpty else {
            throw NotationTrustPolicyError("trust policy document has no trust policy statements")
        }
        var statements: [Statement] = []
        var names: Set<String> = []
        var scopes: [String: String] = [:]
        for entry in entries {
            guard let object = entry as? [String: Any] else { throw NotationTrustPolicyError("a trust policy statement is not a JSON object") }
            let statement = try Self.statement(object)
            guard names.insert(statement.name).inserted else {
                throw NotationTrustPolicyError("multiple trust policy statements use the same name \"\(statement.name)\", statement names must be unique")
            }
            for scope in statement.registryScopes {
                if let other = scopes[scope] {
                    throw NotationTrustPolicyError(scope == "*"
                        ? "multiple trust policy statements (\"\(other)\", \"\(statement.name)\") use wildcard registry scope '*', a wildcard scope can be used in only one statement"
                        : "registry scope \"\(scope)\" is present in multiple oci trust policy statements, one registry scope value can only be associated with one statement")
                }
                scopes[scope] = statement.name
            }
            statements.append(statement)
        }
        self.version = version
        self.statements = statements
    }

    private static func statement(_ object: [String: Any]) throws(NotationTrustPolicyError) -> Statement {
        guard let name = object["name"] as? String, !name.isEmpty else {
            throw NotationTrustPolicyError("a trust policy statement is missing a name, every statement requires a name")
        }
        func fail(_ message: String) -> NotationTrustPolicyError { NotationTrustPolicyError("trust policy statement \"\(name)\" \(message)") }
        let scopes = (object["registryScopes"] as? [Any] ?? []).compactMap { $0 as? String }
        guard !scopes.isEmpty else { throw fail("has zero registry scopes, it must specify registry scopes with at least one value") }
        if scopes.contains("*") {
            guard scopes.count == 1 else { throw fail("uses wildcard registry scope '*', a wildcard scope cannot be used in conjunction with other scope values") }
        } else {
            for scope in scopes where !isRepositoryScope(scope) {
                throw NotationTrustPolicyError(
                    "registry scope \"\(scope)\" is not valid, make sure it is a fully qualified repository without the scheme, protocol or tag. For example domain.com/my/repository")
            }
            for scope in scopes {
                if let canonical = canonicalScope(scope), canonical != scope {
                    throw NotationTrustPolicyError(
                        "registry scope \"\(scope)\" would never match: signet compares scopes with normalised image names, write it as \"\(canonical)\"")
                }
            }
        }
        guard let verification = object["signatureVerification"] as? [String: Any], let levelName = verification["level"] as? String else {
            throw fail("is missing signatureVerification.level")
        }
        guard let level = VerificationLevel(rawValue: levelName) else {
            throw fail("uses invalid signatureVerification level \"\(levelName)\" (strict, permissive, audit, skip)")
        }
        var actions = level.defaultActions
        if let override = verification["override"] {
            guard level != .skip else { throw fail("uses the skip level, which cannot be customized with override") }
            guard let map = override as? [String: Any] else { throw fail("has an override that is not an object") }
            for (key, value) in map {
                guard let check = Check(rawValue: key) else { throw fail("uses unsupported validation type \"\(key)\" in override") }
                guard check != .integrity else { throw fail("attempted to override integrity validation which is not supported") }
                guard let text = value as? String, let action = Action(rawValue: text) else {
                    throw fail("uses unsupported validation action \"\(value)\" for \(key)")
                }
                guard action != .skip || check == .revocation else { throw fail("cannot set \(key) to skip; only revocation can be skipped") }
                actions[check] = action
            }
        }
        var verifyTimestamp = VerifyTimestamp.always
        if let value = verification["verifyTimestamp"] {
            guard let text = value as? String, let parsed = VerifyTimestamp(rawValue: text) else {
                throw fail("has unsupported verifyTimestamp value \"\(value)\" (always, afterCertExpiry)")
            }
            verifyTimestamp = parsed
        }
        let storeValues = (object["trustStores"] as? [Any] ?? []).compactMap { $0 as? String }
        let identityValues = (object["trustedIdentities"] as? [Any] ?? []).compactMap { $0 as? String }
        if level == .skip {
            guard storeValues.isEmpty, identityValues.isEmpty else {
                throw fail("is set to skip signature verification but configured with trust stores and/or trusted identities, remove them as they are not needed")
            }
            return Statement(name: name, registryScopes: scopes, level: level, actions: actions, verifyTimestamp: verifyTimestamp, trustStores: [], trustedIdentities: [])
        }
        guard !storeValues.isEmpty, !identityValues.isEmpty else {
            throw fail("is either missing trust stores or trusted identities, both must be specified")
        }
        var stores: [TrustStoreName] = []
        for value in storeValues {
            let parts = value.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw fail("has malformed trust store value \"\(value)\". The required format is <TrustStoreType>:<TrustStoreName>") }
            guard let type = TrustStoreName.StoreType(rawValue: String(parts[0])) else {
                throw fail("uses an unsupported trust store type \"\(parts[0])\" in trust store value \"\(value)\"")
            }
            let storeName = String(parts[1])
            guard isStoreName(storeName) else {
                throw fail("uses an unsupported trust store name \"\(storeName)\" in trust store value \"\(value)\". Named store name needs to follow [a-zA-Z0-9_.-]+ format")
            }
            let store = TrustStoreName(type: type, name: storeName)
            guard !stores.contains(store) else { throw fail("has duplicate trust store value \"\(value)\"") }
            stores.append(store)
        }
        var identities: [NotationTrustPolicy.TrustedIdentity] = []
        if identityValues.contains("*") {
            guard identityValues.count == 1 else {
                throw fail("uses a wildcard trusted identity '*', a wildcard identity cannot be used in conjunction with other values")
            }
            identities = [.any]
        } else {
            var names: [DistinguishedName] = []
            var arns: [AWSSigner.Identity] = []
            for value in identityValues {
                guard !value.trimmingCharacters(in: .whitespaces).isEmpty else { throw fail("has an empty trusted identity") }
                guard let separator = value.firstIndex(of: ":") else { throw fail("has trusted identity \"\(value)\" missing separator") }
                let prefix = value[..<separator]
                if prefix == "arn" {
                    guard let arn = AWSSigner.Identity(value) else {
                        throw fail("has trusted identity \"\(value)\", which is not an AWS Signer signing profile, signing profile version, aliased signing profile or alias ARN")
                    }
                    guard !arns.contains(where: { AWSSigner.Identity.sameARN($0.arn, arn.arn) }) else { throw fail("has duplicate trusted identity \"\(value)\"") }
                    arns.append(arn)
                    continue
                }
                guard prefix == "x509.subject" else {
                    throw fail("uses an unsupported trusted identity type \"\(prefix)\" (x509.subject, or arn: for AWS Signer signing profiles)")
                }
                let text = String(value[value.index(after: separator)...])
                let dn: DistinguishedName
                do {
                    dn = try DistinguishedName(parsing: text)
                } catch {
                    throw fail("has trusted identity \"\(value)\" with an invalid distinguished name: \(error)")
                }
                for required in ["C", "ST", "O"] where !dn.has(required) {
                    throw NotationTrustPolicyError(
                        "distinguished name (DN) \"\(text)\" has no mandatory RDN attribute for \"\(required)\", it must contain 'C', 'ST' or 'S', and 'O' RDN attributes at a minimum")
                }
                names.append(dn)
            }
            for (index, name) in names.enumerated() {
                for other in names[(index + 1)...] where name.isSubset(of: other) || other.isSubset(of: name) {
                    throw fail("has overlapping x509 trustedIdentities, \"\(name)\" overlaps with \"\(other)\"")
                }
            }
            identities = names.map { .x509Subject($0) } + arns.map { .awsSigner($0) }
        }
        return Statement(
            name: name, registryScopes: scopes, level: level, actions: actions, verifyTimestamp: verifyTimestamp,
            trustStores: stores, trustedIdentities: identities)
    }

    /// A fully qualified repository: `registry/path`, lower-case path components, no `*`,
    /// scheme, tag or digest.
    static func isRepositoryScope(_ scope: String) -> Bool {
        guard let slash = scope.firstIndex(of: "/"), !scope.contains("*"), !scope.contains("://"), !scope.contains("@") else { return false }
        let registry = scope[..<slash]
        let path = scope[scope.index(after: slash)...]
        guard !registry.isEmpty, !path.isEmpty,
              registry.allSatisfy({ $0.isLetter || $0.isNumber || ".-:_[]".contains($0) }) else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { component in
            !component.isEmpty && component.allSatisfy { ($0.isLowercase && $0.isASCII) || $0.isNumber || "._-".contains($0) }
        }
    }

    /// The spelling of a repository scope that normalised image names use (the registry in
    /// lower case, without the default `:443`, Docker Hub as `docker.io` with `library/` for
    /// official images), so that a scope written another way is refused instead of silently
    /// never matching and leaving its images to the `*` statement.
    static func canonicalScope(_ scope: String) -> String? {
        guard let slash = scope.firstIndex(of: "/") else { return nil }
        var registry = scope[..<slash].lowercased()
        var path = String(scope[scope.index(after: slash)...])
        if registry.hasSuffix(":443") { registry.removeLast(4) }
        if ["index.docker.io", "registry-1.docker.io"].contains(registry) { registry = "docker.io" }
        if registry == "docker.io", !path.contains("/") { path = "library/" + path }
        return registry + "/" + path
    }

    static func isStoreName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
    }
}
