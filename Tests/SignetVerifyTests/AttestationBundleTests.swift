import Foundation
import SignetAttestation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// Attestations as cosign 3 `attest --key` attaches them: a Sigstore bundle holding the DSSE
/// envelope, attached as an OCI referrer of the image. The Debian registry the tests start has
/// no referrers API, so the bundles are listed by the `sha256-<hex>` tag index (the OCI
/// distribution specification's fallback), which the registry client reads when the API is
/// missing. Also: keys with their RSA-PSS scheme, and the bounds on what a `.att` image may hold.
@Suite("in-toto attestations in bundles, schemes and limits", .serialized)
struct AttestationBundleTests {
    typealias Setup = AttestationVerifierTests.Setup
    static let runner = AttestationVerifierTests.runner

    func provenance(_ digest: ImageDigest, builder: String = Self.runner) -> [UInt8] {
        TestAttestation.statement(for: digest, predicateType: TestAttestation.provenanceV1, predicate: TestAttestation.provenance(builder: builder))
    }

    /// Pushes an image whose referrers are the given bundles (made for its digest).
    func image(_ path: String, _ setup: Setup, bundles: (ImageDigest) async throws -> [[UInt8]]) async throws -> ImageReference {
        let image = try setup.fixture.reference(path)
        let digest = try await setup.fixture.images.pushImage(image)
        try await KeyBundle.attach(try await bundles(digest), to: digest, in: image, client: setup.fixture.client)
        return image
    }

    @Test func aKeySignedBundleReferrerCountsAndIsCheckedLikeAnEnvelope() async throws {
        let setup = try await Setup()
        let authority = try AttestationVerifierTests().provenanceAuthority(setup)

        let good = try await image("attb/good:v1", setup) { digest in
            [try await KeyBundle.dsse(provenance(digest), key: setup.key, hint: "builder")]
        }
        let passed = try await setup.verify(good, authority)
        #expect(passed.passed, "\(passed.reason)")
        #expect(passed.attestations?.first?.source.hasSuffix("(referrer)") == true, "\(passed.attestations ?? [])")
        #expect(passed.steps.contains { $0.name == "bundle referrers" && $0.detail.contains("tag index") }, "\(passed.steps)")

        // The builder named in the bundle's statement is checked like any other.
        let evil = try await image("attb/evil:v1", setup) { digest in
            [try await KeyBundle.dsse(provenance(digest, builder: "https://evil.example"), key: setup.key)]
        }
        let denied = try await setup.verify(evil, authority)
        #expect(!denied.passed)
        #expect(denied.reason == "provenance runDetails.builder.id is https://evil.example, expected \(Self.runner)", "\(denied.reason)")

        // A bundle of another predicate type (cosign's image signature) does not count.
        let signatureOnly = try await image("attb/signature:v1", setup) { digest in
            [try await KeyBundle.dsse(KeyBundle.statement(for: digest), key: setup.key)]
        }
        let wrongType = try await setup.verify(signatureOnly, authority)
        #expect(!wrongType.passed)
        #expect(wrongType.reason == "no attestation of type \(TestAttestation.provenanceV1) signed by builder-key", "\(wrongType.reason)")

        // Signed by a stranger; about another image; tampered after signing.
        let stranger = try await image("attb/stranger:v1", setup) { digest in
            [try await KeyBundle.dsse(provenance(digest), key: setup.stranger)]
        }
        let untrusted = try await setup.verify(stranger, authority)
        #expect(!untrusted.passed)
        #expect(untrusted.failure == .noValidSignature)
        #expect(untrusted.reason.contains("(referrer)") || untrusted.reason.contains("bundle sha256:"), "\(untrusted.reason)")
        #expect(untrusted.reason.contains("an envelope not signed by the provenance signer"), "\(untrusted.reason)")

        let otherDigest = try await setup.fixture.images.pushImage(try setup.fixture.reference("attb/other:v1"))
        let foreign = try await image("attb/foreign:v1", setup) { _ in
            [try await KeyBundle.dsse(provenance(otherDigest), key: setup.key)]
        }
        let aboutOther = try await setup.verify(foreign, authority)
        #expect(!aboutOther.passed)
        #expect(aboutOther.reason.contains("a provenance attestation about \(otherDigest), not the image's digest"), "\(aboutOther.reason)")

        let tampered = try await image("attb/tampered:v1", setup) { digest in
            let bundle = try await KeyBundle.dsse(provenance(digest, builder: "https://evil.example"), key: setup.key)
            let evilPayload = Data(provenance(digest, builder: "https://evil.example")).base64EncodedString()
            let goodPayload = Data(provenance(digest)).base64EncodedString()
            return [Array(String(decoding: bundle, as: UTF8.self).replacingOccurrences(of: evilPayload, with: goodPayload).utf8)]
        }
        let forged = try await setup.verify(tampered, authority)
        #expect(!forged.passed)
        #expect(forged.failure == .noValidSignature)
        #expect(forged.reason.contains("not signed by the provenance signer"), "\(forged.reason)")
        await setup.fixture.stop()
    }

