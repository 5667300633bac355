import Foundation
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// What a registry serves is read before anything trusted vouches for it: a signature image's
/// manifest, a DSSE envelope. Padded with empty arrays (an unknown member every reader
/// ignores), each still verified before `UntrustedJSON`'s gate; Foundation's reader indexed all
/// of them first, about 50 bytes a value, so 16 MiB of them held 300 MB for one layer. Now the
/// same document is refused unread, naming the limit, and the unpadded one still passes.
@Suite("registry document gate", .serialized)
struct RegistryDocumentGateTests {
    /// `json` (an object) with a first member of `count` empty arrays.
    static func padded(_ json: [UInt8], count: Int) -> [UInt8] {
        Array(("{\"padding\":[" + Array(repeating: "[]", count: count).joined(separator: ",") + "],").utf8) + json.dropFirst()
    }

    static let limitText = "the document holds more than 100000 JSON values"

    @Test func aPaddedSignatureManifestIsRefusedUnread() async throws {
        let fixture = try await VerificationFixture()
        let key = try await TestSigningKey.generate(.ecP256)
        let authority = keyAuthority([try key.trusted()])
        let image = try fixture.reference("gate/signed:v1")
        let digest = try await fixture.images.pushImage(image)
        try await fixture.images.sign(digest, in: image, with: [key])
        let passed = try await fixture.verify(image, authority)
        #expect(passed.passed, "\(passed.reason)")

        let tagged = try ImageReference(parsing: "\(image.name):\(CosignArtifactKind.signature.tag(for: digest))")
        let manifest = try await fixture.client.manifest(tagged, deadline: deadline())
        try await fixture.client.pushManifest(
            Self.padded(manifest.bytes, count: 110_000), mediaType: manifest.descriptor.mediaType, to: tagged, deadline: deadline())
        // A manifest the registry client cannot read is the registry's failure, which an
        // admission denies with this text.
        await #expect {
            _ = try await fixture.verify(image, authority)
        } throws: { error in
            "\(error)".contains("is not a valid manifest: " + Self.limitText)
        }
        await fixture.stop()
    }

    @Test func aPaddedAttestationEnvelopeIsRefusedUnread() async throws {
        let setup = try await AttestationVerifierTests.Setup()
        func image(_ path: String, padding: Int?) async throws -> ImageReference {
            try await setup.image(path) { digest in
                let statement = TestAttestation.statement(
                    for: digest, predicateType: TestAttestation.provenanceV1,
                    predicate: TestAttestation.provenance(builder: AttestationVerifierTests.runner))
                let envelope = try await TestAttestation.envelope(statement, key: setup.key)
                return [padding.map { Self.padded(envelope, count: $0) } ?? envelope]
            }
        }
        let authority = try AttestationVerifierTests().provenanceAuthority(setup)
        let plain = try await setup.verify(try await image("gate/attested:v1", padding: nil), authority)
        #expect(plain.passed, "\(plain.reason)")
        let refused = try await setup.verify(try await image("gate/padded:v1", padding: 110_000), authority)
        #expect(!refused.passed)
        #expect(refused.reason.contains(Self.limitText), "\(refused.reason.prefix(600))")
        await setup.fixture.stop()
    }
}
