import Foundation
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// `key` authorities and cosign 3 bundles: Sigstore bundles with a `publicKey` hint attached as
/// OCI referrers, in a real registry, each attack a deny naming why.
@Suite("cosign 3 key bundles", .serialized)
struct CosignKeyBundleTests {
    @Test func dsseBundlesVerifyWithTheKeyOnlyAndMessageSignaturesAreRefused() async throws {
        let fixture = try await VerificationFixture()
        let key = try await TestSigningKey.generate(.ecP256)
        let stranger = try await TestSigningKey.generate(.ecP256, slot: 1)

        // A DSSE bundle (cosign 3's form) with an annotation, and no .sig tag at all.
        let image = try fixture.reference("bundles/dsse:v1")
        let digest = try await fixture.images.pushImage(image)
        let referrers = try await KeyBundle.attach(
            [try await KeyBundle.dsse(KeyBundle.statement(for: digest, annotations: ["env": "prod"]), key: key)],
            to: digest, in: image, client: fixture.client)
        let passed = try await fixture.verify(image, keyAuthority([try key.trusted("release")]))
        #expect(passed.passed, "\(passed.reason)")
        #expect(passed.format == .cosignKey)
        #expect(passed.signers.map(\.key) == ["release"])
        #expect(passed.signers.first?.bundles == [referrers[0].description])
        #expect(passed.steps.contains { $0.name == "bundle \(referrers[0]) signature" && $0.passed })

        // Required annotations are read from the statement subject.
        let prod = try await fixture.verify(image, keyAuthority([try key.trusted()], annotations: ["env": "prod"]))
        #expect(prod.passed, "\(prod.reason)")
        let staging = try await fixture.verify(image, keyAuthority([try key.trusted()], annotations: ["env": "staging"]))
        #expect(!staging.passed)
        #expect(staging.reason.contains(#"the statement subject's annotation "env" is "prod", the policy requires "staging""#), "\(staging.reason)")

        // Another key: denied, naming the bundle.
        let wrong = try await fixture.verify(image, keyAuthority([try stranger.trusted("other")]))
        #expect(!wrong.passed)
        #expect(wrong.failure == .noValidSignature)
        #expect(wrong.reason.contains("bundle \(referrers[0]): the bundle's signature (hint \"test-key\") does not verify with any of the 1 trusted key(s)"),
                "\(wrong.reason)")

