import Foundation
import SignetCrypto
@testable import SignetSigstore
import SignetTestSupport
import Testing

/// The private Sigstore's CT log, TSA and DSSE cases (`Tests/SigstoreFixture/private_sigstore.py`):
/// leaves of the trusted CA carrying embedded SCTs made by the RFC 6962 precertificate flow,
/// RFC 3161 tokens from OpenSSL's responder, and an in-toto statement in a DSSE envelope. Each
/// bundle's log entry matches what it carries, so each is allowed or refused by the step under test.
extension PrivateSigstoreTests {
    /// Verifies a keyless case against the exact identity, the artifact or (DSSE) the image digest.
    static func verifyKeyless(
        _ name: String, in fixture: TemporaryDirectory, signedCertificateTimestampThreshold: Int = 1, imageDigest: Bool = false
    ) throws -> SigstoreVerificationResult {
        let artifact: SigstoreArtifact
        if imageDigest {
            let text = try String(contentsOf: fixture.file("image-digest"), encoding: .utf8)
            artifact = .digest(try #require(ArtifactDigest(parsing: text)))
        } else {
            artifact = .bytes([UInt8](try Data(contentsOf: fixture.file("artifact"))))
        }
        return try keylessVerifier(fixture, signedCertificateTimestampThreshold: signedCertificateTimestampThreshold).verify(
            try SigstoreBundle(contentsOf: fixture.file("\(name).json")),
            policy: SigstoreVerificationPolicy(signer: .certificateIdentities([identity]), artifact: artifact))
    }

    /// What a step of `result` concluded, in the words of ``SigstoreVerificationStep/description``.
    static func step(_ kind: SigstoreVerificationStep.Kind, of result: SigstoreVerificationResult) -> String {
        result.steps.first { $0.kind == kind }?.description ?? "\(kind.rawValue): absent"
    }

    /// RFC 6962 section 3.3 as sigstore-go counts SCTs: valid SCTs from distinct logs of the
    /// trusted root; an SCT from a log the root does not name, or whose signature does not verify,
    /// is skipped, and the certificate is refused at the SCT step when too few remain.
    @Test func embeddedSCTsAreCheckedAgainstTheTrustedCTLogs() async throws {
        let fixture = try await Self.fixture()
        let unknown = try String(contentsOf: fixture.file("foreign-ctlog-id"), encoding: .utf8)

        let valid = try Self.verifyKeyless("keyless-valid", in: fixture)
        #expect(valid.failure == nil, "\(valid.steps)")
        #expect(Self.step(.certificateTransparency, of: valid) == "sct: passed (SCT from https://ctfe.signet.test)")

        // An SCT from an unknown log beside a valid one is skipped, and the valid one suffices.
        let mixed = try Self.verifyKeyless("sct-unknown-and-trusted", in: fixture)
        #expect(mixed.failure == nil, "\(mixed.steps)")
        #expect(Self.step(.certificateTransparency, of: mixed)
            == "sct: passed (SCT from https://ctfe.signet.test (skipped: SCT from unknown log \(unknown)))")

        let refused: [(String, String)] = [
            ("sct-from-unknown-log", "SCT from unknown log \(unknown)"),
            ("sct-signature-flipped", "SCT signature by https://ctfe.signet.test does not verify"),
            ("sct-none", "the certificate has no embedded SCTs"),
        ]
        for (name, why) in refused {
            let result = try Self.verifyKeyless(name, in: fixture)
            let refusal = Self.outcome(result)
            #expect(refusal.step == "sct", "\(name): refused at \(refusal.step): \(refusal.reason)")
            #expect(refusal.reason == "certificate transparency: valid SCTs from 0 distinct trusted logs, 1 required: \(why)", "\(name)")
            // Every earlier step passed: the SCT is the only thing wrong.
            for kind in [SigstoreVerificationStep.Kind.transparencyLog, .timestamps, .certificateChain] {
                #expect(Self.step(kind, of: result).hasPrefix("\(kind.rawValue): passed"), "\(name): \(Self.step(kind, of: result))")
            }
        }

        // Two SCTs from one log count once: enough for one required, not for two.
        let twice = try Self.verifyKeyless("sct-same-log-twice", in: fixture)
        #expect(twice.failure == nil, "\(twice.steps)")
        let twoRequired = Self.outcome(try Self.verifyKeyless("sct-same-log-twice", in: fixture, signedCertificateTimestampThreshold: 2))
        #expect(twoRequired.step == "sct", "\(twoRequired)")
        #expect(twoRequired.reason == "certificate transparency: valid SCTs from 1 distinct trusted logs, 2 required", "\(twoRequired)")
    }

