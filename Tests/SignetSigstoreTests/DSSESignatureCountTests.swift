import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import Testing

/// A Sigstore bundle's DSSE envelope carries exactly one signature (`sigstore_bundle.proto`;
/// sigstore-go `ErrInvSigCount`). With more, the timestamp and the log entry could attest one
/// signature while another carried the verdict: an envelope `[old signature with its valid
/// timestamp, new signature]` would let a retired key keep signing.
///
/// The vector is sigstore-conformance `rekor2-dsse-happy-path` (Rekor v2, RFC 3161 timestamp,
/// Fulcio certificate) with a second signature appended: the DSSE signature of
/// `happy-path-intoto-in-dsse-v3`, a real signature by another Fulcio key.
@Suite("DSSE envelopes in bundles carry exactly one signature")
struct DSSESignatureCountTests {
    static let happyPath = ConformanceCase(name: "rekor2-dsse-happy-path")
    static let donor = ConformanceCase(name: "happy-path-intoto-in-dsse-v3")
    /// 2026-11-01T00:00:00Z, after the vector's signing time (as in ``ConformanceTests``).
    static let pinnedNow = Date(timeIntervalSince1970: 1_793_491_200)

    /// The bundle JSON with `extra` signatures appended to the envelope's list.
    static func tamperedJSON() throws -> [UInt8] {
        var document = try JSONSerialization.jsonObject(with: Data(contentsOf: happyPath.bundleURL)) as! [String: Any]
        let donorDocument = try JSONSerialization.jsonObject(with: Data(contentsOf: donor.bundleURL)) as! [String: Any]
        let donorSignatures = (donorDocument["dsseEnvelope"] as! [String: Any])["signatures"] as! [[String: Any]]
        var envelope = document["dsseEnvelope"] as! [String: Any]
        envelope["signatures"] = (envelope["signatures"] as! [[String: Any]]) + donorSignatures
        document["dsseEnvelope"] = envelope
        return [UInt8](try JSONSerialization.data(withJSONObject: document))
    }

    static func verify(_ bundle: SigstoreBundle) throws -> SigstoreVerificationResult {
        var configuration = SigstoreVerifierConfiguration()
        let now = Self.pinnedNow
        configuration.clock = { now }
        let verifier = SigstoreVerifier(trustedRoot: try TrustedRoot(contentsOf: happyPath.trustedRootURL!), configuration: configuration)
        let identity = CertificateIdentity(issuer: .exact(happyPath.issuer), subjectAlternativeName: .exact(happyPath.identity))
        let artifact = SigstoreArtifact.bytes([UInt8](try Data(contentsOf: happyPath.artifactURL)))
        return verifier.verify(bundle, policy: SigstoreVerificationPolicy(signer: .certificateIdentities([identity]), artifact: artifact))
    }

    @Test("the untampered vector verifies")
    func untampered() throws {
        let result = try Self.verify(try SigstoreBundle(contentsOf: Self.happyPath.bundleURL))
        #expect(result.isVerified, "\(result)")
    }

    @Test("reading a bundle whose envelope has two signatures refuses it, saying why")
    func parsingRefuses() throws {
        #expect {
            _ = try SigstoreBundle(json: Self.tamperedJSON())
        } throws: { error in
            "\(error)".contains("the envelope has 2 signatures; a Sigstore bundle's DSSE envelope must carry exactly one")
        }
    }

    @Test("a bundle built with a second envelope signature is refused at the first step")
    func verifierRefuses() throws {
        var bundle = try SigstoreBundle(contentsOf: Self.happyPath.bundleURL)
        let donor = try SigstoreBundle(contentsOf: Self.donor.bundleURL)
        guard case .dsseEnvelope(var envelope) = bundle.content, case .dsseEnvelope(let other) = donor.content else {
            Issue.record("both vectors hold DSSE envelopes")
            return
        }
        envelope.signatures += other.signatures
        bundle.content = .dsseEnvelope(envelope)

        let result = try Self.verify(bundle)
        #expect(!result.isVerified)
        #expect(result.steps.first?.kind == .transparencyLog)
        #expect(result.steps.dropFirst().allSatisfy { $0.outcome == .notRun }, "\(result)")
        #expect(result.failure?.description.contains("the envelope has 2 signatures") == true, "\(result)")
    }
}
