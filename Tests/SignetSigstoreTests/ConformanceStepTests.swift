import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import Testing

/// Every `_fail` case of sigstore-conformance is refused at the step it was made for, with its
/// reason: a case refused one step early (or for a reason it was not written to test) would let
/// the check it targets regress unnoticed.
///
/// `step` is the first failed step of the result (`tlog`, `timestamps`, `chain`, `sct`,
/// `signature`, `identity`), or `bundle` / `key` when the bundle or the key is refused as it is
/// read, before any step runs. The clock is pinned as in ``ConformanceTests`` unless a case says
/// otherwise.
@Suite("sigstore-conformance: the step that refuses each _fail case", .tags(.conformance))
struct ConformanceStepTests {
    struct Expected: Sendable {
        var step: String
        var reason: String
    }

    static let expected: [String: Expected] = [
        "bundle-empty-certificate-chain_fail": .init(step: "bundle", reason: "has no x509CertificateChain.certificates"),
        "bundle-from-wrong-instance_fail": .init(step: "tlog", reason: "0 entries from distinct trusted logs verified"),
        "bundle-invalid-base64-signature_fail": .init(step: "bundle", reason: "messageSignature.signature is not valid base64"),
        "bundle-malformed-json_fail": .init(step: "bundle", reason: "is not valid JSON"),
        "bundle-negative-log-index_fail": .init(step: "bundle", reason: "negative logIndex -1"),
        "bundle-unknown-version_fail": .init(step: "bundle", reason: "unsupported bundle media type"),
        // v0.1 bundles whose inclusion proof carries no checkpoint: refused as they are read,
        // before the root certificate in the chain (and the corrupted proof) are looked at.
        "bundle-with-root-cert_fail": .init(step: "bundle", reason: "inclusionProof has no checkpoint"),
        "invalid-inclusion-proof_fail": .init(step: "bundle", reason: "inclusionProof has no checkpoint"),
        "checkpoint-bad-keyhint_fail": .init(step: "tlog", reason: "checkpoint has no valid signature"),
        "checkpoint-wrong-roothash_fail": .init(step: "tlog", reason: "does not match the inclusion proof"),
        "dsse-invalid-sig_fail": .init(step: "tlog", reason: "the logged signature is not the envelope's signature"),
        "dsse-mismatch-envelope_fail": .init(step: "tlog", reason: "the logged payload hash is not the hash of the envelope's payload"),
        "dsse-mismatch-sig_fail": .init(step: "tlog", reason: "the logged signature is not the envelope's signature"),
        "inclusion-proof-corrupted-hash_fail": .init(step: "tlog", reason: "inclusion proof of entry"),
        "incorrect-public-key_fail": .init(step: "tlog", reason: "signed entry timestamp of entry"),
        "intoto-expired-certificate_fail": .init(step: "chain", reason: "certificate path invalid"),
        "intoto-log-entry-mismatch_fail": .init(step: "tlog", reason: "the logged signature is not the envelope's signature"),
        "intoto-missing-inclusion-proof_fail": .init(step: "bundle", reason: "v0.2 bundles need an inclusion proof"),
        "intoto-set-outside-signing-cert-validity_fail": .init(step: "chain", reason: "(tlog http://localhost:8000)"),
        "intoto-tsa-timestamp-outside-cert-validity_fail": .init(step: "chain", reason: "(TSA http://localhost:8000)"),
        "invalid-checkpoint-signature_fail": .init(step: "tlog", reason: "checkpoint has no valid signature"),
        "invalid-ct-key_fail": .init(step: "sct", reason: "SCT from unknown log"),
        "managed-key-no-key_fail": .init(step: "tlog", reason: "names a managed key (no certificate) but no key was given"),
        // The upstream key.pub is deliberately corrupt; see `aWellFormedWrongKeyIsRefused` for
        // the case's purpose.
        "managed-key-wrong-key_fail": .init(step: "key", reason: "not a valid SubjectPublicKeyInfo"),
        "message-digest-mismatch_fail": .init(step: "tlog", reason: "is not the bundle's message digest"),
        "rekor2-checkpoint-missing-log-signature_fail": .init(step: "tlog", reason: "is not a signed note with origin, size and root hash"),
        "rekor2-checkpoint-missing-origin_fail": .init(step: "tlog", reason: "is not a signed note with origin, size and root hash"),
        "rekor2-checkpoint-missing-root-hash_fail": .init(step: "tlog", reason: "is not a signed note with origin, size and root hash"),
        "rekor2-checkpoint-missing-size_fail": .init(step: "tlog", reason: "is not a signed note with origin, size and root hash"),
        "rekor2-checkpoint-no-matching-signature_fail": .init(step: "tlog", reason: "checkpoint has no valid signature"),
        "rekor2-dsse-invalid-sig_fail": .init(step: "tlog", reason: "the logged signature or key is not the envelope's"),
        "rekor2-dsse-mismatch-envelope_fail": .init(step: "tlog", reason: "the logged digest is not the digest of the envelope's PAE"),
        "rekor2-dsse-mismatch-sig_fail": .init(step: "tlog", reason: "the logged signature or key is not the envelope's"),
        "rekor2-no-inclusion-proof_fail": .init(step: "bundle", reason: "v0.3 bundles need an inclusion proof"),
        "rekor2-no-timestamp_fail": .init(step: "timestamps", reason: "needs an RFC 3161 timestamp"),
        "rekor2-timestamp-outside-trust-root-tsa-validity_fail": .init(step: "timestamps", reason: "is trusted only"),
        "rekor2-timestamp-outside-tsa-cert-validity_fail": .init(step: "timestamps", reason: "RFC 3161 time-stamp token invalid"),
        "rekor2-timestamp-payload-mismatch_fail": .init(step: "timestamps", reason: "RFC 3161 time-stamp token"),
        "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail": .init(step: "timestamps", reason: "is not from a trusted TSA"),
        "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail": .init(step: "timestamps", reason: "is not from a trusted TSA"),
        "rekor2-timestamp-with-incorrect-time_fail": .init(step: "chain", reason: "(TSA https://timestamp.sigstage.dev"),
        "set-invalid-signature_fail": .init(step: "tlog", reason: "signed entry timestamp of entry"),
        "signature-mismatch_fail": .init(step: "tlog", reason: "the logged signature is not the bundle's signature"),
        "trust-root-tlog-missing-validity-start_fail": .init(step: "timestamps", reason: "is trusted only [none, open]"),
        "wrong-hashedrekord-artifact_fail": .init(step: "tlog", reason: "the logged signature is not the bundle's signature"),
        "wrong-hashedrekord-cert-and-sig_fail": .init(step: "tlog", reason: "the logged signature is not the bundle's signature"),
        "wrong-hashedrekord-entry_fail": .init(step: "tlog", reason: "the logged signature is not the bundle's signature"),
        "wrong-material_fail": .init(step: "tlog", reason: "is not the artifact's"),
    ]

