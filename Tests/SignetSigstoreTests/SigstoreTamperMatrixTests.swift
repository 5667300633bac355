import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import Testing

/// Tamper matrix over valid Sigstore bundles (sigstore-conformance cases that verify): every
/// single-point change of a signature, certificate, Rekor entry (body, SET, inclusion proof,
/// checkpoint), timestamp or DSSE envelope, every removed member and swapped list, run through
/// the real verifier with the case's trusted root and identity, must be refused.
@Suite("Tamper matrix: Sigstore bundles")
struct SigstoreTamperMatrixTests {
    static let cases = [
        "happy-path-v0.3", "happy-path-intoto-in-dsse-v3", "rekor2-happy-path", "rekor2-dsse-happy-path",
        "managed-key-happy-path", "rekor2-timestamp-with-embedded-cert",
    ]

    /// What no signature covers and no decision reads, for the case `name`.
    static func unsigned(_ name: String) -> [String: String] {
        var unsigned = [
            "messageSignature.messageDigest removed": "the artifact's digest is computed from the artifact; the bundle's copy is optional",
        ]
        if name.hasPrefix("managed-key") {
            unsigned["verificationMaterial.publicKey.hint"] = "a lookup hint: the key is the policy's"
            unsigned["verificationMaterial.tlogEntries[0].inclusionPromise removed"] =
                "with an inclusion proof and a signed checkpoint, the signed entry timestamp is optional (bundle v0.3)"
            unsigned["verificationMaterial.timestampVerificationData removed"] = "a managed key has no validity period: no signing time is needed"
            unsigned["verificationMaterial.timestampVerificationData.rfc3161Timestamps removed"] =
                "a managed key has no validity period: no signing time is needed"
        }
        return unsigned
    }

    /// Whether `bundle` verifies for `testCase` (its root, signer and artifact, its pinned clock).
    static func verifies(_ testCase: ConformanceCase, bundle bytes: [UInt8]) -> Bool {
        guard case .success(let verification) = verification(testCase, bundle: bytes) else { return false }
        return verification.failure == nil
    }

    /// `bundle` verified for `testCase`, or why it could not be read.
    static func verification(_ testCase: ConformanceCase, bundle bytes: [UInt8]) -> Result<SigstoreVerificationResult, any Error> {
        Result { () throws -> SigstoreVerificationResult in
            let root = try testCase.trustedRootURL.map { try TrustedRoot(contentsOf: $0) } ?? TrustedRoot.production()
            let bundle = try SigstoreBundle(json: bytes)
            let artifact = SigstoreArtifact.bytes([UInt8](try Data(contentsOf: testCase.artifactURL)))
            let signer: SigstoreVerificationPolicy.Signer = if let keyURL = testCase.keyURL {
                .publicKey(try PublicKey(pem: String(contentsOf: keyURL, encoding: .utf8)))
            } else {
                .certificateIdentities([CertificateIdentity(issuer: .exact(testCase.issuer), subjectAlternativeName: .exact(testCase.identity))])
            }
            var configuration = SigstoreVerifierConfiguration()
            configuration.clock = { ConformanceTests.pinnedNow }
            return SigstoreVerifier(trustedRoot: root, configuration: configuration)
                .verify(bundle, policy: SigstoreVerificationPolicy(signer: signer, artifact: artifact))
        }
    }

    /// A Rekor v2 entry whose index is not its inclusion proof's is refused at the log step,
    /// naming both (the proof, the checkpoint and the body still verify: only the index moved).
    @Test(arguments: ["rekor2-happy-path", "rekor2-dsse-happy-path"], [1, -1])
    func aRekorV2IndexOtherThanTheProofsIsRefused(_ name: String, shift: Int) throws {
        let testCase = ConformanceCase(name: name)
        var bundle = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: testCase.bundleURL)) as? [String: Any])
        var material = try #require(bundle["verificationMaterial"] as? [String: Any])
        var entries = try #require(material["tlogEntries"] as? [[String: Any]])
        let text = try #require(entries[0]["logIndex"] as? String)
        let index = try #require(Int(text))
        entries[0]["logIndex"] = String(index + shift)
        material["tlogEntries"] = entries
        bundle["verificationMaterial"] = material
        let tampered = [UInt8](try JSONSerialization.data(withJSONObject: bundle))
        let verification = try Self.verification(testCase, bundle: tampered).get()
        let failure = try #require(verification.failure, "a moved index verified")
        #expect(failure.step == .transparencyLog, "\(failure)")
        #expect(failure.description.contains("Rekor v2 entry \(index + shift) carries an inclusion proof for index \(index)"), "\(failure)")
    }

    @Test(arguments: cases)
    func everyMutationIsRefused(_ name: String) async throws {
        let testCase = ConformanceCase(name: name)
        let original = [UInt8](try Data(contentsOf: testCase.bundleURL))
        // The document as the matrix writes it back, unchanged, still verifies.
        #expect(Self.verifies(testCase, bundle: try TamperJSON.parse(original).serialized()))
        let unsigned = Self.unsigned(name)
        let mutations = try TamperMutation.json(original, unsigned: unsigned)
        let outcome = await TamperOutcome.run(matrix: "sigstore-bundle", artifact: name, mutations, unsigned: unsigned) {
            Self.verifies(testCase, bundle: $0.bytes)
        }
        #expect(outcome.mutations >= 20)
        #expect(outcome.falseAllows.isEmpty, "\(outcome.falseAllows)")
    }
}
