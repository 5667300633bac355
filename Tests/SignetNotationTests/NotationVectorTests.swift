import Foundation
import SignetCrypto
import SignetNotation
import SignetTestSupport
import Testing

/// The outcomes the Notation vectors README lists, checked on the real envelopes at a pinned time.
@Suite struct NotationVectorTests {
    @Test func validSignatureVerifiesWithE2ECertificate() throws {
        let outcome = try NotationVectors.verify("e2e-valid-signature", policy: "trustpolicy.json", stores: NotationVectors.stores(ca: "e2e.crt"))
        #expect(outcome.passed, "\(outcome)")
        #expect(outcome.checks.map(\.check) == ["integrity", "authenticity", "expiry", "authenticTimestamp", "revocation"])
        #expect(outcome.signer?.contains("CN=e2e") == true)
        #expect(outcome.signingTimeSource?.contains("time of verification") == true)
    }

    /// A statement that lists a tsa store with `verifyTimestamp: always` (the vectors'
    /// `timestamp_trustpolicy.json`) requires a timestamp countersignature: the valid vector has
    /// none, so it fails the authentic-timestamp check though its certificate is valid (the Notary
    /// Project trust-policy specification; notation-go: "no timestamp countersignature was found").
    @Test func aTSAStoreWithVerifyTimestampAlwaysRequiresACountersignature() throws {
        let stores = try NotationVectors.stores(ca: "e2e.crt", extra: [
            .init(type: .tsa, name: "e2e"): try NotationVectors.certificates("config/timestamp/DigiCertTSARootSHA384.cer"),
        ])
        let outcome = try NotationVectors.verify("e2e-valid-signature", policy: "timestamp_trustpolicy.json", stores: stores)
        #expect(outcome.failure?.hasPrefix("authenticTimestamp validation failed: the signature has no timestamp countersignature") == true, "\(outcome.failure ?? "passed")")
        // afterCertExpiry: not while the certificate is valid.
        #expect(try NotationVectors.verify("e2e-valid-signature", policy: "timestamp_after_cert_expiry_trustpolicy.json", stores: stores).passed)
    }

    @Test func multipleSignaturesVerifyWhenOneIsTrusted() throws {
        let outcome = try NotationVectors.verify("e2e-valid-multiple-signatures", policy: "trustpolicy.json", stores: NotationVectors.stores(ca: "e2e.crt"))
        #expect(outcome.passed, "\(outcome)")
        #expect(try NotationVectors.envelopes("e2e-valid-multiple-signatures").count == 2)
    }

    @Test func newCertificateFailsAuthenticity() throws {
        let outcome = try NotationVectors.verify("e2e-valid-signature", policy: "trustpolicy.json", stores: NotationVectors.stores(ca: "new_e2e.crt"))
        #expect(!outcome.passed)
        #expect(outcome.failure?.hasPrefix("authenticity validation failed") == true, "\(outcome.failure ?? "")")
    }

    @Test func invalidSignatureFailsIntegrityAtEveryLevel() throws {
        for policy in ["trustpolicy.json", "permissive_trustpolicy.json", "audit_trustpolicy.json"] {
            let outcome = try NotationVectors.verify("e2e-invalid-signature", policy: policy, stores: NotationVectors.stores(ca: "e2e.crt"))
            #expect(outcome.failure?.hasPrefix("integrity validation failed") == true, "\(policy): \(outcome.failure ?? "passed")")
        }
    }

    @Test func expiredSignatureFailsStrictAndIsLoggedOtherwise() throws {
        let stores = try NotationVectors.stores(ca: "e2e.crt")
        let strict = try NotationVectors.verify("e2e-expired-signature", policy: "trustpolicy.json", stores: stores)
        #expect(strict.failure?.hasPrefix("expiry validation failed: digital signature has expired") == true, "\(strict.failure ?? "passed")")
        for policy in ["permissive_trustpolicy.json", "audit_trustpolicy.json", "override_strict_trustpolicy.json"] {
            let outcome = try NotationVectors.verify("e2e-expired-signature", policy: policy, stores: stores)
            #expect(outcome.passed, "\(policy): \(outcome.failure ?? "")")
            #expect(outcome.loggedFailures.contains { $0.hasPrefix("expiry was set to \"log\"") }, "\(policy)")
            // A logged expiry does not end the pass, so it does not bound how long it is kept:
            // a bound in the past would have every review verify again.
            #expect(outcome.validUntil.map { $0 > NotationVectors.pinnedTime } ?? true, "\(policy): \(String(describing: outcome.validUntil))")
        }
        let overridden = try NotationVectors.verify("e2e-expired-signature", policy: "override_permissive_trustpolicy.json", stores: stores)
        #expect(overridden.failure?.hasPrefix("expiry validation failed") == true)
        // Before the expiry the same signature passes under strict.
        let before = try NotationVectors.verify(
            "e2e-expired-signature", policy: "trustpolicy.json", stores: stores, at: ISO8601DateFormatter().date(from: "2023-06-27T05:20:50Z")!)
        #expect(before.passed, "\(before.failure ?? "")")
        // The pass says until when it holds: the signature's expiry. A cached pass must not
        // outlive it; verified again then, the signature fails.
        let validUntil = try #require(before.validUntil)
        #expect(validUntil > ISO8601DateFormatter().date(from: "2023-06-27T05:20:50Z")!)
        let justBefore = try NotationVectors.verify("e2e-expired-signature", policy: "trustpolicy.json", stores: stores, at: validUntil - 1)
        #expect(justBefore.passed, "\(justBefore.failure ?? "")")
        let then = try NotationVectors.verify("e2e-expired-signature", policy: "trustpolicy.json", stores: stores, at: validUntil)
        #expect(then.failure?.hasPrefix("expiry validation failed") == true, "\(then.failure ?? "passed")")
    }

