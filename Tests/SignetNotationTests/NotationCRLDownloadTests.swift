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

    /// Delta CRLs (RFC 5280 section 5.2.4): a complete CRL that announces them (freshest CRL)
    /// tells the status only with the current delta that updates it, supplied or downloaded, and
    /// a listing in the delta revokes. With downloads on, a certificate a supplied CRL covers has
    /// its CRLs downloaded too, and a listing in either counts; a CRL without nextUpdate never
    /// shows it is current; an issuer whose key usage leaves out cRLSign signs no CRL.
    @Test func deltaCRLsSuppliedCRLsAndUndatedCRLs() async throws {
        let deltaLocation = "http://127.0.0.1:9/delta.crl"
        var extensions = NotationTestSigner.Extensions()
        extensions.leaf.append("crlDistributionPoints=URI:\(Self.location)")
        let named = extensions
        let signer = try await offThePool { try NotationTestSigner(extensions: named) }
        let envelope = try await offThePool { try signer.jws() }
        func list(_ make: @escaping @Sendable () throws -> [UInt8]) async throws -> CertificateRevocationList {
            try CertificateRevocationList(derEncoded: try await offThePool(make))
        }
        // The complete CRL is number 1; its deltas are number 2 with base 1 (DER INTEGER 1).
        let announcing = ["freshestCRL=URI:\(deltaLocation)"]
        let base = try await list { try signer.rootCRL(revoking: [], extensions: announcing) }
        let delta = try await list { try signer.rootCRL(revoking: [signer.leaf], extensions: ["deltaCRL=critical,DER:02:01:01"], number: 2) }
        let cleanDelta = try await list { try signer.rootCRL(revoking: [], extensions: ["deltaCRL=critical,DER:02:01:01"], number: 2) }
        let deltaOfALaterBase = try await list { try signer.rootCRL(revoking: [], extensions: ["deltaCRL=critical,DER:02:01:05"], number: 6) }
        let oldDelta = try await list { try signer.rootCRL(revoking: [], extensions: ["deltaCRL=critical,DER:02:01:01"], number: 1) }
        let held = try await list { try signer.rootCRL(revoking: [signer.leaf], extensions: announcing, reason: "certificateHold") }
        let compromised = try await list { try signer.rootCRL(revoking: [signer.leaf], extensions: announcing, reason: "keyCompromise") }
        let release = try await list { try signer.rootCRL(revoking: [signer.leaf], extensions: ["deltaCRL=critical,DER:02:01:01"], number: 2, reason: "removeFromCRL") }
        let cleanBase = try await list { try signer.rootCRL(revoking: []) }
        let revokedBase = try await list { try signer.rootCRL(revoking: [signer.leaf]) }
        let undated = try CertificateRevocationList(derEncoded: try await offThePool { try Self.withoutNextUpdate(try signer.rootCRL(revoking: []), signer: signer) })
        #expect(undated.nextUpdate == nil && undated.isIssued(by: signer.root))

        func verify(supplied: [CertificateRevocationList] = [], _ results: Results?) throws -> NotationVerification {
            let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
            return NotationVerifier(statement: try NotationTestSigner.statement(), stores: stores, crls: supplied,
                                    downloads: results.map { CRLDownloads(enabled: true, results: $0) } ?? .disabled)
                .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: signer.validTime)
        }

        let needsDelta = try verify([Self.location: .success(base)])
        #expect(needsDelta.crlLocationsToDownload == [deltaLocation])
        #expect(needsDelta.failure?.contains("revocation unavailable: the CRL at \(deltaLocation) was not downloaded") == true, "\(needsDelta.failure ?? "passed")")
        let revokedByDelta = try verify([Self.location: .success(base), deltaLocation: .success(delta)])
        #expect(revokedByDelta.failure?.contains("is revoked (since ") == true && revokedByDelta.failure?.contains("the delta CRL at \(deltaLocation))") == true,
                "\(revokedByDelta.failure ?? "passed")")
        let withCleanDelta = try verify([Self.location: .success(base), deltaLocation: .success(cleanDelta)])
        #expect(withCleanDelta.passed, "\(withCleanDelta.failure ?? "")")
        // A delta made against a newer complete CRL: the complete CRL kept is stale, and is
        // downloaded again (an error, not a verdict, until then).
        let newerBase = try verify([Self.location: .success(base), deltaLocation: .success(deltaOfALaterBase)])
        #expect(newerBase.failure?.contains("the delta CRL at \(deltaLocation) updates a newer complete CRL than the CRL at \(Self.location) (delta CRL number 6, complete CRL number 1)") == true,
                "\(newerBase.failure ?? "passed")")
        #expect(newerBase.crlLocationsRejected == [Self.location] && newerBase.crlDownloadFailedTransiently)
        // An old delta, which the complete CRL supersedes, is not taken (it could take a later
        // revocation back).
        let superseded = try verify([Self.location: .success(base), deltaLocation: .success(oldDelta)])
        #expect(superseded.failure?.contains("the CRL at \(deltaLocation) is an older delta CRL than the complete CRL (delta CRL number 1, complete CRL number 1)") == true,
                "\(superseded.failure ?? "passed")")
        #expect(superseded.crlLocationsRejected == [deltaLocation])
        // removeFromCRL takes a certificate off hold, never off a key compromise.
        let offHold = try verify([Self.location: .success(held), deltaLocation: .success(release)])
        #expect(offHold.passed, "\(offHold.failure ?? "")")
        // On hold, with the delta not downloaded yet: unknown, and the delta is asked for.
        let holdPending = try verify([Self.location: .success(held)])
        #expect(holdPending.crlLocationsToDownload == [deltaLocation], "\(holdPending.failure ?? "passed")")
        #expect(holdPending.failure?.contains("revocation unavailable") == true, "\(holdPending.failure ?? "passed")")
        let stillCompromised = try verify([Self.location: .success(compromised), deltaLocation: .success(release)])
        #expect(stillCompromised.failure?.contains("is revoked") == true, "\(stillCompromised.failure ?? "passed")")

        // Supplied: the base alone is not complete; with its delta it is.
        let baseAlone = try verify(supplied: [base], nil)
        #expect(baseAlone.failure?.contains("the supplied CRL of \"CN=Acme Root,O=Acme,ST=WA,C=US\" announces delta CRLs (\(deltaLocation))") == true, "\(baseAlone.failure ?? "passed")")
        let suppliedPair = try verify(supplied: [base, delta], nil)
        #expect(suppliedPair.failure?.contains("is revoked") == true && suppliedPair.failure?.contains("the supplied delta CRL") == true, "\(suppliedPair.failure ?? "passed")")
        // A supplied delta's listing counts even when its complete CRL announces no deltas.
        let unannounced = try verify(supplied: [cleanBase, delta], nil)
        #expect(unannounced.failure?.contains("is revoked") == true && unannounced.failure?.contains("the supplied delta CRL") == true, "\(unannounced.failure ?? "passed")")

        // A supplied CRL and a downloaded one: a listing in either counts; a failed download
        // leaves the supplied CRL to tell the status.
        let eitherListing = try verify(supplied: [cleanBase], [Self.location: .success(revokedBase)])
        #expect(eitherListing.failure?.contains("is revoked") == true && eitherListing.failure?.contains("the CRL at \(Self.location)") == true, "\(eitherListing.failure ?? "passed")")
        let suppliedTells = try verify(supplied: [cleanBase], [Self.location: .failure(CRLDownloadFailure("connection refused", isTransient: true))])
        #expect(suppliedTells.passed, "\(suppliedTells.failure ?? "")")
        #expect(!suppliedTells.crlDownloadFailedTransiently)
        let asksToo = try verify(supplied: [cleanBase], [:])
        #expect(asksToo.passed && asksToo.crlLocationsToDownload == [Self.location])

        // No nextUpdate: the CRL never shows it is current.
        let undatedDownload = try verify([Self.location: .success(undated)])
        #expect(undatedDownload.failure?.contains("the CRL at \(Self.location) has no nextUpdate") == true, "\(undatedDownload.failure ?? "passed")")
        #expect(undatedDownload.crlLocationsRejected == [Self.location])

        // A certificate without revocation information is not revocable, unless a supplied delta
        // CRL of its issuer lists it.
        let plain = try await offThePool { try NotationTestSigner() }
        let plainEnvelope = try await offThePool { try plain.jws() }
        let plainDelta = try await list { try plain.rootCRL(revoking: [plain.leaf], extensions: ["deltaCRL=critical,DER:02:01:01"], number: 2) }
        let listedByDelta = NotationVerifier(
            statement: try NotationTestSigner.statement(), stores: NotationTrustStores([.init(type: .ca, name: "acme"): [plain.root]]), crls: [plainDelta])
            .verify(envelope: plainEnvelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: plain.validTime)
        #expect(listedByDelta.failure?.contains("is revoked") == true && listedByDelta.failure?.contains("the supplied delta CRL") == true, "\(listedByDelta.failure ?? "passed")")

        // A root whose key usage leaves out cRLSign signs no CRL.
        var noCRLSign = NotationTestSigner.Extensions()
        noCRLSign.root = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"]
        noCRLSign.leaf.append("crlDistributionPoints=URI:\(Self.location)")
        let rootExtensions = noCRLSign
        let limited = try await offThePool { try NotationTestSigner(extensions: rootExtensions) }
        let limitedList = try await list { try limited.rootCRL(revoking: [limited.leaf]) }
        #expect(!limitedList.isIssued(by: limited.root))
        let limitedEnvelope = try await offThePool { try limited.jws() }
        let limitedOutcome = NotationVerifier(
            statement: try NotationTestSigner.statement(), stores: NotationTrustStores([.init(type: .ca, name: "acme"): [limited.root]]), crls: [limitedList])
            .verify(envelope: limitedEnvelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: limited.validTime)
        // The CRL (which lists the leaf) is not the root's: the status is unavailable, not revoked.
        #expect(limitedOutcome.failure?.contains("revocation unavailable: the certificate \"CN=signer,O=Acme,ST=WA,C=US\" publishes its revocation status") == true,
                "\(limitedOutcome.failure ?? "passed")")
    }

    /// `der` (a CRL `signer`'s root issued) without its nextUpdate, signed again with the root's key.
    static func withoutNextUpdate(_ der: [UInt8], signer: NotationTestSigner) throws -> [UInt8] {
        func encode(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] { [tag] + TimeStampToken.derLength(content.count) + content }
        guard let outer = DER.element(der), let parts = outer.children, parts.count == 3, let fields = parts[0].children else {
            throw TestProcessError(message: "not a CRL")
        }
        let times = fields.indices.filter { fields[$0].tag == 0x17 || fields[$0].tag == 0x18 }
        guard times.count == 2 else { throw TestProcessError(message: "no nextUpdate to remove") }
        var kept = fields
        kept.remove(at: times[1])
        let tbs = encode(0x30, kept.flatMap { encode($0.tag, Array($0.content)) })
        let input = signer.directory.file("tbs-\(UUID().uuidString)")
        let output = signer.directory.file("tbs-signature-\(UUID().uuidString)")
        try Data(tbs).write(to: input)
        try NotationTestSigner.openssl(["dgst", "-sha256", "-sign", signer.directory.file("root.key").path, "-out", output.path, input.path])
        let signature = [UInt8](try Data(contentsOf: output))
        return encode(0x30, tbs + encode(parts[1].tag, Array(parts[1].content)) + encode(0x03, [0] + signature))
    }
}
