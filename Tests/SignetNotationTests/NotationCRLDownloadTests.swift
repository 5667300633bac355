import Foundation
import SignetCrypto
import SignetTestSupport
import Testing
@testable import SignetNotation

/// Revocation by CRLs downloaded from the distribution points a trusted chain names, as
/// ``NotationVerifier`` judges them (the downloads themselves are handed in; the HTTP downloader
/// is tested against a real server in `HTTPCRLDownloaderTests`).
@Suite struct NotationCRLDownloadTests {
    static let location = "http://127.0.0.1:9/acme.crl"

    typealias Results = [String: Result<CertificateRevocationList, CRLDownloadFailure>]

    @Test func downloadedCRLsDecideTheStatusOfATrustedChainOnly() async throws {
        var extensions = NotationTestSigner.Extensions()
        // One distribution point with two locations: the ldap one is not fetched, the http one is.
        extensions.leaf += ["crlDistributionPoints=crldp", "[ crldp ]", "fullname=URI:ldap://ldap.invalid/cn=acme,URI:\(Self.location)"]
        let named = extensions
        let signer = try await offThePool { try NotationTestSigner(extensions: named) }
        let other = try await offThePool { try NotationTestSigner() }
        let envelope = try await offThePool { try signer.jws() }
        func list(_ bytes: [UInt8]) throws -> CertificateRevocationList { try CertificateRevocationList(derEncoded: bytes) }
        let clean = try list(try await offThePool { try signer.rootCRL(revoking: []) })
        let revoked = try list(try await offThePool { try signer.rootCRL(revoking: [signer.leaf]) })
        let foreign = try list(try await offThePool { try other.rootCRL(revoking: []) })
        let otherPartition = try list(try await offThePool {
            try signer.rootCRL(revoking: [], extensions: ["issuingDistributionPoint=critical,@idp", "[ idp ]", "fullname=URI:http://127.0.0.1:9/other.crl"])
        })
        let samePartition = try list(try await offThePool {
            try signer.rootCRL(revoking: [signer.leaf], extensions: ["issuingDistributionPoint=critical,@idp", "[ idp ]", "fullname=URI:\(Self.location)"])
        })
        let caOnly = try list(try await offThePool {
            try signer.rootCRL(revoking: [], extensions: ["issuingDistributionPoint=critical,@idp", "[ idp ]", "fullname=URI:\(Self.location)", "onlyCA=TRUE"])
        })

        func verify(_ results: Results?, level: String = "strict", trusted: Bool = true, skip: Bool = false) throws -> NotationVerification {
            let statement = try NotationTestSigner.statement(level: level, override: skip ? ["revocation": "skip"] : [:])
            let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [trusted ? signer.root : other.root]])
            return NotationVerifier(statement: statement, stores: stores, downloads: results.map { CRLDownloads(enabled: true, results: $0) } ?? .disabled)
                .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: signer.validTime)
        }

        let off = try verify(nil)
        #expect(off.crlLocationsToDownload.isEmpty)
        #expect(off.failure?.contains("CRL downloads are off (--notation-crl-downloads)") == true, "\(off.failure ?? "passed")")

        let first = try verify([:])
        #expect(first.crlLocationsToDownload == [Self.location])
        #expect(first.failure?.contains("revocation unavailable: the CRL at \(Self.location) was not downloaded") == true, "\(first.failure ?? "passed")")

        let passed = try verify([Self.location: .success(clean)])
        #expect(passed.passed, "\(passed.failure ?? "")")
        #expect(passed.crlLocationsToDownload.isEmpty)
        #expect(passed.checks.last?.detail.contains("\"CN=signer,O=Acme,ST=WA,C=US\" (CRL from \(Self.location))") == true, "\(passed.checks.last?.detail ?? "")")
        #expect(passed.validUntil == clean.nextUpdate, "a pass holds until the downloaded CRL's nextUpdate")

        let listed = try verify([Self.location: .success(revoked)])
        #expect(listed.failure?.hasPrefix("revocation validation failed: the certificate \"CN=signer,O=Acme,ST=WA,C=US\" is revoked (since ") == true, "\(listed.failure ?? "passed")")
        #expect(listed.failure?.contains("the CRL at \(Self.location))") == true)

        let refused = try verify([Self.location: .failure(CRLDownloadFailure("connection refused", isTransient: true))])
        #expect(refused.failure?.contains("could not be downloaded from \(Self.location): connection refused") == true, "\(refused.failure ?? "passed")")
        #expect(refused.crlDownloadFailedTransiently)
        let notFound = try verify([Self.location: .failure(CRLDownloadFailure("HTTP status 404", isTransient: false))])
        #expect(!notFound.passed)
        #expect(!notFound.crlDownloadFailedTransiently)

        // A CRL with the issuer's name signed by another key says nothing.
        let forged = try verify([Self.location: .success(foreign)])
        #expect(forged.failure?.contains("the CRL at \(Self.location) is not signed by \"CN=Acme Root,O=Acme,ST=WA,C=US\"") == true, "\(forged.failure ?? "passed")")

        // The issuer's CRL of another partition (someone on the plain-HTTP path swapped it in)
        // does not cover the certificate, nor does a CRL of CA certificates only.
        let swapped = try verify([Self.location: .success(otherPartition)])
        #expect(swapped.failure?.contains("does not cover the certificate \"CN=signer,O=Acme,ST=WA,C=US\": the CRL covers distribution point http://127.0.0.1:9/other.crl and was fetched from \(Self.location)") == true,
                "\(swapped.failure ?? "passed")")
        let authoritiesOnly = try verify([Self.location: .success(caOnly)])
        #expect(authoritiesOnly.failure?.contains("the CRL covers CA certificates only") == true, "\(authoritiesOnly.failure ?? "passed")")
        // The partition the certificate names is judged.
        let partition = try verify([Self.location: .success(samePartition)])
        #expect(partition.failure?.contains("is revoked") == true, "\(partition.failure ?? "passed")")

        // Under permissive the failure is logged; with revocation skipped nothing is downloaded.
        let logged = try verify([Self.location: .failure(CRLDownloadFailure("connection refused", isTransient: true))], level: "permissive")
        #expect(logged.passed)
        #expect(logged.loggedFailures.contains { $0.contains("could not be downloaded") })
        let skipped = try verify([:], skip: true)
        #expect(skipped.passed && skipped.crlLocationsToDownload.isEmpty)

        // An untrusted chain (authenticity only logged under audit) names no location to fetch:
        // its certificates are the signer's words, and could name any URL.
        let untrusted = try verify([:], level: "audit", trusted: false)
        #expect(untrusted.crlLocationsToDownload.isEmpty)
        #expect(untrusted.loggedFailures.contains { $0.contains("signet downloads CRLs only for a certificate chain that passed authenticity") }, "\(untrusted.loggedFailures)")
    }

    /// Distribution points signet cannot download make the status unavailable, naming them.
    @Test func distributionPointsThatCannotBeDownloaded() async throws {
        var ldapOnly = NotationTestSigner.Extensions()
        ldapOnly.leaf.append("crlDistributionPoints=URI:ldap://ldap.invalid/cn=acme")
        let extensions = ldapOnly
        let signer = try await offThePool { try NotationTestSigner(extensions: extensions) }
        let envelope = try await offThePool { try signer.jws() }
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
        let outcome = NotationVerifier(statement: try NotationTestSigner.statement(), stores: stores, downloads: CRLDownloads(enabled: true))
            .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: signer.validTime)
        #expect(outcome.crlLocationsToDownload.isEmpty)
        #expect(outcome.failure?.contains("names a CRL distribution point signet cannot download (ldap://ldap.invalid/cn=acme; only http locations are downloaded)") == true,
                "\(outcome.failure ?? "passed")")
        #expect(try #require(signer.leaf.crlDistributionPoints) == [CRLDistributionPoint(locations: ["ldap://ldap.invalid/cn=acme"], isPartial: false)])

        // A point limited to some reasons leads to a partial CRL, which is not the whole status.
        var reasons = NotationTestSigner.Extensions()
        reasons.leaf += ["crlDistributionPoints=crldp", "[ crldp ]", "fullname=URI:\(Self.location)", "reasons=keyCompromise"]
        let partialExtensions = reasons
        let partialSigner = try await offThePool { try NotationTestSigner(extensions: partialExtensions) }
        let partialEnvelope = try await offThePool { try partialSigner.jws() }
        let partial = NotationVerifier(
            statement: try NotationTestSigner.statement(), stores: NotationTrustStores([.init(type: .ca, name: "acme"): [partialSigner.root]]),
            downloads: CRLDownloads(enabled: true))
            .verify(envelope: partialEnvelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: partialSigner.validTime)
        #expect(partial.crlLocationsToDownload.isEmpty)
        #expect(partial.failure?.contains("names a partial or indirect CRL distribution point") == true, "\(partial.failure ?? "passed")")
    }
}