    /// Judged at the time of verification (no timestamp), a pass holds until the chain expires.
    @Test func aPassJudgedNowHoldsUntilTheChainExpires() throws {
        let stores = try NotationVectors.stores(ca: "e2e.crt")
        let outcome = try NotationVectors.verify("e2e-valid-signature", policy: "trustpolicy.json", stores: stores)
        #expect(outcome.signingTimeSource?.contains("time of verification") == true)
        let validUntil = try #require(outcome.validUntil)
        #expect(try NotationVectors.verify("e2e-valid-signature", policy: "trustpolicy.json", stores: stores, at: validUntil - 1).passed)
        let then = try NotationVectors.verify("e2e-valid-signature", policy: "trustpolicy.json", stores: stores, at: validUntil + 1)
        #expect(then.failure?.hasPrefix("authenticTimestamp validation failed") == true, "\(then.failure ?? "passed")")
    }

    @Test func expiredCertificateFailsAuthenticTimestamp() throws {
        let stores = try NotationVectors.stores(ca: "expired_e2e.crt")
        let strict = try NotationVectors.verify("e2e-with-expired-cert", policy: "trustpolicy.json", stores: stores)
        #expect(strict.failure?.hasPrefix("authenticTimestamp validation failed") == true, "\(strict.failure ?? "passed")")
        for policy in ["permissive_trustpolicy.json", "audit_trustpolicy.json"] {
            let outcome = try NotationVectors.verify("e2e-with-expired-cert", policy: policy, stores: stores)
            #expect(outcome.passed, "\(policy): \(outcome.failure ?? "")")
            #expect(outcome.loggedFailures.contains { $0.hasPrefix("authenticTimestamp was set to \"log\"") })
        }
        // Inside the certificate's validity (2023-06-26 06:10 to 2023-06-27 06:10) it verifies.
        let inside = try NotationVectors.verify(
            "e2e-with-expired-cert", policy: "trustpolicy.json", stores: stores, at: ISO8601DateFormatter().date(from: "2023-06-27T06:00:00Z")!)
        #expect(inside.passed, "\(inside.failure ?? "")")
    }

    @Test func auditLogsAuthenticityAndSkipVerifiesNothing() throws {
        let audit = try NotationVectors.verify("e2e-valid-signature", policy: "audit_trustpolicy.json", stores: NotationVectors.stores(ca: "new_e2e.crt"))
        #expect(audit.passed)
        #expect(audit.loggedFailures.contains { $0.hasPrefix("authenticity was set to \"log\"") })
        let skip = try NotationVectors.trustPolicy("skip_trustpolicy.json").statement(for: "localhost:5000/e2e")
        #expect(skip?.level == .skip)
    }

    @Test func trustedIdentities() throws {
        let stores = try NotationVectors.stores(ca: "e2e.crt")
        #expect(try NotationVectors.verify("e2e-valid-signature", policy: "valid_trusted_identity_trustpolicy.json", stores: stores).passed)
        let outside = try NotationVectors.verify("e2e-valid-signature", policy: "invalid_trusted_identity_trustpolicy.json", stores: stores)
        #expect(outside.failure?.contains("does not match the X.509 trusted identities") == true, "\(outside.failure ?? "passed")")
    }

    @Test func missingTrustStoreFailsNamingIt() throws {
        let outcome = try NotationVectors.verify("e2e-valid-signature", policy: "invalid_trust_store_trustpolicy.json", stores: NotationVectors.stores(ca: "e2e.crt"))
        #expect(outcome.failure?.contains("the trust store \"invalid_store\" of type \"ca\" does not exist") == true)
        // Two stores: the certificate in either is trusted.
        let multiple = try NotationVectors.verify(
            "e2e-valid-signature", policy: "multiple_trust_store_trustpolicy.json",
            stores: NotationVectors.stores(ca: "new_e2e.crt", extra: [.init(type: .ca, name: "e2e-new"): NotationVectors.certificates("config/localkeys/e2e.crt")]))
        #expect(multiple.passed, "\(multiple.failure ?? "")")
    }

