import Foundation
import SignetCrypto
import SignetNotation
import SignetTestSupport
import Testing

/// Tamper matrix over Notation envelopes made by the tests' PKI: every single-point change of a
/// JWS envelope (payload, protected header, signature, each certificate of x5c, removed members,
/// the chain's order) and byte flips spread over a COSE_Sign1 envelope, verified under a strict
/// trust policy, must be refused.
@Suite("Tamper matrix: Notation envelopes")
struct NotationTamperMatrixTests {
    static let unsigned = [
        "header.io.cncf.notary.signingAgent": "the unprotected header's signing agent is informational and unsigned (Notary Project signature specification)",
    ]

    @Test func everyJWSMutationIsRefused() async throws {
        let signer = try await offThePool { try NotationTestSigner(intermediate: true) }
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
        let verifier = NotationVerifier(statement: try NotationTestSigner.statement(), stores: stores)
        let envelope = try await offThePool { try signer.jws() }
        func verifies(_ bytes: [UInt8]) -> Bool {
            verifier.verify(envelope: bytes, mediaType: "application/jose+json", target: NotationTestSigner.target, at: signer.validTime).passed
        }
        #expect(verifies(envelope))
        let mutations = try TamperMutation.json(envelope, unsigned: Self.unsigned)
        let outcome = await TamperOutcome.run(matrix: "notation", artifact: "jws", mutations, unsigned: Self.unsigned) {
            verifies($0.bytes)
        }
        #expect(outcome.mutations >= 10)
        #expect(outcome.falseAllows.isEmpty, "\(outcome.falseAllows)")
    }

    @Test func everyCOSEByteFlipIsRefused() async throws {
        let signer = try await offThePool { try NotationTestSigner(intermediate: true) }
        let stores = NotationTrustStores([.init(type: .signingAuthority, name: "aws"): [signer.root]])
        let verifier = NotationVerifier(statement: try NotationTestSigner.statement(stores: ["signingAuthority:aws"]), stores: stores)
        let envelope = try await offThePool { try signer.coseSigningAuthority(authenticSigningTime: signer.validTime) }
        func verifies(_ bytes: [UInt8]) -> Bool {
            verifier.verify(envelope: bytes, mediaType: "application/cose", target: NotationTestSigner.target, at: signer.validTime).passed
        }
        #expect(verifies(envelope))
        let outcome = await TamperOutcome.run(matrix: "notation", artifact: "cose", TamperMutation.bytes(envelope, count: 60)) { verifies($0.bytes) }
        #expect(outcome.mutations >= 50)
        #expect(outcome.falseAllows.isEmpty, "\(outcome.falseAllows)")
    }
}
