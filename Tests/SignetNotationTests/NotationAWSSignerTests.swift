import Foundation
import SignetCrypto
import SignetNotation
import SignetTestSupport
import Testing

/// AWS Signer's envelopes, made by the tests' own PKI in AWS Signer's shape (a root, an
/// intermediate and a leaf with AWS Signer's generic subject; scheme
/// `notary.x509.signingAuthority`; the critical `io.cncf.notary.verificationPlugin` naming AWS
/// Signer's plugin and its signing profile version and job attributes), verified with the
/// plugin's checks: the signer is the signing profile a trusted identity ARN names, never the
/// certificate's subject, which every AWS account shares.
@Suite struct NotationAWSSignerTests {
    static let profile = "arn:aws:signer:us-west-2:111122223333:/signing-profiles/release"
    static let version = profile + "/AbCdEf1234"
    static let job = "arn:aws:signer:us-west-2:111122223333:/signing-jobs/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

    /// A JWS protected header as AWS Signer writes it; `extra` adds members, `critical` replaces `crit`.
    static func header(
        signedAt: Date, scheme: String = "notary.x509.signingAuthority", plugin: String? = AWSSigner.pluginName,
        extra: [String: String] = [:], critical: [String]? = nil, leaving: Set<String> = []
    ) -> String {
        var members: [String: String] = [
            "alg": "PS256", "cty": "application/vnd.cncf.notary.payload.v1+json",
            "io.cncf.notary.signingScheme": scheme,
            "io.cncf.notary.authenticSigningTime": ISO8601DateFormatter().string(from: signedAt),
            "com.amazonaws.signer.signingProfileVersion": version,
            "com.amazonaws.signer.signingJob": job,
        ]
        if let plugin { members["io.cncf.notary.verificationPlugin"] = plugin }
        members.merge(extra) { _, new in new }
        for name in leaving { members[name] = nil }
        let crit = critical ?? ["io.cncf.notary.signingScheme", "io.cncf.notary.authenticSigningTime"]
            + members.keys.filter { $0.hasPrefix("com.amazonaws.") || $0.hasPrefix("io.cncf.notary.verificationPlugin") }.sorted()
        let object: [String: Any] = members.mapValues { $0 as Any }.merging(["crit": crit]) { _, new in new }
        return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    func verify(_ envelope: [UInt8], identities: [String], override: [String: String] = ["revocation": "log"], signer: NotationTestSigner) throws -> NotationVerification {
        let statement = try NotationTestSigner.statement(stores: ["signingAuthority:aws-signer-ts"], identities: identities, override: override)
        let stores = NotationTrustStores([.init(type: .signingAuthority, name: "aws-signer-ts"): [signer.root]])
        return NotationVerifier(statement: statement, stores: stores)
            .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: signer.validTime)
    }

    @Test func theSigningProfileIsTheSigner() async throws {
        let signer = try await offThePool {
            try NotationTestSigner(leafSubject: "/C=US/ST=WA/L=Seattle/O=AWS/OU=AWS Cryptography/CN=AWS Signer", intermediate: true)
        }
        let envelope = try await offThePool { try signer.jws(protected: Self.header(signedAt: signer.validTime)) }

        // The profile (any version), the version, in any case: trusted.
        for identity in [Self.profile, Self.version, Self.version.replacingOccurrences(of: "release/AbCdEf1234", with: "RELEASE/abcdef1234")] {
            let outcome = try verify(envelope, identities: [identity], signer: signer)
            #expect(outcome.passed, "\(identity): \(outcome.failure ?? "")")
            #expect(outcome.signer == "AWS Signer signing profile version \(Self.version)")
            #expect(outcome.loggedFailures.contains { $0.contains("GetRevocationStatus") }, "\(outcome.loggedFailures)")
        }
        // Another account's profile, another profile whose name starts alike, another version.
        for identity in ["arn:aws:signer:us-west-2:444455556666:/signing-profiles/release", Self.profile + "-2", Self.profile + "/Other", Self.profile.dropLast(1) + ""] {
            let outcome = try verify(envelope, identities: [identity], signer: signer)
            #expect(outcome.failure?.hasPrefix("authenticity validation failed: the signature was made with AWS Signer signing profile version \(Self.version)") == true,
                    "\(identity): \(outcome.failure ?? "passed")")
        }
        // Every AWS account's certificate has this subject: neither it nor "*" vouches for a profile.
        let subject = try verify(envelope, identities: ["x509.subject: C=US, ST=WA, L=Seattle, O=AWS, OU=AWS Cryptography, CN=AWS Signer"], signer: signer)
        #expect(subject.failure?.contains("trusts no AWS Signer signing profile ARN") == true, "\(subject.failure ?? "passed")")
        let any = try verify(envelope, identities: ["*"], signer: signer)
        #expect(any.failure?.contains("trusts any identity (\"*\"), which AWS Signer signatures cannot be verified against") == true, "\(any.failure ?? "passed")")
        // The revocation status is AWS Signer's to tell: enforced, it is unavailable.
        let strict = try verify(envelope, identities: [Self.profile], override: [:], signer: signer)
        #expect(strict.failure?.hasPrefix("revocation validation failed: revocation status unavailable") == true, "\(strict.failure ?? "passed")")
        #expect(try verify(envelope, identities: [Self.profile], override: ["revocation": "skip"], signer: signer).passed)

