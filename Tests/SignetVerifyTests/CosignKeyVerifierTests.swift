import Foundation
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// A registry with the connaisseur vectors and images the tests sign, and an engine over it.
final class VerificationFixture: @unchecked Sendable {
    // Immutable after init.
    let registry: RegistryFixture
    let client: RegistryClient
    let images: TestRegistryImages
    let engine: VerificationEngine

    init(vectors: Bool = false) async throws {
        registry = try await offThePool { try RegistryFixture() }
        client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        images = TestRegistryImages(client: client)
        engine = VerificationEngine(registry: client)
        if vectors { try await ConnaisseurVectors.push(to: registry, client: client) }
    }

    /// Stops the registry on its own thread (the stop waits for the process to exit).
    func stop() async {
        let registry = self.registry
        _ = try? await offThePool { registry.stop() }
    }

    func reference(_ path: String) throws -> ImageReference { try ImageReference(parsing: "\(registry.host)/\(path)") }

    func verify(_ image: ImageReference, _ authority: CompiledAuthority) async throws -> VerificationResult {
        try await engine.verify(image: image, authority: authority, policy: "test", revision: UUID().uuidString, deadline: deadline())
    }
}

@Suite("cosign key-based verification", .serialized)
struct CosignKeyVerifierTests {
    // MARK: - Real cosign signatures (connaisseur vectors)

    @Test
    func connaisseurVectors() async throws {
        let fixture = try await VerificationFixture(vectors: true)
        let alice = try trustedKey(file: ConnaisseurVectors.keyFile("alice"), source: "alice")
        let bob = try trustedKey(file: ConnaisseurVectors.keyFile("bob"), source: "bob")
        let charlie = try trustedKey(file: ConnaisseurVectors.keyFile("charlie"), source: "charlie")

        // alice's signature, found through the tag.
        let aliceImage = try fixture.reference("\(ConnaisseurVectors.repository):multi-cosigned-alice")
        let signed = try await fixture.verify(aliceImage, keyAuthority([alice]))
        #expect(signed.passed, "\(signed.reason)")
        #expect(signed.digest == ConnaisseurVectors.aliceDigest)
        #expect(signed.signers.map(\.key) == ["alice"])
        #expect(signed.steps.contains { $0.name == "layer 0 payload claims" && $0.passed })

        // bob did not sign it; requiring bob on the alice-only image fails.
        let wrongKey = try await fixture.verify(aliceImage, keyAuthority([bob]))
        #expect(!wrongKey.passed)
        #expect(wrongKey.failure == .noValidSignature)
        #expect(wrongKey.reason.contains("layer 0: the signature (71 bytes) does not verify with any of the 1 trusted key(s)"))
        let needsBob = try await fixture.verify(aliceImage, keyAuthority([alice, bob], threshold: 2))
        #expect(!needsBob.passed)
        #expect(needsBob.failure == .thresholdNotMet)
        #expect(needsBob.reason.contains("no valid signature by bob"))

        // alice, bob and charlie signed the other image.
        let multi = try fixture.reference("\(ConnaisseurVectors.repository):multi-cosigned-alice-bob-charlie")
        for threshold in [2, 3] {
            let result = try await fixture.verify(multi, keyAuthority([alice, bob, charlie], threshold: threshold))
            #expect(result.passed, "threshold \(threshold): \(result.reason)")
            #expect(result.signers.count == 3)
        }
        let onlyTwoKeys = try await fixture.verify(multi, keyAuthority([alice, bob], threshold: 2))
        #expect(onlyTwoKeys.passed)
        // Threshold 3 with only alice and bob configured cannot be written as a policy
        // (threshold above the key count is a load error); with charlie's key replaced by an
        // unrelated one it fails.
        let unrelated = try await TestSigningKey.generate(.ecP256, slot: 1).trusted("unrelated")
        let three = try await fixture.verify(multi, keyAuthority([alice, bob, unrelated], threshold: 3))
        #expect(!three.passed)
        #expect(three.failure == .thresholdNotMet)
        #expect(three.reason.contains("signed by 2 distinct trusted key(s), 3 required; no valid signature by unrelated"))

        // Unsigned: no .sig image.
        let unsignedReference = try fixture.reference("\(ConnaisseurVectors.repository):co-unsigned")
        try await fixture.images.pushImage(unsignedReference)
        let unsigned = try await fixture.verify(unsignedReference, keyAuthority([alice]))
        #expect(!unsigned.passed)
        #expect(unsigned.failure == .noSignatures)
        #expect(unsigned.reason.hasPrefix("no cosign signatures: \(fixture.registry.host)/\(ConnaisseurVectors.repository):sha256-"))
        await fixture.stop()
    }

