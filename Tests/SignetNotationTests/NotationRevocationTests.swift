import Foundation
import SignetCrypto
import SignetTestSupport
import Testing
@testable import SignetNotation

/// Revocation by supplied CRLs: the Notation vectors' CRL chain (`config/crl`) and CRLs the
/// tests issue with `openssl ca`.
@Suite struct NotationRevocationTests {
    static func crls(_ names: String...) throws -> [CertificateRevocationList] {
        try names.flatMap { try CertificateRevocationList.lists(in: [UInt8](Data(contentsOf: NotationVectors.root.appendingPathComponent("config/crl/\($0)")))) }
    }

    @Test func vectorCRLs() throws {
        let chain = try NotationVectors.certificates("config/crl/certchain_with_crl.pem")
        #expect(chain.count == 3)
        let statement = try NotationTestSigner.statement()
        func check(_ lists: [CertificateRevocationList]) -> String? {
            NotationVerifier(statement: statement, stores: NotationTrustStores(), crls: lists).revocationProblem(chain, now: NotationVectors.pinnedTime).0
        }
        #expect(check(try Self.crls("leaf.crl", "intermediate.crl")) == nil)
        #expect(check(try Self.crls("leaf_revoked.crl", "intermediate.crl"))?.contains("\"CN=LeafCert,OU=OrgUnit,O=Organization,L=City,ST=State,C=US\" is revoked") == true)
        #expect(check(try Self.crls("leaf.crl", "intermediate_revoked.crl"))?.contains("\"CN=IntermediateCA,OU=OrgUnit,O=Organization,L=City,ST=State,C=US\" is revoked") == true)
        // leaf_expired.crl names the intermediate as issuer but another key signed it: it is
        // not the issuer's CRL and says nothing, so the leaf, which names its CRL distribution
        // point, has a status no supplied CRL tells: unavailable.
        #expect(check(try Self.crls("leaf_expired.crl"))?.hasPrefix("revocation unavailable: the certificate \"CN=LeafCert,") == true)
        #expect(!(try Self.crls("leaf_expired.crl"))[0].isIssued(by: chain[1]))
        // A CRL whose issuer is not the certificate's issuer says nothing about it: the leaf's
        // status is unavailable, naming where it is published and whose CRL would tell it.
        let (problem, _) = NotationVerifier(statement: statement, stores: NotationTrustStores(), crls: try Self.crls("intermediate.crl"))
            .revocationProblem(chain, now: NotationVectors.pinnedTime)
        #expect(problem?.hasPrefix("revocation unavailable: the certificate \"CN=LeafCert,OU=OrgUnit,O=Organization,L=City,ST=State,C=US\" publishes its revocation status (CRL distribution point http://") == true, "\(problem ?? "passed")")
        #expect(problem?.contains("supply a current CRL of its issuer \"CN=IntermediateCA,OU=OrgUnit,O=Organization,L=City,ST=State,C=US\"") == true, "\(problem ?? "passed")")
        // A CRL signed by another key under the same issuer name is not the issuer's.
        let forged = try Self.crls("leaf_revoked.crl")
        #expect(forged[0].isIssued(by: chain[1]))
        #expect(!forged[0].isIssued(by: chain[2]))
    }

