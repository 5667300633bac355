import Foundation
import SignetAttestation
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// `attestations` authorities against a real registry: `.att` images of DSSE envelopes signed
/// here, each attack denied naming the attestation and why.
@Suite("in-toto attestations", .serialized)
struct AttestationVerifierTests {
    static let runner = "https://github.com/actions/runner"
    /// Pinned: 2026-01-10T00:00:00Z.
    static let pinned = Date(timeIntervalSince1970: 1_768_003_200)

    struct Setup {
        let fixture: VerificationFixture
        let wall: SettableWallClock
        let engine: VerificationEngine
        let key: TestSigningKey
        let stranger: TestSigningKey

        init(fetchBudget: VerificationByteBudget = .attestations) async throws {
            fixture = try await VerificationFixture()
            wall = SettableWallClock(AttestationVerifierTests.pinned)
            engine = VerificationEngine(
                registry: fixture.client, verifiers: [AttestationVerifier(registry: fixture.client, clock: wall.clock, fetchBudget: fetchBudget)])
            key = try await TestSigningKey.generate(.ecP256)
            stranger = try await TestSigningKey.generate(.ecP256, slot: 1)
        }

        func verify(_ image: ImageReference, _ authority: CompiledAuthority, revision: String = UUID().uuidString) async throws -> VerificationResult {
            try await engine.verify(image: image, authority: authority, policy: "attested", revision: revision, deadline: deadline())
        }

        /// Pushes an image and its `.att` of the given envelopes.
        func image(_ path: String, envelopes: (ImageDigest) async throws -> [[UInt8]]) async throws -> ImageReference {
            let image = try fixture.reference(path)
            let digest = try await fixture.images.pushImage(image)
            let made = try await envelopes(digest)
            if !made.isEmpty { try await TestAttestation.push(made, for: digest, in: image, client: fixture.client) }
            return image
        }
    }