    /// A key listed with its RSA-PSS scheme verifies attestations signed with PSS padding, in a
    /// `.att` envelope and in a bundle; the same key read as PKCS#1 v1.5 does not.
    @Test func rsaPSSKeysVerifyAttestationsWithTheirScheme() async throws {
        let setup = try await Setup()
        let pss = try await TestSigningKey.generate(.rsaPSS2048)
        let envelope = try await setup.image("attb/pss-att:v1") { digest in [try await TestAttestation.envelope(provenance(digest), key: pss)] }
        let bundled = try await image("attb/pss-bundle:v1", setup) { digest in [try await KeyBundle.dsse(provenance(digest), key: pss)] }
        let withScheme = TestAttestation.authority([try TestAttestation.requirement(
            "provenance", TestAttestation.provenanceV1, keys: [try pss.trusted("pss-key")])])
        let withoutScheme = TestAttestation.authority([try TestAttestation.requirement(
            "provenance", TestAttestation.provenanceV1, keys: [TrustedPublicKey(key: try pss.publicKey(), source: "pkcs1-key")])])
        for image in [envelope, bundled] {
            let passed = try await setup.verify(image, withScheme)
            #expect(passed.passed, "\(image): \(passed.reason)")
            #expect(passed.attestations?.first?.signers == ["pss-key"])
            let refused = try await setup.verify(image, withoutScheme)
            #expect(!refused.passed, "\(image)")
            #expect(refused.reason.contains("not signed by the provenance signer"), "\(refused.reason)")
        }

        // Through the policy loader: `rsaPadding: pss` on the attestation's key.
        let yaml = """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: attested
            spec:
              images:
                - glob: "**"
              authorities:
                - name: attested
                  attestations:
                    require:
                      - predicateType: slsaprovenance1
                        key:
                          publicKeys:
                            - file: \(pss.publicKeyFile)
                              rsaPadding: pss
            """
        let loaded = try PolicyLoader().load(files: [PolicySourceFile(name: "attested.yaml", bytes: Array(yaml.utf8))])
        let viaLoader = try await setup.verify(envelope, loaded.policies[0].authorities[0])
        #expect(viaLoader.passed, "\(viaLoader.reason)")
        await setup.fixture.stop()
    }