        // A message signature over the manifest digest by the same key (what `cosign sign-blob`
        // makes of a file whose bytes are the manifest): it signs bytes, not an image, and is refused.
        let plain = try fixture.reference("bundles/message:v1")
        let plainDigest = try await fixture.images.pushImage(plain)
        try await KeyBundle.attach([try await KeyBundle.messageSignature(over: plainDigest, key: key)], to: plainDigest, in: plain, client: fixture.client)
        let message = try await fixture.verify(plain, keyAuthority([try key.trusted()]))
        #expect(!message.passed)
        #expect(message.failure == .noValidSignature)
        #expect(message.reason.contains("the bundle holds a message signature (what cosign sign-blob makes)"), "\(message.reason)")
        await fixture.stop()
    }

    /// A bundle referrer listed first whose manifest cannot be read (more JSON values than a
    /// registry document may hold): passed over, and the valid bundle after it verifies; alone,
    /// it makes the verification an error (it may be the registry's answer), not a verdict.
    @Test func aReferrerThatCannotBeReadDoesNotHideAValidBundle() async throws {
        let fixture = try await VerificationFixture()
        let key = try await TestSigningKey.generate(.ecP256)
        let image = try fixture.reference("bundles/crowded:v1")
        let digest = try await fixture.images.pushImage(image)
        let empty = try await fixture.client.pushBlob(Array("{}".utf8), mediaType: "application/vnd.oci.empty.v1+json", to: image, deadline: deadline())
        var annotations: [String: String] = [:]
        for index in 0..<60_000 { annotations["a\(index)"] = "" }
        let crowded = Manifest.image(ImageManifest(
            artifactType: KeyBundle.mediaType, config: empty, layers: [empty],
            subject: Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: 2), annotations: annotations))
        var entry = try await fixture.client.pushManifest(crowded, to: image.withDigest(try crowded.descriptor().digest), deadline: deadline())
        entry.artifactType = KeyBundle.mediaType
        let bundle = try await KeyBundle.dsse(KeyBundle.statement(for: digest), key: key)
        try await KeyBundle.attach([bundle], to: digest, in: image, client: fixture.client, listedFirst: [entry])
        let passed = try await fixture.verify(image, keyAuthority([try key.trusted("release")]))
        #expect(passed.passed, "\(passed.reason)")
        #expect(passed.steps.contains { $0.name.contains("bundle \(entry.digest)") && !$0.passed }, "\(passed.steps.map(\.name))")

        try await KeyBundle.attach([], to: digest, in: image, client: fixture.client, listedFirst: [entry])
        await #expect(throws: VerificationError.self) { _ = try await fixture.verify(image, keyAuthority([try key.trusted("release")])) }
        await fixture.stop()
    }

    @Test func aBundleForAnotherImageIsDenied() async throws {
        let fixture = try await VerificationFixture()
        let key = try await TestSigningKey.generate(.ecP256)
        let authority = keyAuthority([try key.trusted()])
        let other = try fixture.reference("bundles/other:v1")
        let otherDigest = try await fixture.images.pushImage(other)

        // A DSSE statement about the other image, attached to this one.
        let dsse = try fixture.reference("bundles/stolen-dsse:v1")
        let dsseDigest = try await fixture.images.pushImage(dsse)
        try await KeyBundle.attach([try await KeyBundle.dsse(KeyBundle.statement(for: otherDigest), key: key)], to: dsseDigest, in: dsse, client: fixture.client)
        let stolenStatement = try await fixture.verify(dsse, authority)
        #expect(!stolenStatement.passed)
        #expect(stolenStatement.failure == .noValidSignature)
        #expect(stolenStatement.reason.contains("the artifact is not a subject of the in-toto statement"), "\(stolenStatement.reason)")

        // A message signature over the other image's digest, attached to this one.
        let message = try fixture.reference("bundles/stolen-message:v1")
        let messageDigest = try await fixture.images.pushImage(message)
        try await KeyBundle.attach(
            [try await KeyBundle.messageSignature(over: otherDigest, key: key)], to: messageDigest, in: message, client: fixture.client)
        let stolenMessage = try await fixture.verify(message, authority)
        #expect(!stolenMessage.passed)
        #expect(stolenMessage.reason.contains("the bundle holds a message signature"), "\(stolenMessage.reason)")

        // The other image's valid referrer listed under this image: its subject gives it away.
        let listed = try fixture.reference("bundles/listed:v1")
        let listedDigest = try await fixture.images.pushImage(listed)
        try await KeyBundle.attach(
            [try await KeyBundle.dsse(KeyBundle.statement(for: otherDigest), key: key)], to: listedDigest, subject: otherDigest, in: listed,
            client: fixture.client)
        let misfiled = try await fixture.verify(listed, authority)
        #expect(!misfiled.passed)
        #expect(misfiled.reason.contains("its subject is \(otherDigest), not the image \(listedDigest)"), "\(misfiled.reason)")

        // A bundle with an attestation predicate is not a signature.
        let attested = try fixture.reference("bundles/attested:v1")
        let attestedDigest = try await fixture.images.pushImage(attested)
        var statement = try JSONSerialization.jsonObject(with: Data(KeyBundle.statement(for: attestedDigest))) as! [String: Any]
        statement["predicateType"] = "https://slsa.dev/provenance/v1"
        let provenance = [UInt8](try JSONSerialization.data(withJSONObject: statement))
        try await KeyBundle.attach([try await KeyBundle.dsse(provenance, key: key)], to: attestedDigest, in: attested, client: fixture.client)
        let attestation = try await fixture.verify(attested, authority)
        #expect(!attestation.passed)
        #expect(attestation.reason.contains("an attestation with predicate https://slsa.dev/provenance/v1, not an image signature"), "\(attestation.reason)")
        await fixture.stop()
    }

    @Test func keylessBundlesAreNotKeySignatures() async throws {
        let fixture = try await VerificationFixture()
        let key = try await TestSigningKey.generate(.ecP256)
        let digest = ConformanceBundles.artifactDigest
        try await ConformanceBundles.attach(["happy-path-v0.3"], subject: digest, registry: fixture.registry, client: fixture.client)
        let image = try fixture.reference("\(ConformanceBundles.repository)@\(digest)")
        let result = try await fixture.verify(image, keyAuthority([try key.trusted()]))
        #expect(!result.passed)
        #expect(result.reason.contains("the bundle carries a certificate (a keyless signature)"), "\(result.reason)")
        await fixture.stop()
    }

    @Test func aKeyCountsOnceAcrossTheSigTagAndBundles() async throws {
        let fixture = try await VerificationFixture()
        let alice = try await TestSigningKey.generate(.ecP256)
        let bob = try await TestSigningKey.generate(.ecP256, slot: 1)
        let authority = keyAuthority([try alice.trusted("alice"), try bob.trusted("bob")], threshold: 2)

        // alice signed in both forms: one signer of the two required.
        let image = try fixture.reference("bundles/threshold:v1")
        let digest = try await fixture.images.pushImage(image)
        try await fixture.images.sign(digest, in: image, with: [alice])
        try await KeyBundle.attach([try await KeyBundle.dsse(KeyBundle.statement(for: digest), key: alice)], to: digest, in: image, client: fixture.client)
        let once = try await fixture.verify(image, authority)
        #expect(!once.passed)
        #expect(once.failure == .thresholdNotMet)
        #expect(once.signers.map(\.key) == ["alice"])
        #expect(once.reason.contains("signed by 1 distinct trusted key(s), 2 required; no valid signature by bob"), "\(once.reason)")

        // bob's bundle added: alice by the .sig tag, bob by a bundle.
        try await KeyBundle.attach(
            [try await KeyBundle.dsse(KeyBundle.statement(for: digest), key: alice), try await KeyBundle.dsse(KeyBundle.statement(for: digest), key: bob)],
            to: digest, in: image, client: fixture.client)
        let both = try await fixture.verify(image, authority)
        #expect(both.passed, "\(both.reason)")
        #expect(both.signers.map(\.key) == ["alice", "bob"])
        #expect(both.signers[0].layers == [0])
        #expect(both.signers[1].bundles?.count == 1)
        await fixture.stop()
    }
}

extension CosignKeyBundleTests {
    /// A key listed with its scheme (RSA-PSS) verifies its bundles with that scheme, not the
    /// key type's default padding.
    @Test func anRSAPSSKeysBundleVerifiesWithItsScheme() async throws {
        let fixture = try await VerificationFixture()
        let key = try await TestSigningKey.generate(.rsaPSS2048)
        let image = try fixture.reference("bundles/pss:v1")
        let digest = try await fixture.images.pushImage(image)
        try await KeyBundle.attach([try await KeyBundle.dsse(KeyBundle.statement(for: digest), key: key)], to: digest, in: image, client: fixture.client)
        let passed = try await fixture.verify(image, keyAuthority([try key.trusted()]))
        #expect(passed.passed, "\(passed.reason)")
        await fixture.stop()
    }
}
