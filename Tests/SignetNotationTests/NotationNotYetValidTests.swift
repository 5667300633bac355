import Foundation
import SignetCrypto
import SignetNotation
import SignetTestSupport
import Testing

/// Certificates whose validity has not begun: without an authentic timestamp the chain must be
/// valid at the time of verification, and an AWS Signer-style authentic signing time before the
/// leaf's notBefore is no better. Strict enforces the authentic-timestamp check, permissive logs it.
@Suite struct NotationNotYetValidTests {
    @Test("a chain not yet valid at the time of verification fails authenticTimestamp at strict and is logged at permissive")
    func notYetValidAtVerification() async throws {
        let signer = try await offThePool { try NotationTestSigner(intermediate: true) }
        let envelope = try await offThePool { try signer.jws() }
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
        let early = signer.leaf.notValidBefore.addingTimeInterval(-3600)
        func verify(level: String, at time: Date) throws -> NotationVerification {
            NotationVerifier(statement: try NotationTestSigner.statement(level: level), stores: stores)
                .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: time)
        }

        #expect(try verify(level: "strict", at: signer.validTime).passed)
        let strict = try verify(level: "strict", at: early)
        #expect(!strict.passed)
        let failure = try #require(strict.failure)
        #expect(failure.contains("authenticTimestamp validation failed"), "\(failure)")
        #expect(failure.contains("CN=signer,O=Acme,ST=WA,C=US\" is not valid at \(early.formatted(.iso8601))"), "names the certificate and the time: \(failure)")
        #expect(failure.contains("valid \(signer.leaf.notValidBefore.formatted(.iso8601)) to"), "names its validity: \(failure)")

        let permissive = try verify(level: "permissive", at: early)
        #expect(permissive.passed, "\(permissive.failure ?? "")")
        #expect(permissive.loggedFailures.contains { $0.contains("authenticTimestamp") && $0.contains("is not valid at") }, "\(permissive.loggedFailures)")
    }

    @Test("signingAuthority scheme: an authentic signing time before the chain's notBefore fails")
    func signingAuthorityBeforeValidity() async throws {
        let signer = try await offThePool { try NotationTestSigner(intermediate: true) }
        let stores = NotationTrustStores([.init(type: .signingAuthority, name: "acme"): [signer.root]])
        let statement = try NotationTestSigner.statement(stores: ["signingAuthority:acme"])
        func verify(signedAt: Date) async throws -> NotationVerification {
            let envelope = try await offThePool { try signer.coseSigningAuthority(authenticSigningTime: signedAt) }
            return NotationVerifier(statement: statement, stores: stores)
                .verify(envelope: envelope, mediaType: "application/cose", target: NotationTestSigner.target, at: signer.validTime)
        }
        #expect(try await verify(signedAt: signer.validTime).passed)
        let early = try await verify(signedAt: signer.leaf.notValidBefore.addingTimeInterval(-86_400))
        #expect(!early.passed)
        #expect(early.failure?.contains("authenticTimestamp validation failed") == true, "\(early.failure ?? "passed")")
        #expect(early.failure?.contains("is not valid at") == true, "\(early.failure ?? "passed")")
    }
}
