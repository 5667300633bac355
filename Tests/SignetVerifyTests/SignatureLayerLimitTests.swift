import Foundation
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// A `.sig` image of more simple-signing layers than signet reads (cosign's own limit, 100) is
/// denied naming the count, before any payload is fetched or signature checked, for key-based
/// and keyless authorities alike; at the limit the layers are read and a valid one counts.
@Suite("signature layer limit", .serialized)
struct SignatureLayerLimitTests {
    @Test func aSignatureImageOfTooManyLayersIsDeniedNamingTheLimit() async throws {
        let fixture = try await VerificationFixture()
        let key = try await TestSigningKey.generate(.ecP256)
        let authority = keyAuthority([try key.trusted()])
        let image = try fixture.reference("crowded/app:v1")
        let digest = try await fixture.images.pushImage(image)
        let payload = simpleSigningPayload(for: digest, reference: image.name)
        let signed = SignatureLayer(payload: payload, signature: Data(try await key.signature(over: payload)).base64EncodedString())
        let limit = CosignKeyVerifier.maximumSignatureLayers

        try await fixture.images.pushSignatures(Array(repeating: signed, count: limit + 1), for: digest, in: image)
        let crowded = try await fixture.verify(image, authority)
        #expect(!crowded.passed)
        #expect(crowded.reason.contains("has \(limit + 1) simple-signing layers, more than the \(limit) signet reads"), "\(crowded.reason)")
        #expect(!crowded.steps.contains { $0.name.hasSuffix("payload") }, "a payload was fetched: \(crowded.steps.map(\.name))")

        // The keyless verifier reads the same `.sig` image and refuses it the same way.
        let keyless = try await KeylessVerifier(registry: fixture.client).verify(keylessRequest(
            "\(image.name)@\(digest)", digest: digest, authority: compiledKeylessAuthority(KeylessVerifierTests.philipp)))
        #expect(!keyless.passed)
        #expect(keyless.reason.contains("has \(limit + 1) simple-signing layers, more than the \(limit) signet reads"), "\(keyless.reason)")

        // At the limit, the layers are read and the valid signature counts.
        try await fixture.images.pushSignatures(Array(repeating: signed, count: limit), for: digest, in: image)
        let atLimit = try await fixture.verify(image, authority)
        #expect(atLimit.passed, "\(atLimit.reason)")
        await fixture.stop()
    }
}
