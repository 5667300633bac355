import Foundation

/// The verification AWS Signer's Notation plugin (`com.amazonaws.signer.notation.plugin`)
/// performs, done by signet itself, as the Notary Project plugin specification allows ("If the
/// plugin publisher wants their plugin used publicly they SHOULD publish specifications for the
/// verification logic the plugin performs ... This allows ... implementations to perform the same
/// logic themselves"): AWS Signer's envelopes name that plugin in the critical
/// `io.cncf.notary.verificationPlugin` attribute, and `notation verify` without the plugin refuses
/// them.
///
/// What the plugin adds to the Notary Project's own checks, in its contract's two capabilities:
/// - **trusted identity** (`SIGNATURE_VERIFIER.TRUSTED_IDENTITY`): every AWS Signer signing
///   certificate has the same generic subject (`CN=AWS Signer, OU=AWS Cryptography, O=AWS, ...`),
///   so an `x509.subject` identity (or `*`) would take in every AWS account's signatures. The
///   signer is the signed critical attribute `com.amazonaws.signer.signingProfileVersion`, which
///   the statement's `trustedIdentities` must name by signing profile ARN (any version of it), by
///   signing profile version ARN, by aliased signing profile ARN, or by alias ARN
///   (`com.amazonaws.signer.signingProfileAlias`); matched without regard to case. A wildcard
///   identity is refused, as the plugin refuses it.
/// - **revocation** (`SIGNATURE_VERIFIER.REVOCATION_CHECK`): whether the signing profile, the
///   signing job (`com.amazonaws.signer.signingJob`) or a certificate was revoked is known only to
///   AWS Signer's `GetRevocationStatus` API, which signet does not call: revocation is then
///   unavailable, which fails a statement that enforces it. Set `revocation` to `log` (or `skip`)
///   in the statement's `override` to accept AWS Signer signatures without it.
///
/// The envelope must use the signing scheme `notary.x509.signingAuthority` with an
/// `authenticSigningTime`, and carry the signing profile version and job attributes; a
/// `io.cncf.notary.verificationPluginMinVersion` above 1.x (a plugin whose checks signet does not
/// know) is refused.
public enum AWSSigner {
    /// The plugin's name in `io.cncf.notary.verificationPlugin`.
    public static let pluginName = "com.amazonaws.signer.notation.plugin"
    static let signingProfileVersionAttribute = "com.amazonaws.signer.signingProfileVersion"
    static let signingJobAttribute = "com.amazonaws.signer.signingJob"
    static let signingProfileAliasAttribute = "com.amazonaws.signer.signingProfileAlias"
    /// The plugin's critical extended attributes (those it reports as processed).
    static let extendedAttributes: Set<String> = [signingProfileVersionAttribute, signingJobAttribute, signingProfileAliasAttribute]
    /// The major version of the plugin whose checks signet performs.
    static let implementedMajorVersion = 1

    /// Why an AWS Signer envelope's attributes are not what the plugin verifies; nil when they are.
    static func problem(scheme: NotationSigningScheme, attributes: [String: String], minimumVersion: String?) -> String? {
        guard scheme == .signingAuthority else {
            return "an AWS Signer signature must use the signing scheme notary.x509.signingAuthority, not \(scheme.rawValue)"
        }
        for required in [signingProfileVersionAttribute, signingJobAttribute] where attributes[required]?.isEmpty != false {
            return "an AWS Signer signature must carry the critical attribute \(required)"
        }
        if let minimumVersion {
            guard let major = semanticVersionMajor(minimumVersion) else {
                return "io.cncf.notary.verificationPluginMinVersion \"\(minimumVersion)\" is not a semantic version"
            }
            guard major <= implementedMajorVersion else {
                return "the signature requires version \(minimumVersion) of the AWS Signer plugin; signet performs the checks of version \(implementedMajorVersion).x"
            }
        }
        return nil
    }

    /// The major version of a SemVer text (`1.0.2293`, `v1.2.3-rc.1`), or nil.
    static func semanticVersionMajor(_ text: String) -> Int? {
        let version = text.hasPrefix("v") ? text.dropFirst() : Substring(text)
        let core = version.prefix { $0 != "-" && $0 != "+" }.split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3, core.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        return Int(core[0])
    }