    @Test func revokedSigningCertificateFailsStrictAndIsLoggedInPermissive() async throws {
        let signer = try await offThePool { try NotationTestSigner() }
        let envelope = try await offThePool { try signer.jws() }
        let revokedList = try await offThePool { try signer.rootCRL(revoking: [signer.leaf]) }
        let cleanList = try await offThePool { try signer.rootCRL(revoking: []) }
        let shortList = try await offThePool { try signer.rootCRL(revoking: [], hours: 1) }
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
        func verify(_ crl: [UInt8], level: String = "strict", at time: Date? = nil) throws -> NotationVerification {
            NotationVerifier(statement: try NotationTestSigner.statement(level: level), stores: stores, crls: try CertificateRevocationList.lists(in: crl))
                .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: time ?? signer.validTime)
        }
        let clean = try verify(cleanList)
        #expect(clean.passed, "\(clean.failure ?? "")")
        #expect(clean.checks.last?.detail.contains("not revoked per the CRLs: \"CN=signer,O=Acme,ST=WA,C=US\"") == true)
        let revoked = try verify(revokedList)
        #expect(revoked.failure?.hasPrefix("revocation validation failed: the certificate \"") == true, "\(revoked.failure ?? "passed")")
        // A CRL past its nextUpdate: the status is unavailable, which fails as revoked does.
        let stale = try #require(try CertificateRevocationList.lists(in: shortList).first?.nextUpdate)
        let unavailable = try verify(shortList, at: stale.addingTimeInterval(60))
        #expect(unavailable.failure?.contains("revocation unavailable") == true, "\(unavailable.failure ?? "passed")")
        let logged = try verify(revokedList, level: "permissive")
        #expect(logged.passed)
        #expect(logged.loggedFailures.contains { $0.hasPrefix("revocation was set to \"log\"") })
    }

    /// The Notary Project's revocation evaluation: a certificate without revocation information
    /// is not revocable and passes; one that publishes its status (a CRL distribution point, an
    /// OCSP responder) and that no supplied CRL covers has a status signet cannot tell (here
    /// downloads are off; an OCSP responder alone is never queried), which is "revocation unavailable": a failure under strict, logged under
    /// permissive, and gone with a CRL of its issuer or `revocation: skip`. A signature made
    /// with a revoked certificate passed strict before, as "not checked".
    @Test func aCertificateThatPublishesItsStatusNeedsACRLThatCoversIt() async throws {
        var published = NotationTestSigner.Extensions()
        published.leaf.append("crlDistributionPoints=URI:http://127.0.0.1:9/acme.crl")
        var ocsp = NotationTestSigner.Extensions()
        ocsp.leaf.append("authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/ocsp")
        let (crlExtensions, ocspExtensions) = (published, ocsp)
        let plain = try await offThePool { try NotationTestSigner() }
        let withCRL = try await offThePool { try NotationTestSigner(extensions: crlExtensions) }
        let withOCSP = try await offThePool { try NotationTestSigner(extensions: ocspExtensions) }
        let envelopes = try await offThePool { (try plain.jws(), try withCRL.jws(), try withOCSP.jws()) }
        let clean = try await offThePool { try withCRL.rootCRL(revoking: []) }
        let revokedList = try await offThePool { try withCRL.rootCRL(revoking: [withCRL.leaf]) }
        func verify(_ signer: NotationTestSigner, _ envelope: [UInt8], level: String = "strict", crls: [UInt8] = [], skip: Bool = false) throws -> NotationVerification {
            let statement = try NotationTestSigner.statement(level: level, override: skip ? ["revocation": "skip"] : [:])
            let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
            return NotationVerifier(statement: statement, stores: stores, crls: crls.isEmpty ? [] : try CertificateRevocationList.lists(in: crls))
                .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: signer.validTime)
        }
        let notRevocable = try verify(plain, envelopes.0)
        #expect(notRevocable.passed, "\(notRevocable.failure ?? "")")
        #expect(notRevocable.checks.last?.detail.contains("without revocation information, so not revocable: \"CN=signer,O=Acme,ST=WA,C=US\"") == true)

        let unavailable = try verify(withCRL, envelopes.1)
        #expect(unavailable.failure?.hasPrefix("revocation validation failed: revocation unavailable: the certificate \"CN=signer,O=Acme,ST=WA,C=US\" publishes its revocation status (CRL distribution point http://127.0.0.1:9/acme.crl)") == true,
                "\(unavailable.failure ?? "passed")")
        #expect(unavailable.failure?.contains("supply a current CRL of its issuer \"CN=Acme Root,O=Acme,ST=WA,C=US\" in the authority's crls") == true)
        let ocspUnavailable = try verify(withOCSP, envelopes.2)
        #expect(ocspUnavailable.failure?.contains("publishes its revocation status through OCSP only (http://127.0.0.1:9/ocsp), and signet does not query OCSP responders") == true, "\(ocspUnavailable.failure ?? "passed")")

        let logged = try verify(withCRL, envelopes.1, level: "permissive")
        #expect(logged.passed)
        #expect(logged.loggedFailures.contains { $0.contains("revocation unavailable") })
        let skipped = try verify(withCRL, envelopes.1, skip: true)
        #expect(skipped.passed, "\(skipped.failure ?? "")")

        let covered = try verify(withCRL, envelopes.1, crls: clean)
        #expect(covered.passed, "\(covered.failure ?? "")")
        let revoked = try verify(withCRL, envelopes.1, crls: revokedList)
        #expect(revoked.failure?.contains("is revoked") == true, "\(revoked.failure ?? "passed")")
    }

    /// The TSA's chain is evaluated too (the specification's "Validate timestamp certificate and
    /// certificate chain revocation status"): a TSA certificate that publishes its status, with
    /// no CRL of its issuer supplied, makes revocation unavailable.
    @Test func aTimestampingCertificateThatPublishesItsStatusNeedsACRLThatCoversIt() async throws {
        let signer = try await offThePool { try NotationTestSigner() }
        let tsa = try await offThePool {
            try TestTimestampAuthority(leafExtensions: "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\ncrlDistributionPoints=URI:http://127.0.0.1:9/tsa.crl\n")
        }
        let envelope = try await offThePool { try signer.jws(timestamp: { try tsa.token(over: $0) }) }
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root], .init(type: .tsa, name: "acme-tsa"): [tsa.root]])
        let outcome = NotationVerifier(statement: try NotationTestSigner.statement(stores: ["ca:acme", "tsa:acme-tsa"]), stores: stores)
            .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: signer.leaf.notValidBefore.addingTimeInterval(86_400))
        #expect(outcome.failure?.hasPrefix("revocation validation failed: revocation unavailable: the TSA certificate \"") == true, "\(outcome.failure ?? "passed")")
        #expect(outcome.failure?.contains("(CRL distribution point http://127.0.0.1:9/tsa.crl)") == true, "\(outcome.failure ?? "passed")")

        // A CRL of the TSA's root covers it: clean, the signature passes; listing the TSA's
        // certificate, the timestamp is not authentic (as in notation-go).
        let tsaCertificate = try tsa.certificate
        let clean = try await offThePool { try tsa.rootCRL(revoking: []) }
        let revokedList = try await offThePool { try tsa.rootCRL(revoking: [tsaCertificate]) }
        func verify(_ crl: [UInt8]) throws -> NotationVerification {
            NotationVerifier(statement: try NotationTestSigner.statement(stores: ["ca:acme", "tsa:acme-tsa"]), stores: stores, crls: try CertificateRevocationList.lists(in: crl))
                .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: signer.leaf.notValidBefore.addingTimeInterval(86_400))
        }
        let covered = try verify(clean)
        #expect(covered.passed, "\(covered.failure ?? "")")
        #expect(covered.checks.last?.detail.contains("the TSA's chain: not revoked per the CRLs: \"CN=Acme TSA,O=Acme,ST=WA,C=US\"") == true, "\(covered.checks.last?.detail ?? "")")
        // The pass rests on that CRL: it holds no longer than the CRL's nextUpdate.
        let cleanNextUpdate = try #require(try CertificateRevocationList.lists(in: clean).first?.nextUpdate)
        #expect(covered.validUntil == cleanNextUpdate, "\(String(describing: covered.validUntil)) vs the TSA CRL's \(cleanNextUpdate)")
        let revoked = try verify(revokedList)
        #expect(revoked.failure?.hasPrefix("authenticTimestamp validation failed: the timestamp countersignature is not trusted: the TSA certificate \"CN=Acme TSA,O=Acme,ST=WA,C=US\" is revoked") == true,
                "\(revoked.failure ?? "passed")")
    }
}