    /// A key signer under `transparencyLog: require` counts an attestation only when a log of its
    /// trust root vouches for it: the `.att` layer's `dev.sigstore.cosign/bundle` SET of a `dsse`
    /// entry recording this envelope's signature and key.
    @Test func aKeySignerRequiringTheLogCountsOnlyLoggedAttestations() async throws {
        let setup = try await Setup()
        let log = try await TestRekorLog.make()
        let directory = TemporaryDirectory(prefix: "signet-att-tlog")
        let rootFile = try directory.write("trusted_root.json", try log.trustedRootJSON()).path
        let yaml = """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: attested
            spec:
              images:
                - glob: "**"
              authorities:
                - name: attested
                  attestations:
                    require:
                      - predicateType: slsaprovenance1
                        key:
                          publicKeys:
                            - file: \(setup.key.publicKeyFile)
                          transparencyLog: require
                          trustRoot: {file: \(rootFile)}
            """
        let authority = try PolicyLoader().load(files: [PolicySourceFile(name: "attested.yaml", bytes: Array(yaml.utf8))]).policies[0].authorities[0]

        /// Pushes an image whose `.att` layer carries the annotations `annotate` makes.
        func image(_ path: String, annotate: (_ envelope: [UInt8], _ payload: [UInt8], _ signature: [UInt8]) async throws -> [String: String]) async throws -> ImageReference {
            let image = try setup.fixture.reference(path)
            let digest = try await setup.fixture.images.pushImage(image)
            let payload = provenance(digest)
            let signature = try await setup.key.signature(over: DSSEEnvelopeText.pae(payloadType: "application/vnd.in-toto+json", payload: payload))
            let envelope = TestAttestation.envelope(payload, signature: signature)
            let client = setup.fixture.client
            var layer = try await client.pushBlob(envelope, mediaType: AttestationVerifier.envelopeMediaType, to: image, deadline: deadline())
            layer.annotations = try await annotate(envelope, payload, signature)
            let config = try await client.pushBlob(Array("{}".utf8), mediaType: "application/vnd.oci.image.config.v1+json", to: image, deadline: deadline())
            let tagged = try ImageReference(parsing: "\(image.name):\(CosignArtifactKind.attestation.tag(for: digest))")
            try await client.pushManifest(.image(ImageManifest(config: config, layers: [layer])), to: tagged, deadline: deadline())
            return image
        }

        let logged = try await image("attb/logged:v1") { envelope, payload, signature in
            let entry = try await log.logDSSE(envelope: envelope, payload: payload, signature: signature, signer: setup.key)
            return [KeylessVerifier.rekorBundleAnnotation: entry.cosignAnnotation, CosignKeyVerifier.signatureAnnotation: ""]
        }
        let passed = try await setup.verify(logged, authority)
        #expect(passed.passed, "\(passed.reason)")

        let unlogged = try await image("attb/unlogged:v1") { _, _, _ in [:] }
        let denied = try await setup.verify(unlogged, authority)
        #expect(!denied.passed)
        #expect(denied.reason.contains("the bundle has no transparency log entries"), "\(denied.reason)")

        // An entry that logs another signature does not vouch for this one.
        let otherEntry = try await image("attb/other-entry:v1") { envelope, payload, _ in
            let entry = try await log.logDSSE(envelope: envelope, payload: payload, signature: Array(repeating: 7, count: 70), signer: setup.key)
            return [KeylessVerifier.rekorBundleAnnotation: entry.cosignAnnotation]
        }
        let mismatched = try await setup.verify(otherEntry, authority)
        #expect(!mismatched.passed)
        #expect(mismatched.reason.contains("not signed by the slsaprovenance1 signer"), "\(mismatched.reason)")
        await setup.fixture.stop()
    }