    /// Clocks for cases made to test time itself. `integrated-time-in-future_fail` was integrated
    /// on 2026-05-07T15:34:11Z with a certificate valid 15:18 to 15:28 that day: at the suite's
    /// usual pinned clock (2026-11-01) that time is past and the certificate-chain step refuses
    /// first; at 15:20 the same day the certificate is valid and the entry's time lies in the
    /// future, which is what the case tests.
    static let clocks: [String: Date] = [
        "integrated-time-in-future_fail": Date(timeIntervalSince1970: 1_778_167_200),  // 2026-05-07T15:20:00Z
    ]

    static let expectedWithClock: [String: Expected] = [
        "integrated-time-in-future_fail": .init(step: "tlog", reason: "future"),
    ]

    /// The step that refused, and why.
    static func refusal(_ testCase: ConformanceCase, form: ArtifactForm, key: PublicKey? = nil) -> (step: String, reason: String) {
        let now = clocks[testCase.name] ?? ConformanceTests.pinnedNow
        switch ConformanceTests.verify(testCase, form: form, now: now, key: key) {
        case .success(let result):
            guard let failure = result.failure else { return ("verified", "") }
            let failed = result.steps.first { if case .failed = $0.outcome { true } else { false } }
            return (failed?.kind.rawValue ?? failure.step.rawValue, failure.description)
        case .failure(let error):
            let reason = String(describing: error)
            return (error is PublicKeyError ? "key" : "bundle", reason)
        }
    }

    @Test("every _fail case is listed") func everyFailCaseIsListed() {
        let failing = Set(ConformanceCase.all.filter { !$0.expectsSuccess }.map(\.name))
        #expect(failing == Set(Self.expected.keys).union(Self.expectedWithClock.keys), "add new cases with the step that must refuse them")
    }

    @Test(arguments: ConformanceCase.all.filter { !$0.expectsSuccess }, ArtifactForm.allCases)
    func refusedAtItsStep(_ testCase: ConformanceCase, form: ArtifactForm) {
        guard let expected = Self.expectedWithClock[testCase.name] ?? Self.expected[testCase.name] else { return }
        let (step, reason) = Self.refusal(testCase, form: form)
        #expect(step == expected.step, "\(testCase.name) (\(form)): refused at \(step): \(reason)")
        #expect(reason.contains(expected.reason), "\(testCase.name) (\(form)): \(reason)")
    }

    /// `managed-key-wrong-key_fail` with a well-formed key of another signer (its own `key.pub` is
    /// corrupt, so it only tests the key parser): refused because the log entry and the signature
    /// are not that key's.
    @Test func aWellFormedWrongKeyIsRefused() async throws {
        let testCase = try #require(ConformanceCase.all.first { $0.name == "managed-key-wrong-key_fail" })
        let pki = try await offThePool { try TestPKI() }
        let pem = try await TestProcess.run("openssl", ["pkey", "-in", pki.serverKeyFile, "-pubout"])
        let other = try PublicKey(pem: pem.stdout)
        for form in ArtifactForm.allCases {
            let (step, reason) = Self.refusal(testCase, form: form, key: other)
            #expect(step == "tlog", "\(form): refused at \(step): \(reason)")
            #expect(reason.contains("key"), "\(form): \(reason)")
        }
    }
}
