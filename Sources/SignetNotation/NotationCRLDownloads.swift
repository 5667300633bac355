import Foundation
import SignetCrypto

/// Why a CRL could not be downloaded from a distribution point.
public struct CRLDownloadFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    /// Whether trying again later could succeed (a refused connection, a timeout, a 5xx); false
    /// for an answer that will not change by itself (not a CRL, too large).
    public var isTransient: Bool

    public init(_ description: String, isTransient: Bool) {
        self.description = description
        self.isTransient = isTransient
    }
}

/// CRLs downloaded from the distribution points that certificates name, for the revocation
/// check, as notation-go downloads them (Notary Project trust store and trust policy
/// specification, "Certificate Revocation Evaluation"; RFC 5280 section 4.2.1.13).
public struct CRLDownloads: Sendable {
    /// Whether signet downloads CRLs; when false only the CRLs the policy supplies count.
    public var enabled: Bool
    /// Per location (an `http` URL): the CRL as downloaded (not yet judged: its signature, scope
    /// and freshness are checked against each certificate), or why it could not be downloaded.
    public var results: [String: Result<CertificateRevocationList, CRLDownloadFailure>]

    public init(enabled: Bool, results: [String: Result<CertificateRevocationList, CRLDownloadFailure>] = [:]) {
        self.enabled = enabled
        self.results = results
    }

    /// No downloads: the supplied CRLs alone.
    public static let disabled = CRLDownloads(enabled: false)

    /// The location a distribution point is downloaded from: its first `http` URI. CRLs are
    /// signed, so plain HTTP is what CAs publish them over (RFC 5280 section 4.2.1.13), and
    /// notation-go fetches `http` locations only; `ldap` and `https` ones are not fetched.
    public static func location(of point: CRLDistributionPoint) -> String? {
        point.locations.first { $0.lowercased().hasPrefix("http://") }
    }
}

/// Something that downloads CRLs: ``NotationVerifier`` names the locations it needs, the caller
/// downloads them and verifies again with ``CRLDownloads``.
public protocol CRLDownloading: Sendable {
    /// The CRLs at `locations`, each or why not, by `deadline` at the latest.
    func download(_ locations: [String], deadline: ContinuousClock.Instant) async -> [String: Result<CertificateRevocationList, CRLDownloadFailure>]
    /// Forgets `list`, downloaded from `location`: the verifier found it unusable (not the
    /// issuer's, out of scope), so it may be an answer someone on the path put there.
    func discard(_ location: String, list: CertificateRevocationList)
    /// How long a downloaded CRL is used at most before it is downloaded again: a pass that
    /// relied on one holds no longer than that after its download.
    var maximumAge: Duration { get }
    /// When the CRL kept for `location` was downloaded (or last found current again), by the
    /// calendar clock; nil when none is kept.
    func downloadTime(of location: String) -> Date?
}
