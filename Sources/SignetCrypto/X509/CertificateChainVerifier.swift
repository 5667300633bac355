import CSignetOpenSSL
import Foundation

/// Certification path validation (RFC 5280 section 6) at a chosen time, over OpenSSL's
/// `X509_verify_cert` with `X509_VERIFY_PARAM_set_time`, at OpenSSL's security level 1: a
/// certificate on the path signed with SHA-1 or MD5 (or with an RSA key under 1024 bits) fails
/// it, as Go's `crypto/x509` refuses them for sigstore-go and notation-go (the trust anchor's
/// self-signature is not judged).
///
/// The verifier holds the trust (anchors and the intermediates that may complete a path); each
/// call names the leaf and the time. Key purposes are not checked here: callers add the policy
/// that fits (a code-signing leaf for Fulcio, a time-stamping leaf for a TSA).
public struct CertificateChainVerifier: Sendable {
    /// Self-signed roots a path must end at.
    public var trustAnchors: [Certificate]
    /// Certificates that may complete a path but are not trusted by themselves.
    public var intermediates: [Certificate]

    public init(trustAnchors: [Certificate], intermediates: [Certificate] = []) {
        self.trustAnchors = trustAnchors
        self.intermediates = intermediates
    }

    /// Validates a path from `leaf` to one of ``trustAnchors`` as if the clock read `time`:
    /// every certificate on the path must be valid at `time`.
    public func verify(_ leaf: Certificate, at time: Date) -> Result<VerifiedCertificateChain, CertificateChainError> {
        var intermediateHandles: [OpaquePointer?] = intermediates.map(\.handle)
        var rootHandles: [OpaquePointer?] = trustAnchors.map(\.handle)
        var error: Int32 = 0
        var depth: Int32 = 0
        var chain: OpaquePointer?
        let verified = withExtendedLifetime((intermediates, trustAnchors)) {
            signet_X509_verify_at(
                leaf.handle, &intermediateHandles, intermediateHandles.count, &rootHandles, rootHandles.count,
                Int64(time.timeIntervalSince1970.rounded(.down)), &error, &depth, &chain)
        }
        ERR_clear_error()
        guard verified == 1, let chain else {
            let reason = String(cString: X509_verify_cert_error_string(Int(error)))
            return .failure(CertificateChainError(.pathValidation(code: Int(error), depth: Int(depth), reason: reason, time: time)))
        }
        defer { signet_X509_stack_free(chain) }
        let count = signet_X509_stack_count(chain)
        let certificates = (0..<count).compactMap { index in
            signet_X509_stack_get1(chain, index).map(Certificate.init(taking:))
        }
        return .success(VerifiedCertificateChain(certificates: certificates, verificationTime: time))
    }
}

/// A certification path that ``CertificateChainVerifier`` validated (RFC 5280 section 6.1):
/// leaf first, trust anchor last. Only the verifier makes one, so holding one is the proof.
public struct VerifiedCertificateChain: Sendable, Hashable {
    /// The path, leaf first, trust anchor last.
    public let certificates: [Certificate]
    /// The time at which every certificate on the path was valid.
    public let verificationTime: Date

    init(certificates: [Certificate], verificationTime: Date) {
        self.certificates = certificates
        self.verificationTime = verificationTime
    }

    /// The end-entity certificate.
    public var leaf: Certificate { certificates[0] }
    /// The certificate that issued the leaf (the trust anchor for a two-element path).
    public var issuer: Certificate { certificates.count > 1 ? certificates[1] : certificates[0] }
    /// The trust anchor.
    public var root: Certificate { certificates[certificates.count - 1] }
}

/// Why a certification path could not be validated. A struct over a private code so that new
/// reasons do not break callers.
public struct CertificateChainError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case pathValidation(code: Int, depth: Int, reason: String, time: Date)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    public var description: String {
        switch code {
        case .pathValidation(_, let depth, let reason, let time):
            "certificate path invalid at \(time.formatted(.iso8601)): \(reason) (depth \(depth))"
        }
    }
}
