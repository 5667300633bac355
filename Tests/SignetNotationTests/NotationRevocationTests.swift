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
        // not the issuer's CRL and says nothing (neither revoked nor unavailable).
        #expect(check(try Self.crls("leaf_expired.crl")) == nil)
        #expect(!(try Self.crls("leaf_expired.crl"))[0].isIssued(by: chain[1]))
        // A CRL whose issuer is not the certificate's issuer says nothing about it.
        let (problem, detail) = NotationVerifier(statement: statement, stores: NotationTrustStores(), crls: try Self.crls("intermediate.crl"))
            .revocationProblem(chain, now: NotationVectors.pinnedTime)
        #expect(problem == nil)
        #expect(detail.contains("not checked (no CRL of their issuer supplied): \"CN=LeafCert,OU=OrgUnit,O=Organization,L=City,ST=State,C=US\""))
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
        #expect(clean.checks.last?.detail.contains("not revoked per the supplied CRLs") == true)
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
}
