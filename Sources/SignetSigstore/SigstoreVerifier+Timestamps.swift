import Foundation
import SignetCrypto

extension SigstoreVerifier {
    /// Step 2: every RFC 3161 token verifies against a trusted TSA valid at its genTime, over the
    /// signature bytes; Rekor v2 logs, and the logs of Rekor v1 entries proven by inclusion
    /// alone, are valid at the verified times; and enough verified times exist in all (Sigstore
    /// client specification, "Establishing a time for the signature").
    func verifyTimestamps(_ run: inout Run) throws(SigstoreVerificationFailure) -> SigstoreVerificationStep.Outcome {
        let signature = try run.attestedSignature()
        var authorityTimes: [Date] = []
        let now = configuration.clock()
        for (index, der) in run.bundle.rfc3161Timestamps.enumerated() {
            let response: TimeStampResponse
            do {
                response = try TimeStampResponse(derEncoded: der)
            } catch {
                throw SigstoreVerificationFailure(.timestamp("timestamp \(index): \(error)"))
            }
            let time = response.generationTime
            var reasons: [String] = []
            var trusted: CertificateAuthority?
            for authority in trustedRoot.timestampAuthorities {
                guard authority.validity.contains(time) else {
                    reasons.append("\(authority.uri) is trusted only \(authority.validity)")
                    continue
                }
                if let error = response.verify(
                    data: signature, certificates: Array(authority.certificates.dropLast()),
                    trustAnchors: [authority.certificates[authority.certificates.count - 1]], signer: Self.signingCertificate(of: authority)) {
                    reasons.append("\(authority.uri): \(error)")
                    continue
                }
                trusted = authority
                break
            }
            guard let authority = trusted else {
                let why = reasons.isEmpty ? "the trusted root names no timestamp authority" : reasons.joined(separator: "; ")
                throw SigstoreVerificationFailure(.timestamp("timestamp \(index) at \(time.formatted(.iso8601)) is not from a trusted TSA: \(why)"))
            }
            // A trusted authority's clock gone wrong, or its key misused, must not date a
            // signature after now (as a log's integrated time may not be).
            guard time <= now.addingTimeInterval(configuration.allowedClockSkew) else {
                throw SigstoreVerificationFailure(.timestamp("timestamp \(index) at \(time.formatted(.iso8601)) from \(authority.uri) is in the future"))
            }
            authorityTimes.append(time)
            run.timestamps.append(VerifiedTimestamp(time: time, source: .timestampAuthority(authority.uri)))
        }
        /// `log` must be valid at each of `times`.
        func requireValid(_ log: TransparencyLogInstance, at times: [Date], _ why: String = "") throws(SigstoreVerificationFailure) {
            for time in times where !log.validity.contains(time) {
                throw SigstoreVerificationFailure(.timestamp("\(log.baseURL) is trusted only \(log.validity), not at \(time.formatted(.iso8601))\(why)"))
            }
        }
        for log in run.rekorV2Logs {
            guard !authorityTimes.isEmpty else {
                throw SigstoreVerificationFailure(.timestamp("a Rekor v2 entry (\(log.baseURL)) needs an RFC 3161 timestamp"))
            }
            try requireValid(log, at: authorityTimes)
        }
        // A Rekor v1 entry proven by inclusion alone: its log at every verified time (the
        // authorities' and other logs' SETs), or now when none was verified.
        let verifiedTimes = run.timestamps.map(\.time)
        for log in run.unstampedLogs {
            try requireValid(
                log, at: verifiedTimes.isEmpty ? [now] : verifiedTimes, ", and its entry carries no signed entry timestamp to date it otherwise")
        }
        guard run.timestamps.count >= configuration.timestampThreshold else {
            throw SigstoreVerificationFailure(.timestamp(
                "\(run.timestamps.count) verified timestamps, \(configuration.timestampThreshold) required"))
        }
        return .passed(run.timestamps.map(\.description).joined(separator: ", "))
    }

    /// The signing certificate a trusted root names for a timestamp authority: the first of its
    /// chain when that is not a CA (as sigstore-go reads `certChain`, its `tsa.Leaf`). A token
    /// signed by another time-stamping certificate the authority's CA issued is not from this
    /// authority. A chain of CAs alone names none: any time-stamping certificate they issued signs.
    static func signingCertificate(of authority: CertificateAuthority) -> Certificate? {
        guard authority.certificates.count > 1, let first = authority.certificates.first,
              first.basicConstraints?.isCertificateAuthority != true else { return nil }
        return first
    }
}