    /// An AWS Signer ARN a trust policy names as a trusted identity (the ARN format,
    /// `arn:partition:signer:region:account-id:resource`).
    public struct Identity: Sendable, Hashable, CustomStringConvertible {
        public enum Kind: Sendable, Hashable {
            /// `/signing-profiles/NAME`: any version of the profile.
            case signingProfile
            /// `/signing-profiles/NAME/VERSION`.
            case signingProfileVersion
            /// `/aliased-signing-profiles/...`: the signing profile version attribute as written.
            case aliasedSigningProfile
            /// `/aliases/...`: the signing profile alias attribute.
            case alias
        }

        public let arn: String
        public let kind: Kind

        public var description: String { arn }

        /// Reads `text`; nil when it is not an AWS Signer signing profile, version, aliased
        /// profile or alias ARN.
        public init?(_ text: String) {
            let parts = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
            guard parts.count == 6, parts[0] == "arn", !parts[1].isEmpty, parts[2] == "signer" else { return nil }
            let resource = parts[5]
            let segments = resource.split(separator: "/", omittingEmptySubsequences: false)
            guard segments.count >= 3, segments[0].isEmpty, !segments.dropFirst().contains(where: \.isEmpty) else { return nil }
            switch segments[1] {
            case "signing-profiles" where segments.count == 3: kind = .signingProfile
            case "signing-profiles" where segments.count == 4: kind = .signingProfileVersion
            case "aliased-signing-profiles": kind = .aliasedSigningProfile
            case "aliases": kind = .alias
            default: return nil
            }
            arn = text
        }

        /// Whether a signature whose signing profile version is `profileVersion` (and whose
        /// profile alias is `alias`, if any) is this identity's.
        func matches(profileVersion: String, alias: String?) -> Bool {
            switch kind {
            case .signingProfile:
                guard let slash = profileVersion.lastIndex(of: "/") else { return false }
                return Self.sameARN(String(profileVersion[..<slash]), arn)
            case .signingProfileVersion, .aliasedSigningProfile:
                return Self.sameARN(profileVersion, arn)
            case .alias:
                return alias.map { Self.sameARN($0, arn) } ?? false
            }
        }

        /// ARNs compared as AWS Signer's plugin compares them: without regard to (ASCII) case.
        static func sameARN(_ a: String, _ b: String) -> Bool {
            a.utf8.count == b.utf8.count && a.lowercased() == b.lowercased()
        }
    }

    /// Why the signature's signer is not one of `identities` (nil when it is): the trusted
    /// identity check of the plugin.
    static func trustedIdentityProblem(
        attributes: [String: String], identities: [NotationTrustPolicy.TrustedIdentity], statement: String
    ) -> String? {
        if identities.contains(.any) {
            return "trust policy statement \"\(statement)\" trusts any identity (\"*\"), which AWS Signer signatures cannot be verified against: every AWS account's signing certificate has the same subject; name the signing profile ARNs to trust"
        }
        let profileVersion = attributes[signingProfileVersionAttribute] ?? ""
        let alias = attributes[signingProfileAliasAttribute]
        let trusted = identities.compactMap { identity -> Identity? in
            if case .awsSigner(let arn) = identity { return arn }
            return nil
        }
        if trusted.contains(where: { $0.matches(profileVersion: profileVersion, alias: alias) }) { return nil }
        let named = trusted.isEmpty ? "no AWS Signer signing profile ARN" : "the AWS Signer identities \(trusted.map(\.arn))"
        return "the signature was made with AWS Signer signing profile version \(profileVersion)\(alias.map { " (alias \($0))" } ?? ""), and trust policy statement \"\(statement)\" trusts \(named)"
    }

    /// The revocation step's problem: AWS Signer's revocation status cannot be told here.
    static let revocationUnavailable = "revocation status unavailable: whether the AWS Signer signing profile, signing job or certificate was revoked is known only to AWS Signer's GetRevocationStatus API, which signet does not call; set revocation to \"log\" or \"skip\" in the trust policy statement's override to accept AWS Signer signatures without it"
}