    /// A time a trusted TSA vouches for must not lie after now (beyond the allowed skew), as a
    /// log's integrated time may not: an authority whose clock ran ahead, or whose key was misused,
    /// would otherwise date a signature into a certificate's future validity.
    @Test func aTimestampInTheFutureIsRefused() async throws {
        let fixture = try await Self.fixture()
        var configuration = SigstoreVerifierConfiguration()
        configuration.clock = { Date(timeIntervalSince1970: 1_767_225_600) }  // two minutes before the token's time
        let verifier = SigstoreVerifier(trustedRoot: try TrustedRoot(contentsOf: fixture.file("trusted_root.json")), configuration: configuration)
        let result = verifier.verify(
            try SigstoreBundle(contentsOf: fixture.file("tsa-valid.json")),
            policy: SigstoreVerificationPolicy(signer: .certificateIdentities([Self.identity]), artifact: .bytes([UInt8](try Data(contentsOf: fixture.file("artifact"))))))
        let outcome = Self.outcome(result)
        #expect(outcome.step == "timestamps", "\(outcome)")
        #expect(outcome.reason.contains("timestamp 0 at 2026-01-01T00:02:00Z from https://tsa.signet.test is in the future"), "\(outcome)")
    }

    /// A Rekor v1 entry proven by its inclusion proof alone carries no time the log signed: its
    /// log must be valid at the verified timestamps, as a Rekor v2 log must. A log the trusted
    /// root retired before the TSA's time (its key may since have leaked) vouches for nothing.
    @Test func aProofOnlyEntryNeedsItsLogValidAtTheVerifiedTimes() async throws {
        let fixture = try await Self.fixture()
        var root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: fixture.file("trusted_root.json"))) as? [String: Any])
        var logs = try #require(root["tlogs"] as? [[String: Any]])
        var key = try #require(logs[0]["publicKey"] as? [String: Any])
        key["validFor"] = ["start": "2025-01-01T00:00:00Z", "end": "2025-12-31T00:00:00Z"]
        logs[0]["publicKey"] = key
        root["tlogs"] = logs
        try JSONSerialization.data(withJSONObject: root).write(to: fixture.file("trusted_root.json"))

        let retired = Self.outcome(try Self.verifyKeyless("tsa-valid", in: fixture))
        #expect(retired.step == "timestamps", "\(retired)")
        #expect(retired.reason.contains("is trusted only"), "\(retired)")
        #expect(retired.reason.contains("not at 2026-01-01T00:02:00Z"), "\(retired)")
    }

    /// RFC 3161 timestamps from the trusted root's TSA. The cases' log entries have an inclusion
    /// proof but no SET, so the token is the signature's only time; their leaf was valid for ten
    /// minutes around 2026-01-01 and has long expired at the pinned clock.
    @Test func rfc3161TimestampsFromTheTrustedTSAEstablishTheSigningTime() async throws {
        let fixture = try await Self.fixture()
        let leaf = try #require(try SigstoreBundle(contentsOf: fixture.file("tsa-valid.json")).certificate)
        #expect(leaf.notValidAfter < Self.now, "the leaf has expired at the pinned clock")

        let valid = try Self.verifyKeyless("tsa-valid", in: fixture)
        #expect(valid.failure == nil, "\(valid.steps)")
        #expect(Self.step(.timestamps, of: valid) == "timestamps: passed (2026-01-01T00:02:00Z (TSA https://tsa.signet.test))")
        #expect(Self.step(.certificateChain, of: valid).contains("at 2026-01-01T00:02:00Z"), "\(Self.step(.certificateChain, of: valid))")

        // Without the token the signature has no verified time at all.
        let none = Self.outcome(try Self.verifyKeyless("tsa-none", in: fixture))
        #expect(none.step == "timestamps", "\(none)")
        #expect(none.reason == "timestamps: 0 verified timestamps, 1 required", "\(none)")

        // A TSA with the same names and URI but other keys.
        let untrusted = Self.outcome(try Self.verifyKeyless("tsa-untrusted", in: fixture))
        #expect(untrusted.step == "timestamps", "\(untrusted)")
        #expect(untrusted.reason.hasPrefix(
            "timestamps: timestamp 0 at 2026-01-01T00:02:00Z is not from a trusted TSA: https://tsa.signet.test: RFC 3161 time-stamp token invalid:"),
            "\(untrusted)")
        #expect(untrusted.reason.contains("certificate verify error"), "\(untrusted)")

        // A token signed by another time-stamping certificate of the same CA, embedded in the
        // token: a genuine chain, but not the authority the trusted root names.
        let sibling = Self.outcome(try Self.verifyKeyless("tsa-sibling", in: fixture))
        #expect(sibling.step == "timestamps", "\(sibling)")
        #expect(sibling.reason.contains("signed by a certificate other than the authority's signing certificate"), "\(sibling)")
        // A trusted root that lists the authority by its CA alone names no signing certificate:
        // every time-stamping certificate that CA issued signs for it, the sibling's too.
        var caOnly = try TrustedRoot(contentsOf: fixture.file("trusted_root.json"))
        let chain = caOnly.timestampAuthorities[0].certificates
        #expect(chain.count == 2)
        #expect(SigstoreVerifier.signingCertificate(of: caOnly.timestampAuthorities[0]) == chain.first)
        caOnly.timestampAuthorities[0].certificates = [chain[1]]
        #expect(SigstoreVerifier.signingCertificate(of: caOnly.timestampAuthorities[0]) == nil)
        var configuration = SigstoreVerifierConfiguration()
        configuration.clock = { Self.now }
        for name in ["tsa-valid", "tsa-sibling"] {
            let result = try SigstoreVerifier(trustedRoot: caOnly, configuration: configuration).verify(
                try SigstoreBundle(contentsOf: fixture.file("\(name).json")),
                policy: SigstoreVerificationPolicy(signer: .certificateIdentities([Self.identity]), artifact: .bytes([UInt8](try Data(contentsOf: fixture.file("artifact"))))))
            #expect(result.failure == nil, "\(name): \(result.steps)")
        }

        // The artifact stamped instead of the signature.
        let otherData = Self.outcome(try Self.verifyKeyless("tsa-other-data", in: fixture))
        #expect(otherData.step == "timestamps", "\(otherData)")
        #expect(otherData.reason.hasPrefix("timestamps: timestamp 0 at 2026-01-01T00:02:00Z is not from a trusted TSA: https://tsa.signet.test:"),
                "\(otherData)")
        #expect(otherData.reason.contains("message imprint mismatch"), "\(otherData)")

        // A genuine token from the trusted TSA, ten minutes after the leaf expired: the chain is
        // validated at the token's time.
        let outside = Self.outcome(try Self.verifyKeyless("tsa-outside-validity", in: fixture))
        #expect(outside.step == "chain", "\(outside)")
        #expect(outside.reason == "certificate chain: not valid at 2026-01-01T00:20:00Z (TSA https://tsa.signet.test): "
            + "https://fulcio.signet.test: certificate path invalid at 2026-01-01T00:20:00Z: certificate has expired (depth 0)", "\(outside)")
    }

    /// A statement larger than a registry document (an SBOM's) has its subjects matched only
    /// once the signer is one of the policy's identities: any Fulcio identity can sign one, and
    /// Foundation indexes all of it to find them. Under another identity the statement is never
    /// read (the identity step refuses it, not the subject match); under the policy's, a large
    /// statement about the image verifies and one about another digest is refused.
    @Test func aLargeStatementIsMatchedOnlyOnceItsSignerIsTrusted() async throws {
        let fixture = try await Self.fixture()
        let large = try Self.verifyKeyless("dsse-large", in: fixture, imageDigest: true)
        #expect(large.failure == nil, "\(large.steps)")

        let other = Self.outcome(try Self.verifyKeyless("dsse-large-other-subject", in: fixture, imageDigest: true))
        #expect(other.step == "identity", "\(other)")
        #expect(other.reason.contains("the artifact is not a subject of the in-toto statement"), "\(other)")

        let digest = try String(contentsOf: fixture.file("image-digest"), encoding: .utf8)
        let stranger = CertificateIdentity(issuer: .exact("https://issuer.signet.test"), subjectAlternativeName: .exact("someone-else@signet.test"))
        let unread = Self.outcome(try Self.keylessVerifier(fixture).verify(
            try SigstoreBundle(contentsOf: fixture.file("dsse-large-other-subject.json")),
            policy: SigstoreVerificationPolicy(
                signer: .certificateIdentities([stranger]), artifact: .digest(try #require(ArtifactDigest(parsing: digest))))))
        #expect(unread.step == "identity", "\(unread)")
        #expect(!unread.reason.contains("subject of the in-toto statement"), "the statement was read: \(unread)")
    }

    /// A DSSE envelope of an in-toto statement about an image digest, signed by the trusted CA's
    /// leaf and logged as a Rekor `dsse` entry with a SET and an inclusion proof; with one bit of
    /// its signature flipped (and logged as flipped) it reaches the signature step and is refused.
    @Test func aDSSEStatementSignedByTheCAVerifiesAndAFlippedBitIsRefusedAtTheSignature() async throws {
        let fixture = try await Self.fixture()
        let valid = try Self.verifyKeyless("dsse-valid", in: fixture, imageDigest: true)
        #expect(valid.failure == nil, "\(valid.steps)")
        #expect(Self.step(.transparencyLog, of: valid).contains("(dsse 0.0.1): SET, inclusion proof at tree size 10"),
                "\(Self.step(.transparencyLog, of: valid))")
        #expect(Self.step(.signature, of: valid).hasPrefix("signature: passed (DSSE application/vnd.in-toto+json signed by"))
        #expect(valid.matchedIdentity == Self.identity)

        let flipped = try Self.verifyKeyless("dsse-signature-flipped", in: fixture, imageDigest: true)
        let refusal = Self.outcome(flipped)
        #expect(refusal.step == "signature", "\(refusal)")
        #expect(refusal.reason.hasPrefix("signature: the DSSE signature does not verify with "), "\(refusal)")
        #expect(refusal.reason.contains(" over the envelope's PAE"), "\(refusal)")
        for kind in [SigstoreVerificationStep.Kind.transparencyLog, .timestamps, .certificateChain, .certificateTransparency] {
            #expect(Self.step(kind, of: flipped).hasPrefix("\(kind.rawValue): passed"), "\(Self.step(kind, of: flipped))")
        }
    }
}
