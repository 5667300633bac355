/// A string condition of an identity policy: equality, or a regular expression that must match
/// the whole value (cosign `--certificate-identity-regexp` semantics with implicit anchors, so a
/// pattern never passes by matching a prefix or a substring).
public enum StringMatcher: Sendable, Hashable, CustomStringConvertible {
    case exact(String)
    case regularExpression(String)

    /// Whether `value` satisfies the condition, on its Unicode scalars as written, as
    /// sigstore-go and cosign compare (bytes, and RE2 on code points). Swift's `==` and its
    /// regular expressions' default would compare characters by canonical equivalence, which
    /// takes `refs/heads/\u{212A}8s` (a Kelvin sign) for `refs/heads/K8s`, a git ref another
    /// branch could be named. An invalid regular expression matches nothing.
    public func matches(_ value: String) -> Bool {
        switch self {
        case .exact(let expected):
            return value.utf8.elementsEqual(expected.utf8)
        case .regularExpression(let pattern):
            guard let regex = try? Regex(pattern) else { return false }
            return (try? regex.matchingSemantics(.unicodeScalar).wholeMatch(in: value)) != nil
        }
    }

    /// Throws when a regular expression does not compile, so policies fail when loaded.
    public func validate() throws(SigstoreVerificationFailure) {
        if case .regularExpression(let pattern) = self {
            do {
                _ = try Regex(pattern)
            } catch {
                throw SigstoreVerificationFailure(.identity("invalid regular expression \(pattern): \(error)"))
            }
        }
    }

    public var description: String {
        switch self {
        case .exact(let value): "\"\(value)\""
        case .regularExpression(let pattern): "/\(pattern)/"
        }
    }
}

/// An identity a Fulcio certificate must attest (sigstore-go `verify.CertificateIdentity`):
/// the OIDC issuer and the subject alternative name, exactly or by regular expression, and
/// optionally values of other Fulcio extensions (for example the GitHub workflow repository
/// and ref, `sourceRepositoryURI` and `sourceRepositoryRef`).
public struct CertificateIdentity: Sendable, Hashable, CustomStringConvertible {
    public var issuer: StringMatcher
    public var subjectAlternativeName: StringMatcher
    /// Further Fulcio extensions and the condition each must meet.
    public var extensions: [FulcioExtension: StringMatcher]

    public init(issuer: StringMatcher, subjectAlternativeName: StringMatcher, extensions: [FulcioExtension: StringMatcher] = [:]) {
        self.issuer = issuer
        self.subjectAlternativeName = subjectAlternativeName
        self.extensions = extensions
    }

    /// Nil when `identity` satisfies every condition, otherwise why not.
    public func mismatch(_ identity: FulcioCertificateIdentity) -> String? {
        guard let san = identity.subjectAlternativeName else { return "certificate has no email, URI or username SAN" }
        guard subjectAlternativeName.matches(san) else { return "SAN \(san) does not match \(subjectAlternativeName)" }
        guard let issuerValue = identity.issuer else { return "certificate has no OIDC issuer extension" }
        guard issuer.matches(issuerValue) else { return "issuer \(issuerValue) does not match \(issuer)" }
        for (fulcioExtension, matcher) in extensions.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            guard let value = identity.extensions[fulcioExtension] else { return "certificate has no \(fulcioExtension) extension" }
            guard matcher.matches(value) else { return "\(fulcioExtension) \(value) does not match \(matcher)" }
        }
        return nil
    }

    public var description: String {
        "SAN \(subjectAlternativeName), issuer \(issuer)" + extensions.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { ", \($0.key) \($0.value)" }.joined()
    }
}
