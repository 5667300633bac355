import CSignetOpenSSL
import Foundation

/// An RFC 3161 TimeStampResp (RFC 3161 section 2.4.2) holding a time-stamp token: a TSA's signed
/// statement that a hash of some data existed at `generationTime`.
public struct TimeStampResponse: Sendable, Hashable {
    /// The DER encoding.
    public let derEncoded: [UInt8]
    /// The token's `genTime` (TSTInfo, RFC 3161 section 2.4.2), with its fraction of a second.
    public let generationTime: Date
    /// The token's `accuracy` (TSTInfo, RFC 3161 section 2.4.2) in seconds, nil when it states
    /// none or states one outside RFC 3161's ranges (``hasInvalidAccuracy``).
    public let accuracy: TimeInterval?
    /// Whether the token states an accuracy with a negative part, or milliseconds or
    /// microseconds outside 1 to 999: a verifier that relies on the accuracy must refuse it.
    public let hasInvalidAccuracy: Bool
    /// Whether the token's policy is the baseline time-stamp policy of RFC 3628 section 5.2, whose
    /// TSAs keep time within a second.
    public let isBaselinePolicy: Bool

    /// The time range the token puts the data in: `genTime` less and plus its accuracy (RFC 3161
    /// section 2.4.2), an accuracy of one second under the baseline policy when it states none,
    /// else none (the Notary Project trust-policy specification's `timeStampLowerLimit` and
    /// `timeStampUpperLimit`).
    public var timeRange: ClosedRange<Date> {
        let margin = accuracy ?? (isBaselinePolicy ? 1 : 0)
        return generationTime.addingTimeInterval(-margin)...generationTime.addingTimeInterval(margin)
    }

    /// Reads a DER TimeStampResp with a granted token.
    public init(derEncoded: [UInt8]) throws(TimeStampError) {
        var seconds: Int64 = 0
        var nanoseconds: Int32 = 0
        var microseconds: Int64 = -1
        var baseline: Int32 = 0
        let parsed = derEncoded.withUnsafeBufferPointer { buffer in
            signet_TS_RESP_time(buffer.baseAddress, buffer.count, &seconds, &nanoseconds, &microseconds, &baseline)
        }
        ERR_clear_error()
        guard parsed == 1 else { throw TimeStampError(.invalidEncoding) }
        self.derEncoded = derEncoded
        self.generationTime = Date(timeIntervalSince1970: TimeInterval(seconds) + TimeInterval(nanoseconds) / 1e9)
        self.accuracy = microseconds < 0 ? nil : TimeInterval(microseconds) / 1_000_000
        self.isBaselinePolicy = baseline != 0
        self.hasInvalidAccuracy = microseconds == -2
    }

    /// Verifies the token (RFC 3161 section 2.4.2 and 2.3): granted status, a message imprint that
    /// is the hash of `data`, and a signature by a time-stamping certificate (embedded in the token
    /// or among `certificates`) whose path ends at one of `trustAnchors`, validated at
    /// ``generationTime``, and that is `signer` when one is given (a trusted root's TSA names its
    /// signing certificate: another one its CA issued is not that authority). Returns nil when
    /// valid, otherwise the reason.
    public func verify(data: [UInt8], certificates: [Certificate], trustAnchors: [Certificate], signer: Certificate? = nil) -> TimeStampError? {
        var untrusted: [OpaquePointer?] = certificates.map(\.handle)
        var roots: [OpaquePointer?] = trustAnchors.map(\.handle)
        let time = Int64(generationTime.timeIntervalSince1970.rounded(.down))
        let verified = withExtendedLifetime((certificates, trustAnchors, signer)) {
            derEncoded.withUnsafeBufferPointer { der in
                data.withUnsafeBufferPointer { data in
                    signet_TS_RESP_verify(der.baseAddress, der.count, data.baseAddress, data.count,
                                          &untrusted, untrusted.count, &roots, roots.count, signer?.handle, time)
                }
            }
        }
        var buffer = [CChar](repeating: 0, count: 512)
        signet_ERR_drain(&buffer, buffer.count)
        guard verified == 1 else {
            let reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return TimeStampError(.verificationFailed(reason))
        }
        return nil
    }

    /// The certification path of the token's signer to one of `trustAnchors`, valid at
    /// ``generationTime``, leaf first, completed with the token's own certificates and
    /// `certificates`: for a caller that holds the TSA's certificates to rules of its own (the
    /// Notary Project's certificate requirements). Ask it once
    /// ``verify(data:certificates:trustAnchors:signer:)`` has passed.
    public func signerChain(certificates: [Certificate], trustAnchors: [Certificate]) -> Result<VerifiedCertificateChain, TimeStampError> {
        var extra: [OpaquePointer?] = certificates.map(\.handle)
        var embedded: OpaquePointer?
        let signer = withExtendedLifetime(certificates) {
            derEncoded.withUnsafeBufferPointer { der in
                signet_TS_RESP_signer(der.baseAddress, der.count, &extra, extra.count, &embedded)
            }
        }
        ERR_clear_error()
        var own: [Certificate] = []
        if let embedded {
            own = (0..<signet_X509_stack_count(embedded)).compactMap { signet_X509_stack_get1(embedded, $0).map(Certificate.init(taking:)) }
            signet_X509_stack_free(embedded)
        }
        guard let signer else { return .failure(TimeStampError(.verificationFailed("the token's signing certificate is not among its certificates"))) }
        // `certificates` first, then the token's own: the order TS_RESP_verify_signature(3) builds the path with.
        let verifier = CertificateChainVerifier(trustAnchors: trustAnchors, intermediates: certificates + own)
        return verifier.verify(Certificate(taking: signer), at: generationTime).mapError { TimeStampError(.verificationFailed("\($0)")) }
    }
}

/// Why a time-stamp response could not be read or verified. A struct over a private code so that
/// new reasons do not break callers.
public struct TimeStampError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case invalidEncoding
        case verificationFailed(String)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    public var description: String {
        switch code {
        case .invalidEncoding: "not a DER RFC 3161 TimeStampResp with a time-stamp token"
        case .verificationFailed(let reason): "RFC 3161 time-stamp token invalid: \(reason.isEmpty ? "verification failed" : reason)"
        }
    }
}