        // An alias names the signature's alias attribute.
        let alias = "arn:aws:signer:us-west-2:111122223333:/aliases/prod"
        let aliased = try await offThePool {
            try signer.jws(protected: Self.header(signedAt: signer.validTime, extra: ["com.amazonaws.signer.signingProfileAlias": alias]))
        }
        #expect(try verify(aliased, identities: [alias], signer: signer).passed)
        #expect(try !verify(envelope, identities: [alias], signer: signer).passed, "a signature without the alias is not the alias's")
        // Only critical attributes count, as notation hands a plugin only those.
        let uncriticalAlias = try await offThePool {
            try signer.jws(protected: Self.header(
                signedAt: signer.validTime, extra: ["com.amazonaws.signer.signingProfileAlias": alias],
                critical: ["io.cncf.notary.signingScheme", "io.cncf.notary.authenticSigningTime", "io.cncf.notary.verificationPlugin",
                           "com.amazonaws.signer.signingJob", "com.amazonaws.signer.signingProfileVersion"]))
        }
        #expect(try !verify(uncriticalAlias, identities: [alias], signer: signer).passed, "an alias not marked critical was taken")
    }

    @Test func anEnvelopeOutsideThePluginsContractIsRefused() async throws {
        let signer = try await offThePool { try NotationTestSigner(intermediate: true) }
        let at = signer.validTime
        let cases: [(String, String)] = [
            (Self.header(signedAt: at, plugin: "com.example.other"), "requires the verification plugin \"com.example.other\", which signet does not implement"),
            (Self.header(signedAt: at, critical: ["io.cncf.notary.signingScheme", "io.cncf.notary.authenticSigningTime"]),
             "io.cncf.notary.verificationPlugin is present but not listed in crit"),
            (Self.header(signedAt: at, extra: ["com.amazonaws.signer.other": "x"]), "unknown critical header \"com.amazonaws.signer.other\""),
            (Self.header(signedAt: at, leaving: ["com.amazonaws.signer.signingJob"]), "must carry the critical attribute com.amazonaws.signer.signingJob"),
            (Self.header(signedAt: at, critical: ["io.cncf.notary.signingScheme", "io.cncf.notary.authenticSigningTime", "io.cncf.notary.verificationPlugin",
                                                  "com.amazonaws.signer.signingProfileVersion"]),
             "must carry the critical attribute com.amazonaws.signer.signingJob"),
            (Self.header(signedAt: at, extra: ["io.cncf.notary.verificationPluginMinVersion": "2.0.0"]), "requires version 2.0.0 of the AWS Signer plugin"),
            (Self.header(signedAt: at, extra: ["io.cncf.notary.verificationPluginMinVersion": "latest"]), "is not a semantic version"),
            (Self.header(signedAt: at, scheme: "notary.x509", extra: ["io.cncf.notary.signingTime": "2025-01-01T00:00:00Z"],
                         critical: ["io.cncf.notary.signingScheme", "io.cncf.notary.verificationPlugin", "com.amazonaws.signer.signingJob",
                                    "com.amazonaws.signer.signingProfileVersion"],
                         leaving: ["io.cncf.notary.authenticSigningTime"]), "must use the signing scheme notary.x509.signingAuthority"),
            // Without the plugin, its attributes marked critical are not understood.
            (Self.header(signedAt: at, plugin: nil), "unknown critical header \"com.amazonaws.signer.signingJob\""),
        ]
        for (header, problem) in cases {
            let envelope = try await offThePool { try signer.jws(protected: header) }
            let outcome = try verify(envelope, identities: [Self.profile], signer: signer)
            #expect(outcome.failure?.hasPrefix("integrity validation failed") == true && outcome.failure?.contains(problem) == true,
                    "\(problem): \(outcome.failure ?? "passed")")
        }
        let accepted = try await offThePool {
            try signer.jws(protected: Self.header(signedAt: at, extra: ["io.cncf.notary.verificationPluginMinVersion": "1.0.2293"]))
        }
        #expect(try verify(accepted, identities: [Self.profile], signer: signer).passed)
    }

    @Test func trustPoliciesNameAWSSignerIdentitiesByARN() throws {
        func load(_ identities: [String]) throws -> NotationTrustPolicy.Statement {
            try NotationTestSigner.statement(stores: ["signingAuthority:aws-signer-ts"], identities: identities)
        }
        let statement = try load([Self.profile, "x509.subject: C=US, ST=WA, O=Acme"])
        #expect(statement.trustedIdentities.map(\.description) == ["x509.subject: C=US, ST=WA, O=Acme", Self.profile])
        for bad in ["arn:aws:s3:::bucket", "arn:aws:signer:us-west-2:111122223333:/signing-profiles/", "arn:aws:signer:us-west-2:111122223333:/signing-jobs/x",
                    "arn::signer:us-west-2:1:/signing-profiles/p", "arn:aws:signer:us-west-2:111122223333:/signing-profiles/a/b/c"] {
            #expect(throws: NotationTrustPolicyError.self, "\(bad)") { try load([bad]) }
        }
        #expect(throws: NotationTrustPolicyError.self) { try load([Self.profile, Self.profile.replacingOccurrences(of: "release", with: "Release")]) }
    }
}