    // MARK: - Signatures made here

    @Test func everyKeyTypeOverPushedImages() async throws {
        let fixture = try await VerificationFixture()
        for kind in TestSigningKey.Kind.allCases {
            let key = try await TestSigningKey.generate(kind)
            let image = try fixture.reference("signed/\(kind.rawValue.lowercased()):v1")
            let digest = try await fixture.images.pushImage(image)
            try await fixture.images.sign(digest, in: image, with: [key])
            let result = try await fixture.verify(image, keyAuthority([try key.trusted()]))
            #expect(result.passed, "\(kind): \(result.reason)")
            #expect(result.format == .cosignKey)
            #expect(result.signers.first?.fingerprint == (try key.publicKey()).fingerprint)
        }
        await fixture.stop()
    }

    @Test func requiredAnnotations() async throws {
        let fixture = try await VerificationFixture()
        let key = try await TestSigningKey.generate(.ecP256)
        let image = try fixture.reference("annotated/app:v1")
        let digest = try await fixture.images.pushImage(image)
        try await fixture.images.sign(digest, in: image, with: [key], optional: #"{"env":"staging"}"#)
        let staging = try await fixture.verify(image, keyAuthority([try key.trusted()], annotations: ["env": "staging"]))
        #expect(staging.passed, "\(staging.reason)")
        let prod = try await fixture.verify(image, keyAuthority([try key.trusted()], annotations: ["env": "prod"]))
        #expect(!prod.passed)
        #expect(prod.reason.contains(#"layer 0: the payload annotation "env" is "staging", the policy requires "prod""#))
        let team = try await fixture.verify(image, keyAuthority([try key.trusted()], annotations: ["team": "a"]))
        #expect(team.reason.contains(#"the payload has no annotation "team""#))
        await fixture.stop()
    }

    /// Annotations match as written, byte for byte, as cosign matches them: a Kelvin sign
    /// (U+212A) is not a `K`, though Swift's `==` takes the two for canonically equivalent. A
    /// build of `refs/heads/\u{212A}8s`, a branch anyone may push, signed by the release key,
    /// does not pass for the protected `refs/heads/K8s`; nor does a look-alike annotation name.
    @Test func annotationsMatchByTheirBytes() async throws {
        let fixture = try await VerificationFixture()
        let key = try await TestSigningKey.generate(.ecP256)
        let image = try fixture.reference("annotated/lookalike:v1")
        let digest = try await fixture.images.pushImage(image)
        try await fixture.images.sign(digest, in: image, with: [key], optional: #"{"ref":"refs/heads/\u212A8s","\u212Aind":"release"}"#)
        let branch = try await fixture.verify(image, keyAuthority([try key.trusted()], annotations: ["ref": "refs/heads/K8s"]))
        #expect(!branch.passed, "\(branch.reason)")
        #expect(branch.reason.contains(#"the payload annotation "ref" is"#), "\(branch.reason)")
        let name = try await fixture.verify(image, keyAuthority([try key.trusted()], annotations: ["Kind": "release"]))
        #expect(!name.passed, "\(name.reason)")
        #expect(name.reason.contains(#"the payload has no annotation "Kind""#), "\(name.reason)")
        let exact = try await fixture.verify(image, keyAuthority([try key.trusted()], annotations: ["ref": "refs/heads/\u{212A}8s", "\u{212A}ind": "release"]))
        #expect(exact.passed, "\(exact.reason)")
        await fixture.stop()
    }

    // MARK: - Tampering: each is a verdict (deny) with a precise reason

    @Test func tampering() async throws {
        let fixture = try await VerificationFixture()
        let key = try await TestSigningKey.generate(.ecP256)
        let authority = keyAuthority([try key.trusted()])
        func sign(_ payload: [UInt8]) async throws -> String { Data(try await key.signature(over: payload)).base64EncodedString() }

        func check(_ name: String, _ layers: (ImageDigest, ImageReference) async throws -> [SignatureLayer], expect reason: String) async throws {
            let image = try fixture.reference("tampered/\(name):v1")
            let digest = try await fixture.images.pushImage(image)
            try await fixture.images.pushSignatures(try await layers(digest, image), for: digest, in: image)
            let result = try await fixture.verify(image, authority)
            #expect(!result.passed, "\(name)")
            #expect(result.failure == .noValidSignature, "\(name)")
            #expect(result.reason.contains(reason), "\(name): \(result.reason)")
        }

        let other = try fixture.reference("tampered/other:v1")
        let otherDigest = try await fixture.images.pushImage(other)
        try await check("other-image-digest", { _, image in
            let payload = simpleSigningPayload(for: otherDigest, reference: image.name)
            return [SignatureLayer(payload: payload, signature: try await sign(payload))]
        }, expect: "layer 0: the payload signs \(otherDigest), not the image's digest")

        try await check("different-bytes", { digest, image in
            let payload = simpleSigningPayload(for: digest, reference: image.name)
            return [SignatureLayer(payload: payload, signature: try await sign(payload + Array(" ".utf8)))]
        }, expect: "layer 0: the signature (")

        let stranger = try await TestSigningKey.generate(.ecP256, slot: 1)
        try await check("wrong-key", { digest, image in
            let payload = simpleSigningPayload(for: digest, reference: image.name)
            return [SignatureLayer(payload: payload, signature: Data(try await stranger.signature(over: payload)).base64EncodedString())]
        }, expect: "does not verify with any of the 1 trusted key(s)")

        try await check("blob-mismatch", { digest, image in
            let payload = simpleSigningPayload(for: digest, reference: image.name)
            return [SignatureLayer(payload: payload, signature: try await sign(payload), declaredSize: Int64(payload.count + 7))]
        }, expect: "bytes, its descriptor says")

        try await check("truncated-signature", { digest, image in
            let payload = simpleSigningPayload(for: digest, reference: image.name)
            let signature = try await key.signature(over: payload)
            return [SignatureLayer(payload: payload, signature: Data(signature.prefix(signature.count / 2)).base64EncodedString())]
        }, expect: "layer 0: the signature (")

        try await check("empty-annotation", { digest, image in
            [SignatureLayer(payload: simpleSigningPayload(for: digest, reference: image.name), signature: "")]
        }, expect: "layer 0: the dev.cosignproject.cosign/signature annotation is empty")

        try await check("missing-annotation", { digest, image in
            [SignatureLayer(payload: simpleSigningPayload(for: digest, reference: image.name), signature: nil)]
        }, expect: "layer 0: the dev.cosignproject.cosign/signature annotation is missing")

        try await check("wrong-type", { digest, image in
            let payload = simpleSigningPayload(for: digest, reference: image.name, type: "something else")
            return [SignatureLayer(payload: payload, signature: try await sign(payload))]
        }, expect: #"layer 0: the payload type is "something else""#)
        await fixture.stop()
    }

    @Test func registryDownIsAnErrorNotAVerdict() async throws {
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: ["127.0.0.1:1"]))
        let engine = VerificationEngine(registry: client)
        let key = try await TestSigningKey.generate(.ecP256)
        await #expect(throws: VerificationError.self) {
            _ = try await engine.verify(
                image: try ImageReference(parsing: "127.0.0.1:1/app:v1"), authority: keyAuthority([try key.trusted()]),
                policy: "p", revision: "r", deadline: deadline(5))
        }
    }
}