    @Test func registryScopes() throws {
        let policy = try NotationVectors.trustPolicy("multi_statements_with_wildcard_registry_scope_trustpolicy.json")
        #expect(policy.statement(for: "localhost:5000/test-repo9")?.name == "e2e")
        #expect(policy.statement(for: "localhost:5000/other")?.name == "e2e2")
        let exact = try NotationVectors.trustPolicy("registry_scope_trustpolicy.json")
        #expect(exact.statement(for: "localhost:5000/test-repo") != nil)
        #expect(exact.statement(for: "localhost:5000/test-repo-other") == nil)
        #expect(exact.statement(for: "localhost:5000/test") == nil)
    }

    /// The timestamped vector: signed by `testcert7` (valid 2025-01-21 08:36 to 2025-01-22 08:36)
    /// with an RFC 3161 countersignature whose TSA root is not among the vectors.
    @Test func timestampFromUntrustedTSAFailsAuthenticTimestamp() throws {
        let layout = "e2e-with-timestamped-signature"
        let envelope = try NotationVectors.envelopes(layout)[0]
        let parsed = try NotationEnvelope.parse(envelope.bytes, mediaType: envelope.mediaType)
        #expect(parsed.timestampToken != nil)
        #expect(parsed.expiry != nil)
        let signer = parsed.certificateChain[0]
        let target = NotationTarget(digest: "sha256:53b0191218aed9a3c1f7c661736ac40cfc8eb928642348fd843ba3f0483c0c20", mediaType: "application/vnd.oci.image.manifest.v1+json", size: 582)
        let stores = NotationTrustStores([
            .init(type: .ca, name: "e2e"): [signer],
            .init(type: .tsa, name: "e2e"): try NotationVectors.certificates("config/timestamp/DigiCertTSARootSHA384.cer"),
        ])
        let during = ISO8601DateFormatter().date(from: "2025-01-21T10:00:00Z")!
        let always = try NotationVectors.verify(layout, policy: "timestamp_trustpolicy.json", stores: stores, target: target, at: during)
        #expect(always.failure?.hasPrefix("authenticTimestamp validation failed: the timestamp countersignature is not from a trusted TSA") == true, "\(always.failure ?? "passed")")
        // afterCertExpiry: while the certificate is valid the timestamp is not needed.
        let after = try NotationVectors.verify(layout, policy: "timestamp_after_cert_expiry_trustpolicy.json", stores: stores, target: target, at: during)
        #expect(after.passed, "\(after.failure ?? "")")
    }

    /// The certificates of a real TSA (the timestamped vector's token: Microsoft's timestamping
    /// authority and its CA) meet the Notary Project's requirements for a timestamping chain,
    /// which the checks of every countersignature hold to; with the leaf's certificate in the
    /// place of its CA, they do not.
    @Test func aRealTSAChainMeetsTheTimestampingRequirements() throws {
        let envelope = try NotationVectors.envelopes("e2e-with-timestamped-signature")[0]
        let token = try #require(try NotationEnvelope.parse(envelope.bytes, mediaType: envelope.mediaType).timestampToken)
        let directory = TemporaryDirectory(prefix: "notation-tsa-vector")
        let file = directory.file("token.der")
        try Data(token).write(to: file)
        let printed = try TestProcess.run("openssl", ["pkcs7", "-inform", "DER", "-in", file.path, "-print_certs"])
        let certificates = try Certificate.certificates(pemEncoded: printed.stdout)
        let leaf = try #require(certificates.first { $0.subject.contains("Time Stamping Authority") })
        let authority = try #require(certificates.first { $0.subject.contains("Timestamping CA") })
        #expect(NotationCertificateProfile.timestampingProblem(in: [leaf, authority]) == nil)
        #expect(NotationCertificateProfile.timestampingProblem(in: [leaf, leaf])?.contains("timestamping CA certificate") == true)
        #expect(NotationCertificateProfile.timestampingProblem(in: [authority])?.contains("must not be a CA") == true)
    }

    /// The invalid timestamped vector: its countersignature is not a readable time-stamp token,
    /// so with a tsa store it fails the authentic-timestamp check; the signature itself is sound.
    @Test func unreadableCountersignatureFailsAuthenticTimestamp() throws {
        let layout = "e2e-with-invalid-timestamped-signature"
        let envelope = try NotationVectors.envelopes(layout)[0]
        let parsed = try NotationEnvelope.parse(envelope.bytes, mediaType: envelope.mediaType)
        #expect(parsed.verifyIntegrity() == nil)
        let target = NotationTarget(digest: "sha256:f1da8cd70d6d851fa2313c8d6618f79508cf1e86877edf1c0bfe49a1b0a6467a", mediaType: "application/vnd.oci.image.manifest.v1+json", size: 582)
        let stores = NotationTrustStores([
            .init(type: .ca, name: "e2e"): [parsed.certificateChain[0]],
            .init(type: .tsa, name: "e2e"): try NotationVectors.certificates("config/timestamp/globalsignTSARoot.cer"),
        ])
        let outcome = try NotationVectors.verify(layout, policy: "timestamp_trustpolicy.json", stores: stores, target: target, at: ISO8601DateFormatter().date(from: "2025-01-21T09:00:00Z")!)
        #expect(outcome.failure?.hasPrefix("authenticTimestamp validation failed: the timestamp countersignature") == true, "\(outcome.failure ?? "passed")")
    }
}
