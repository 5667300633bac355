import Foundation

/// A Notary Project trust policy document (`trustpolicy.json`, version `1.0`), read and
/// validated as the Notary Project trust store and trust policy specification ("Trust Policy",
/// "Registry Scopes Constraints", "Trusted Identities Constraints", "Custom Verification Level")
/// defines it, so a document an operator already uses with `notation verify` means the same here.
public struct NotationTrustPolicy: Sendable, Hashable {
    public let version: String
    public let statements: [Statement]

    /// One entry of `trustPolicies`.
    public struct Statement: Sendable, Hashable {
        public let name: String
        /// Fully qualified repositories, or the single global scope `*`.
        public let registryScopes: [String]
        public let level: VerificationLevel
        /// The action of each check after `override` is applied.
        public let actions: [Check: Action]
        public let verifyTimestamp: VerifyTimestamp
        public let trustStores: [TrustStoreName]
        /// Empty for `skip`; `[.any]` for `*`.
        public let trustedIdentities: [TrustedIdentity]

        public var isGlobal: Bool { registryScopes == ["*"] }

        public func action(for check: Check) -> Action { actions[check] ?? .enforce }
    }

    /// `signatureVerification.level`.
    public enum VerificationLevel: String, Sendable, Hashable, CaseIterable {
        case strict, permissive, audit, skip

        /// The action each check gets at this level (specification table "Signature
        /// Verification Level").
        public var defaultActions: [Check: Action] {
            switch self {
            case .strict: [.integrity: .enforce, .authenticity: .enforce, .authenticTimestamp: .enforce, .expiry: .enforce, .revocation: .enforce]
            case .permissive: [.integrity: .enforce, .authenticity: .enforce, .authenticTimestamp: .log, .expiry: .log, .revocation: .log]
            case .audit: [.integrity: .enforce, .authenticity: .log, .authenticTimestamp: .log, .expiry: .log, .revocation: .log]
            case .skip: [.integrity: .skip, .authenticity: .skip, .authenticTimestamp: .skip, .expiry: .skip, .revocation: .skip]
            }
        }
    }

    /// The validations of a signature, in the specification's words.
    public enum Check: String, Sendable, Hashable, CaseIterable, Comparable {
        case integrity, authenticity, authenticTimestamp, expiry, revocation

        public static func < (lhs: Check, rhs: Check) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// What a failed check does: `enforce` fails the signature, `log` records the failure and
    /// goes on, `skip` does not run the check.
    public enum Action: String, Sendable, Hashable {
        case enforce, log, skip
    }

    /// `signatureVerification.verifyTimestamp`.
    public enum VerifyTimestamp: String, Sendable, Hashable {
        /// The timestamp countersignature is verified whenever present.
        case always
        /// Only once the signing certificate chain has expired.
        case afterCertExpiry
    }

    /// A `trustStores` entry, `{type}:{name}`.
    public struct TrustStoreName: Sendable, Hashable, CustomStringConvertible {
        public enum StoreType: String, Sendable, Hashable, CaseIterable {
            case ca, signingAuthority, tsa
        }
        public let type: StoreType
        public let name: String
        public var description: String { "\(type.rawValue):\(name)" }

        public init(type: StoreType, name: String) {
            self.type = type
            self.name = name
        }
    }

    /// A `trustedIdentities` entry: any identity (`*`) or an `x509.subject:` distinguished name
    /// whose attributes the signing certificate's subject must all carry.
    public enum TrustedIdentity: Sendable, Hashable, CustomStringConvertible {
        case any
        case x509Subject(DistinguishedName)
        /// An AWS Signer signing profile, version, aliased profile or alias ARN
        /// (``AWSSigner/Identity``): matched against AWS Signer signatures only.
        case awsSigner(AWSSigner.Identity)

        public var description: String {
            switch self {
            case .any: "*"
            case .x509Subject(let name): "x509.subject: \(name)"
            case .awsSigner(let identity): identity.arn
            }
        }
    }

    /// The statement that applies to `repository` (`registry/namespace/name`): the one whose
    /// scopes list it, else the global one, else none (specification, "Selecting a trust policy
    /// based on artifact URI").
    public func statement(for repository: String) -> Statement? {
        statements.first { $0.registryScopes.contains(repository) } ?? statements.first(where: \.isGlobal)
    }
}

/// Why a trust policy document cannot be used.
public struct NotationTrustPolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension NotationTrustPolicy {
    /// A document with no statements: every artifact is outside it and fails.
    public static let empty = NotationTrustPolicy(version: "1.0", statements: [])
}