    func provenanceAuthority(_ setup: Setup, key: TestSigningKey? = nil) throws -> CompiledAuthority {
        TestAttestation.authority([try TestAttestation.requirement(
            "provenance", TestAttestation.provenanceV1, keys: [try (key ?? setup.key).trusted("builder-key")],
            conditions: [#"{"path":"runDetails.builder.id","operator":"equals","value":"\#(Self.runner)"}"#])])
    }

    @Test func provenanceFromTheRightBuilderPassesAndAnotherBuilderIsDenied() async throws {
        let setup = try await Setup()
        let good = try await setup.image("att/good:v1") { digest in
            [try await TestAttestation.envelope(
                TestAttestation.statement(for: digest, predicateType: TestAttestation.provenanceV1, predicate: TestAttestation.provenance(builder: Self.runner)),
                key: setup.key)]
        }
        let passed = try await setup.verify(good, try provenanceAuthority(setup))
        #expect(passed.passed, "\(passed.reason)")
        #expect(passed.format == .inTotoAttestation)
        #expect(passed.attestations?.first?.signers == ["builder-key"])
        #expect(passed.attestations?.first?.fields.values == ["runDetails.builder.id": [.string(Self.runner)]], "only the fields read are kept")

        let evil = try await setup.image("att/evil:v1") { digest in
            [try await TestAttestation.envelope(
                TestAttestation.statement(for: digest, predicateType: TestAttestation.provenanceV1,
                                          predicate: TestAttestation.provenance(builder: "https://evil.example")),
                key: setup.key)]
        }
        let denied = try await setup.verify(evil, try provenanceAuthority(setup))
        #expect(!denied.passed)
        #expect(denied.failure == .conditionNotMet)
        #expect(denied.reason == "provenance runDetails.builder.id is https://evil.example, expected \(Self.runner)", "\(denied.reason)")

        // The v0.1 statement type is read too.
        let old = try await setup.image("att/v01:v1") { digest in
            [try await TestAttestation.envelope(
                TestAttestation.statement(for: digest, predicateType: TestAttestation.provenanceV1,
                                          predicate: TestAttestation.provenance(builder: Self.runner), type: "https://in-toto.io/Statement/v0.1"),
                key: setup.key)]
        }
        let v01 = try await setup.verify(old, try provenanceAuthority(setup))
        #expect(v01.passed, "\(v01.reason)")
        await setup.fixture.stop()
    }

    /// A referrers list signet cannot read (an index of 120,000 JSON values: whoever may push a
    /// referrer can make the registry's list that large) finds no bundle; the attestation of the
    /// `.att` image still passes, and without one the listing's error is the answer, not a verdict.
    @Test func anUnreadableReferrersListDoesNotHideTheAttImage() async throws {
        let setup = try await Setup()
        let provenance = { (digest: ImageDigest) in
            [try await TestAttestation.envelope(
                TestAttestation.statement(for: digest, predicateType: TestAttestation.provenanceV1, predicate: TestAttestation.provenance(builder: Self.runner)),
                key: setup.key)]
        }
        var annotations: [String: String] = [:]
        for index in 0..<60_000 { annotations["a\(index)"] = "" }
        func crowdReferrers(of image: ImageReference) async throws {
            let digest = try await setup.fixture.client.manifest(image, deadline: deadline()).descriptor.digest
            let tagged = try ImageReference(parsing: "\(image.name):\(digest.tagForm)")
            try await setup.fixture.client.pushManifest(Manifest.index(ImageIndex(manifests: [], annotations: annotations)), to: tagged, deadline: deadline())
        }
        let attested = try await setup.image("att/crowded:v1", envelopes: provenance)
        try await crowdReferrers(of: attested)
        let passed = try await setup.verify(attested, try provenanceAuthority(setup))
        #expect(passed.passed, "\(passed.reason)")
        #expect(passed.steps.contains { $0.name == "bundle referrers" && $0.detail.contains("cannot be read") }, "\(passed.steps.map(\.detail))")

        let bare = try await setup.image("att/crowded-bare:v1") { _ in [] }
        try await crowdReferrers(of: bare)
        await #expect(throws: VerificationError.self) { _ = try await setup.verify(bare, try provenanceAuthority(setup)) }
        await setup.fixture.stop()
    }

    @Test func missingUntrustedForeignAndTamperedAttestationsAreDenied() async throws {
        let setup = try await Setup()
        let authority = try provenanceAuthority(setup)
        let type = TestAttestation.provenanceV1

        // No .att at all.
        let bare = try await setup.image("att/bare:v1") { _ in [] }
        let missing = try await setup.verify(bare, authority)
        #expect(!missing.passed)
        #expect(missing.failure == .noSignatures)
        #expect(missing.reason == "no attestation of type \(type) signed by builder-key", "\(missing.reason)")

        // Signed by a key the requirement does not trust.
        let untrusted = try await setup.image("att/untrusted:v1") { digest in
            [try await TestAttestation.envelope(
                TestAttestation.statement(for: digest, predicateType: type, predicate: TestAttestation.provenance(builder: Self.runner)),
                key: setup.stranger)]
        }
        let stranger = try await setup.verify(untrusted, authority)
        #expect(!stranger.passed)
        #expect(stranger.failure == .noValidSignature)
        #expect(stranger.reason.hasPrefix("no attestation of type \(type) signed by builder-key ("), "\(stranger.reason)")
        #expect(stranger.reason.contains("an envelope not signed by the provenance signer"), "\(stranger.reason)")

        // A statement about another digest, signed by the right key, attached to this image.
        let other = try setup.fixture.reference("att/other:v1")
        let otherDigest = try await setup.fixture.images.pushImage(other)
        let stolen = try await setup.image("att/stolen:v1") { _ in
            [try await TestAttestation.envelope(
                TestAttestation.statement(for: otherDigest, predicateType: type, predicate: TestAttestation.provenance(builder: Self.runner)),
                key: setup.key)]
        }
        let foreign = try await setup.verify(stolen, authority)
        #expect(!foreign.passed)
        #expect(foreign.reason.contains("a provenance attestation about \(otherDigest), not the image's digest"), "\(foreign.reason)")

        // A tampered envelope: the builder rewritten after signing.
        let tampered = try await setup.image("att/tampered:v1") { digest in
            let signed = TestAttestation.statement(for: digest, predicateType: type, predicate: TestAttestation.provenance(builder: "https://evil.example"))
            let signature = try await setup.key.signature(over: DSSEEnvelopeText.pae(payloadType: "application/vnd.in-toto+json", payload: signed))
            let rewritten = TestAttestation.statement(for: digest, predicateType: type, predicate: TestAttestation.provenance(builder: Self.runner))
            return [TestAttestation.envelope(rewritten, signature: signature)]
        }
        let forged = try await setup.verify(tampered, authority)
        #expect(!forged.passed)
        #expect(forged.failure == .noValidSignature)
        #expect(forged.reason.contains("not signed by the provenance signer"), "\(forged.reason)")

        // Another predicate type signed by the right key does not count as provenance.
        let sbomOnly = try await setup.image("att/sbom-only:v1") { digest in
            [try await TestAttestation.envelope(
                TestAttestation.statement(for: digest, predicateType: "https://spdx.dev/Document", predicate: #"{"spdxVersion":"SPDX-2.3"}"#),
                key: setup.key)]
        }
        let wrongType = try await setup.verify(sbomOnly, authority)
        #expect(!wrongType.passed)
        #expect(wrongType.reason == "no attestation of type \(type) signed by builder-key", "\(wrongType.reason)")
        await setup.fixture.stop()
    }

    /// "No critical vulnerabilities, scanned within the last 7 days": passes at the pinned time;
    /// three days later the same cached entry is re-evaluated and denies, without a refetch.
    @Test func anExpiredScanIsDeniedOnACacheHit() async throws {
        let setup = try await Setup()
        let scanned = try await setup.image("att/scanned:v1") { digest in
            [try await TestAttestation.envelope(
                TestAttestation.statement(for: digest, predicateType: TestAttestation.vuln, predicate: TestAttestation.scan(finished: "2026-01-05T12:00:00Z", critical: 0)),
                key: setup.key)]
        }
        let authority = TestAttestation.authority([try TestAttestation.requirement(
            "vuln", TestAttestation.vuln, keys: [try setup.key.trusted("scanner-key")],
            conditions: [
                #"{"path":"scanner.result.criticalCount","operator":"lessThanOrEqual","value":0}"#,
                #"{"path":"metadata.scanFinishedOn","operator":"notOlderThan","value":"7d"}"#,
            ])])
        let first = try await setup.verify(scanned, authority, revision: "r1")
        #expect(first.passed, "\(first.reason)")
        #expect(first.cache == .miss)
        setup.wall.advance(by: 3 * 86_400)
        let later = try await setup.verify(scanned, authority, revision: "r1")
        #expect(later.cache == .hit)
        #expect(!later.passed)
        #expect(later.failure == .conditionNotMet)
        #expect(later.reason == "vuln metadata.scanFinishedOn is 2026-01-05T12:00:00Z, expected a date not older than 7d (on or after 2026-01-06T00:00:00Z)",
                "\(later.reason)")

        // A scan with critical findings is denied naming the count.
        let critical = try await setup.image("att/critical:v1") { digest in
            [try await TestAttestation.envelope(
                TestAttestation.statement(for: digest, predicateType: TestAttestation.vuln, predicate: TestAttestation.scan(finished: "2026-01-12T00:00:00Z", critical: 3)),
                key: setup.key)]
        }
        let findings = try await setup.verify(critical, authority)
        #expect(!findings.passed)
        #expect(findings.reason == "vuln scanner.result.criticalCount is 3, expected a number <= 0", "\(findings.reason)")
        await setup.fixture.stop()
    }

    /// Two requirements with different signers: each attestation counts only for its own.
    @Test func eachRequirementHasItsOwnSigner() async throws {
        let setup = try await Setup()
        let both = try await setup.image("att/both:v1") { digest in
            [
                try await TestAttestation.envelope(
                    TestAttestation.statement(for: digest, predicateType: TestAttestation.provenanceV1, predicate: TestAttestation.provenance(builder: Self.runner)),
                    key: setup.key),
                try await TestAttestation.envelope(
                    TestAttestation.statement(for: digest, predicateType: "https://spdx.dev/Document",
                                              predicate: #"{"creationInfo":{"creators":["Tool: syft-1.4.1"]}}"#),
                    key: setup.stranger),
            ]
        }
        let sbom = { (key: TestSigningKey, source: String) throws in
            try TestAttestation.requirement("sbom", "https://spdx.dev/Document", keys: [try key.trusted(source)],
                                            conditions: [#"{"path":"creationInfo.creators.*","operator":"matches","value":"Tool: syft-.*"}"#])
        }
        let provenance = try TestAttestation.requirement("provenance", TestAttestation.provenanceV1, keys: [try setup.key.trusted("builder-key")])
        let right = try await setup.verify(both, TestAttestation.authority([provenance, try sbom(setup.stranger, "sbom-key")]))
        #expect(right.passed, "\(right.reason)")
        // The SBOM required from the builder's key: the stranger's SBOM does not count.
        let wrong = try await setup.verify(both, TestAttestation.authority([provenance, try sbom(setup.key, "builder-key")]))
        #expect(!wrong.passed)
        #expect(wrong.reason.hasPrefix("no attestation of type https://spdx.dev/Document signed by builder-key"), "\(wrong.reason)")
        await setup.fixture.stop()
    }

    /// Unsigned envelopes whose payload type or statement type is huge: the deny says what was
    /// wrong in bounded words, so an image's owner cannot make every copy of the reason (the
    /// admission answer, audit, events, alerts, reports) megabytes long.
    @Test func envelopeTextInADenyIsBounded() async throws {
        let setup = try await Setup()
        let long = String(repeating: "A", count: 256 * 1024)
        let junk = try await setup.image("att/junk:v1") { digest in
            (0..<6).map { index in
                TestAttestation.envelope(Array("{}".utf8), signature: [1, 2, 3], payloadType: long + "\(index)")
            } + (0..<3).map { index in
                TestAttestation.envelope(Array(#"{"_type":"\#(long)\#(index)"}"#.utf8), signature: [1, 2, 3])
            }
        }
        let result = try await setup.verify(junk, try provenanceAuthority(setup))
        #expect(!result.passed)
        #expect(result.reason.utf8.count < 8 * 1024, "a deny reason of \(result.reason.utf8.count) bytes")
        #expect(result.reason.contains("the envelope's payload type is AAAA"), "\(result.reason.prefix(300))")
        #expect(result.reason.contains("more"), "the rejections beyond the first few are counted, not listed")
        #expect(result.steps.allSatisfy { $0.detail.utf8.count <= 4 * UntrustedText.detailLimit }, "a step detail is bounded")
        await setup.fixture.stop()
    }

    /// The signature comes before the statement (DSSE `protocol.md`): a deeply nested payload
    /// that the JSON gate refuses, signed by a key the requirement does not trust, is refused at
    /// the signature step and never read; the same payload signed by the trusted key is read
    /// after its signature verified, and refused as a statement nested too deeply to read.
    @Test func anUnsignedPayloadIsRefusedAtTheSignatureWithoutBeingParsed() async throws {
        let setup = try await Setup()
        let nested = Array((String(repeating: "[", count: 1 << 20) + String(repeating: "]", count: 1 << 20)).utf8)
        let unsigned = try await setup.image("att/nested-unsigned:v1") { _ in
            [try await TestAttestation.envelope(nested, key: setup.stranger)]
        }
        let refused = try await setup.verify(unsigned, try provenanceAuthority(setup))
        #expect(!refused.passed)
        #expect(refused.failure == .noValidSignature)
        #expect(refused.reason.contains("an envelope not signed by the provenance signer (its statement was not read)"), "\(refused.reason.prefix(500))")
        #expect(!refused.reason.contains("JSON"), "the unsigned payload was parsed: \(refused.reason.prefix(500))")
        #expect(!refused.steps.contains { $0.name.hasSuffix("statement") }, "\(refused.steps.map(\.name))")
        #expect(refused.steps.contains { $0.name.hasSuffix("provenance signature") && !$0.passed }, "\(refused.steps.map(\.name))")

        let signed = try await setup.image("att/nested-signed:v1") { _ in
            [try await TestAttestation.envelope(nested, key: setup.key)]
        }
        let unreadable = try await setup.verify(signed, try provenanceAuthority(setup))
        #expect(!unreadable.passed)
        #expect(unreadable.reason.contains(
            "a statement signed by the provenance signer cannot be read: the DSSE payload is refused: the document nests JSON objects and arrays more than 128 deep"),
                "\(unreadable.reason.prefix(500))")
        await setup.fixture.stop()
    }

}