    /// What one verification downloads from each place, the `.att` image and the bundle
    /// referrers, is bounded (``VerificationByteBudget``; here about one and a half real
    /// attestations), blobs read smallest first and counted whatever they turn out to be:
    /// - junk twice the size of the real attestation, listed before it, is read after it, so the
    ///   real one passes;
    /// - junk half its size is read first and spends the budget, so the real one is refused
    ///   unread and the deny says why;
    /// - junk that spends the whole `.att` budget leaves the referrers' budget whole;
    /// - with no room at all, no bundle is examined; with the default budget all of them pass.
    @Test func whatOneVerificationDownloadsIsBounded() async throws {
        let probe = try await Setup()
        let zero = try ImageDigest(parsing: "sha256:" + String(repeating: "0", count: 64))
        let envelopeSize: Int = try await TestAttestation.envelope(provenance(zero), key: probe.key).count
        let bundleSize: Int = try await KeyBundle.dsse(provenance(zero), key: probe.key).count
        await probe.fixture.stop()
        func junk(_ size: Int, _ fill: Character) -> [UInt8] { Array(String(repeating: fill, count: size).utf8) }

        // The `.att` image.
        let layerBudget = 2 * envelopeSize + envelopeSize / 2
        let layers = try await Setup(fetchBudget: VerificationByteBudget(limit: layerBudget))
        let layerAuthority = try AttestationVerifierTests().provenanceAuthority(layers)
        let largeJunkFirst = try await layers.image("attb/budget-large:v1") { digest in
            [junk(2 * envelopeSize, "x"), junk(2 * envelopeSize, "y"), try await TestAttestation.envelope(provenance(digest), key: layers.key)]
        }
        let readFirst = try await layers.verify(largeJunkFirst, layerAuthority)
        #expect(readFirst.passed, "\(readFirst.reason)")
        let smallJunk = try await layers.image("attb/budget-small:v1") { digest in
            [try await TestAttestation.envelope(provenance(digest), key: layers.key)]
                + (0..<5).map { junk(envelopeSize / 2, Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0)))) }
        }
        let spent = try await layers.verify(smallJunk, layerAuthority)
        #expect(!spent.passed)
        #expect(spent.steps.contains { $0.name == "layer 0 envelope" && !$0.passed && $0.detail.contains("the envelope was not read: its")
            && $0.detail.contains("past the \(layerBudget) bytes signet downloads from one place") }, "\(spent.steps)")
        await layers.fixture.stop()

        // The bundle referrers.
        let bundleBudget = 2 * bundleSize + bundleSize / 2
        let referrers = try await Setup(fetchBudget: VerificationByteBudget(limit: bundleBudget))
        let bundleAuthority = try AttestationVerifierTests().provenanceAuthority(referrers)
        let largeBundleJunkFirst = try await image("attb/budget-large-bundles:v1", referrers) { digest in
            [junk(2 * bundleSize, "x"), junk(2 * bundleSize, "y"), try await KeyBundle.dsse(provenance(digest), key: referrers.key)]
        }
        let bundleReadFirst = try await referrers.verify(largeBundleJunkFirst, bundleAuthority)
        #expect(bundleReadFirst.passed, "\(bundleReadFirst.reason)")
        let smallBundleJunk = try await image("attb/budget-small-bundles:v1", referrers) { digest in
            [try await KeyBundle.dsse(provenance(digest), key: referrers.key)]
                + (0..<5).map { junk(bundleSize / 2, Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0)))) }
        }
        let bundlesSpent = try await referrers.verify(smallBundleJunk, bundleAuthority)
        #expect(!bundlesSpent.passed)
        // The budget ran out on the junk (refused unread, or none left to examine it).
        #expect(bundlesSpent.steps.contains {
            !$0.passed && ($0.detail.contains("was not read: its") && $0.detail.contains("past the \(bundleBudget) bytes")
                || $0.detail.contains("1 further bundle(s) not examined: the \(bundleBudget) bytes"))
        }, "\(bundlesSpent.steps)")
        // Junk that spends the whole `.att` budget leaves the referrers' budget whole.
        let both = try await image("attb/budget-both:v1", referrers) { digest in
            try await TestAttestation.push(
                (0..<3).map { junk(bundleBudget / 2, Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0)))) }, for: digest,
                in: try referrers.fixture.reference("attb/budget-both:v1"), client: referrers.fixture.client)
            return [try await KeyBundle.dsse(provenance(digest), key: referrers.key)]
        }
        let separate = try await referrers.verify(both, bundleAuthority)
        #expect(separate.passed, "\(separate.reason)")
        await referrers.fixture.stop()

        // With no room at all, no bundle is examined.
        let none = try await Setup(fetchBudget: VerificationByteBudget(limit: 0))
        let empty = try await image("attb/budget-none:v1", none) { digest in [try await KeyBundle.dsse(provenance(digest), key: none.key)] }
        let nothing = try await none.verify(empty, try AttestationVerifierTests().provenanceAuthority(none))
        #expect(nothing.reason.contains("1 further bundle(s) not examined: the 0 bytes signet downloads"), "\(nothing.reason)")
        await none.fixture.stop()

        // The default budget reads everything here.
        let roomy = try await Setup()
        let roomyAuthority = try AttestationVerifierTests().provenanceAuthority(roomy)
        let roomyLayers = try await roomy.image("attb/budget-small:v1") { digest in
            [try await TestAttestation.envelope(provenance(digest), key: roomy.key)]
                + (0..<5).map { junk(envelopeSize / 2, Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0)))) }
        }
        #expect(try await roomy.verify(roomyLayers, roomyAuthority).passed)
        let roomyBundles = try await image("attb/budget-small-bundles:v1", roomy) { digest in
            [try await KeyBundle.dsse(provenance(digest), key: roomy.key)]
                + (0..<5).map { junk(bundleSize / 2, Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0)))) }
        }
        #expect(try await roomy.verify(roomyBundles, roomyAuthority).passed)
        await roomy.fixture.stop()
    }

    /// More DSSE layers than signet reads, or an envelope larger than it accepts, is a deny that
    /// says so, before anything is fetched.
    @Test func tooManyOrTooLargeEnvelopesAreDeniedNamingTheLimit() async throws {
        let setup = try await Setup()
        let authority = try AttestationVerifierTests().provenanceAuthority(setup)
        let crowded = try setup.fixture.reference("attb/crowded:v1")
        let digest = try await setup.fixture.images.pushImage(crowded)
        let client = setup.fixture.client
        let envelope = try await TestAttestation.envelope(provenance(digest), key: setup.key)
        let layer = try await client.pushBlob(envelope, mediaType: AttestationVerifier.envelopeMediaType, to: crowded, deadline: deadline())
        let config = try await client.pushBlob(Array("{}".utf8), mediaType: "application/vnd.oci.image.config.v1+json", to: crowded, deadline: deadline())
        let attTag = try ImageReference(parsing: "\(crowded.name):\(CosignArtifactKind.attestation.tag(for: digest))")
        let count = AttestationVerifier.maximumEnvelopeLayers + 1
        try await client.pushManifest(
            .image(ImageManifest(config: config, layers: Array(repeating: layer, count: count))), to: attTag, deadline: deadline())
        let many = try await setup.verify(crowded, authority)
        #expect(!many.passed)
        #expect(many.reason.contains("has \(count) DSSE envelope layers, more than the \(AttestationVerifier.maximumEnvelopeLayers) signet reads"),
                "\(many.reason)")

        // Exactly at the limit, the layers are read and the attestation counts.
        try await client.pushManifest(
            .image(ImageManifest(config: config, layers: Array(repeating: layer, count: count - 1))), to: attTag, deadline: deadline())
        let atLimit = try await setup.verify(crowded, authority)
        #expect(atLimit.passed, "\(atLimit.reason)")

        // A descriptor declaring more bytes than accepted is refused without fetching it.
        var huge = layer
        huge.size = Int64(AttestationVerifier.maximumEnvelopeBytes) + 1
        try await client.pushManifest(.image(ImageManifest(config: config, layers: [huge])), to: attTag, deadline: deadline())
        let large = try await setup.verify(crowded, authority)
        #expect(!large.passed)
        #expect(large.reason.contains("the envelope is \(huge.size) bytes, more than the \(AttestationVerifier.maximumEnvelopeBytes) signet reads"),
                "\(large.reason)")
        await setup.fixture.stop()
    }
}
