import Foundation
import SignetAttestation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// Keyless signers of attestations, on real Sigstore artefacts: the keyless DSSE bundles of
/// sigstore-conformance (SLSA provenance v1 statements about the file `a.txt`, Fulcio
/// certificates, Rekor entries), attached as OCI referrers of that file's digest, and the same
/// bundles laid out as cosign writes a keyless `.att` layer (the envelope as the layer blob,
/// the certificate and the Rekor SET in its annotations). The Debian registry has no referrers
/// API, so the referrers are listed by the `sha256-<hex>` tag index the registry client falls
/// back to. The verification clock is pinned (2026-01-10): the Rekor times vouch for the signing.
@Suite("in-toto attestations signed keyless", .serialized)
struct AttestationKeylessTests {
    static let happy = "happy-path-intoto-in-dsse-v3"
    static let repository = "https://github.com/loosebazooka/aa-test"

    /// An attestations authority whose one requirement is SLSA provenance v1 signed keyless by
    /// `subject` (the conformance beacon unless told), compiled by the policy loader.
    static func authority(subject: String = ConformanceBundles.subject, trustRoot: String? = nil, conditions: [String] = []) throws -> CompiledAuthority {
        var lines = [
            "apiVersion: signet.dev/v1alpha1", "kind: ClusterImagePolicy", "metadata:", "  name: attested", "spec:",
            "  images:", "    - glob: \"**\"", "  authorities:", "    - name: attested", "      attestations:", "        require:",
            "          - name: provenance", "            predicateType: slsaprovenance1", "            keyless:", "              identities:",
            "                - {issuer: \"\(ConformanceBundles.issuer)\", subject: \"\(subject)\"}",
        ]
        if let trustRoot { lines.append("              trustRoot: {file: \(trustRoot)}") }
        if !conditions.isEmpty { lines += ["            conditions:"] + conditions.map { "              - \($0)" } }
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "attested.yaml", bytes: Array(lines.joined(separator: "\n").utf8))])
        return set.policies[0].authorities[0]
    }

    static let repositoryCondition = ["{path: buildDefinition.externalParameters.workflow.repository, operator: equals, value: \"\(repository)\"}"]

    struct Setup {
        let fixture: VerificationFixture
        let verifier: AttestationVerifier

        init() async throws {
            fixture = try await VerificationFixture()
            verifier = AttestationVerifier(registry: fixture.client, clock: SettableWallClock(AttestationVerifierTests.pinned).clock)
        }

        func verify(_ repository: String, digest: ImageDigest, _ authority: CompiledAuthority) async throws -> VerificationResult {
            let image = try ImageReference(parsing: "\(fixture.registry.host)/\(repository)@\(digest)")
            return try await verifier.verify(VerificationRequest(image: image, digest: digest, authority: authority, policy: "attested", deadline: deadline()))
        }
    }

    @Test func keylessBundleReferrersVerifyWithTheSignersIdentity() async throws {
        let setup = try await Setup()
        let digest = ConformanceBundles.artifactDigest
        try await ConformanceBundles.attach(
            [Self.happy], subject: digest, repository: "attk/bundle", registry: setup.fixture.registry, client: setup.fixture.client)

        let passed = try await setup.verify("attk/bundle", digest: digest, try Self.authority(conditions: Self.repositoryCondition))
        #expect(passed.passed, "\(passed.reason)")
        #expect(passed.attestations?.first?.signers == ["\(ConformanceBundles.subject) (issuer \(ConformanceBundles.issuer))"])
        #expect(passed.attestations?.first?.fields.values == ["buildDefinition.externalParameters.workflow.repository": [.string(Self.repository)]])

        // Built from another repository: denied naming the condition.
        let otherRepository = Self.repositoryCondition.map { $0.replacingOccurrences(of: Self.repository, with: "https://github.com/example/app") }
        let elsewhere = try await setup.verify("attk/bundle", digest: digest, try Self.authority(conditions: otherRepository))
        #expect(!elsewhere.passed)
        #expect(elsewhere.failure == .conditionNotMet)
        #expect(elsewhere.reason == "provenance buildDefinition.externalParameters.workflow.repository is \(Self.repository), expected https://github.com/example/app",
                "\(elsewhere.reason)")

        // Signed by someone else: the identity does not match.
        let someoneElse = try await setup.verify("attk/bundle", digest: digest, try Self.authority(subject: "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main"))
        #expect(!someoneElse.passed)
        #expect(someoneElse.failure == .noValidSignature)
        #expect(someoneElse.reason.contains("a provenance attestation not signed by its signer"), "\(someoneElse.reason)")
        #expect(someoneElse.reason.contains("identity"), "\(someoneElse.reason)")

        // A key signer does not accept a keyless bundle.
        let key = try await TestSigningKey.generate(.ecP256)
        let keyed = TestAttestation.authority([try TestAttestation.requirement("provenance", TestAttestation.provenanceV1, keys: [try key.trusted("builder-key")])])
        let byKey = try await setup.verify("attk/bundle", digest: digest, keyed)
        #expect(!byKey.passed)
        #expect(byKey.reason.contains("the bundle carries a certificate (a keyless attestation); its signer is a key"), "\(byKey.reason)")
        await setup.fixture.stop()
    }

    /// The conformance cases that must fail (a bad signature, an envelope or signature that is
    /// not the logged one) are denied through the attestation path too.
    @Test func failingConformanceBundlesAreDenied() async throws {
        let setup = try await Setup()
        let digest = ConformanceBundles.artifactDigest
        for name in ["dsse-invalid-sig_fail", "dsse-mismatch-envelope_fail", "dsse-mismatch-sig_fail"] {
            let repository = "attk/\(name.lowercased().replacingOccurrences(of: "_", with: "-"))"
            try await ConformanceBundles.attach([name], subject: digest, repository: repository, registry: setup.fixture.registry, client: setup.fixture.client)
            let result = try await setup.verify(repository, digest: digest, try Self.authority())
            #expect(!result.passed, "\(name)")
            #expect(result.failure == .noValidSignature, "\(name): \(result.reason)")
            #expect(result.reason.contains("a provenance attestation not signed by its signer"), "\(name): \(result.reason)")
        }
        await setup.fixture.stop()
    }

    @Test func keylessAttLayersVerifyFromTheirAnnotations() async throws {
        let setup = try await Setup()
        let digest = ConformanceBundles.artifactDigest
        try await ConformanceAttestations.push([Self.happy], for: digest, repository: "attk/att", setup: setup)
        let passed = try await setup.verify("attk/att", digest: digest, try Self.authority(conditions: Self.repositoryCondition))
        #expect(passed.passed, "\(passed.reason)")
        #expect(passed.attestations?.first?.source == "attk/att:\(digest.tagForm).att layer 0".replacingOccurrences(of: "attk/att", with: "\(setup.fixture.registry.host)/attk/att"),
                "\(passed.attestations ?? [])")
        #expect(passed.steps.contains { $0.name == "layer 0 provenance signature" && $0.passed }, "\(passed.steps)")

        // The envelope is not the one logged: denied.
        try await ConformanceAttestations.push(["dsse-mismatch-envelope_fail"], for: digest, repository: "attk/att-mismatch", setup: setup)
        let mismatch = try await setup.verify("attk/att-mismatch", digest: digest, try Self.authority())
        #expect(!mismatch.passed)
        #expect(mismatch.reason.contains("not signed by its signer"), "\(mismatch.reason)")

        // A key-signed envelope (no certificate annotation) does not count for a keyless signer.
        let key = try await TestSigningKey.generate(.ecP256)
        let statement = TestAttestation.statement(for: digest, predicateType: TestAttestation.provenanceV1, predicate: TestAttestation.provenance(builder: "x"))
        let keyed = try ImageReference(parsing: "\(setup.fixture.registry.host)/attk/keyed")
        try await TestAttestation.push([try await TestAttestation.envelope(statement, key: key)], for: digest, in: keyed, client: setup.fixture.client)
        let byKey = try await setup.verify("attk/keyed", digest: digest, try Self.authority())
        #expect(!byKey.passed)
        #expect(byKey.reason.contains("the layer has no dev.sigstore.cosign/certificate annotation"), "\(byKey.reason)")
        await setup.fixture.stop()
    }

    /// cosign 2 logged attestations as Rekor `intoto` 0.0.2 entries: the conformance bundle
    /// signed under its own trust root, as a `.att` layer, verifies with that root and not with
    /// the production one.
    @Test func anIntotoEntryUnderACustomTrustRoot() async throws {
        let setup = try await Setup()
        let name = "intoto-with-custom-trust-root"
        let folder = ConformanceBundles.folder.appendingPathComponent(name)
        let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent("artifact")))
        let digest = try ImageDigest(parsing: "sha256:" + DigestAlgorithm.sha256.hexHash(bytes))
        try await ConformanceAttestations.push([name], for: digest, repository: "attk/intoto", setup: setup)
        let custom = try await setup.verify("attk/intoto", digest: digest, try Self.authority(trustRoot: folder.appendingPathComponent("trusted_root.json").path))
        #expect(custom.passed, "\(custom.reason)")
        let production = try await setup.verify("attk/intoto", digest: digest, try Self.authority())
        #expect(!production.passed)
        #expect(production.reason.contains("not signed by its signer"), "\(production.reason)")
        await setup.fixture.stop()
    }
}

/// Conformance bundles laid out as cosign writes a keyless attestation in the `.att` image
/// (sigstore/cosign `specs/ATTESTATION_SPEC.md`, `pkg/oci/static`): the DSSE envelope is the
/// layer blob; `dev.sigstore.cosign/certificate` holds the PEM leaf; `dev.sigstore.cosign/bundle`
/// holds the Rekor entry's SET (`{"SignedEntryTimestamp", "Payload": {"body",
/// "integratedTime", "logIndex", "logID"}}`); `dev.cosignproject.cosign/signature` is empty.
enum ConformanceAttestations {
    static func layer(_ name: String) throws -> (envelope: [UInt8], annotations: [String: String]) {
        let json = try JSONSerialization.jsonObject(with: Data(try ConformanceBundles.bundle(name))) as! [String: Any]
        let material = json["verificationMaterial"] as! [String: Any]
        let der: String
        if let certificate = material["certificate"] as? [String: Any] {
            der = certificate["rawBytes"] as! String
        } else {
            let chain = (material["x509CertificateChain"] as! [String: Any])["certificates"] as! [[String: Any]]
            der = chain[0]["rawBytes"] as! String
        }
        let wrapped = stride(from: 0, to: der.count, by: 64).map { offset in
            let start = der.index(der.startIndex, offsetBy: offset)
            return String(der[start..<(der.index(start, offsetBy: 64, limitedBy: der.endIndex) ?? der.endIndex)])
        }
        let pem = "-----BEGIN CERTIFICATE-----\n" + wrapped.joined(separator: "\n") + "\n-----END CERTIFICATE-----\n"
        let entry = (material["tlogEntries"] as! [[String: Any]])[0]
        let logID = Data(base64Encoded: (entry["logId"] as! [String: Any])["keyId"] as! String)!
        let rekor: [String: Any] = [
            "SignedEntryTimestamp": (entry["inclusionPromise"] as! [String: Any])["signedEntryTimestamp"] as! String,
            "Payload": [
                "body": entry["canonicalizedBody"] as! String, "integratedTime": Int64(entry["integratedTime"] as! String)!,
                "logIndex": Int64(entry["logIndex"] as! String)!, "logID": logID.map { String(format: "%02x", $0) }.joined(),
            ],
        ]
        let annotations = [
            KeylessVerifier.certificateAnnotation: pem,
            KeylessVerifier.rekorBundleAnnotation: String(decoding: try JSONSerialization.data(withJSONObject: rekor, options: [.sortedKeys]), as: UTF8.self),
            CosignKeyVerifier.signatureAnnotation: "",
        ]
        let envelope = try JSONSerialization.data(withJSONObject: json["dsseEnvelope"]!, options: [.sortedKeys])
        return ([UInt8](envelope), annotations)
    }

    /// Pushes `<repository>:sha256-<hex>.att` with one layer per case.
    static func push(_ cases: [String], for digest: ImageDigest, repository: String, setup: AttestationKeylessTests.Setup) async throws {
        let client = setup.fixture.client
        let target = try ImageReference(parsing: "\(setup.fixture.registry.host)/\(repository)")
        var layers: [Descriptor] = []
        for name in cases {
            let (envelope, annotations) = try layer(name)
            var descriptor = try await client.pushBlob(envelope, mediaType: AttestationVerifier.envelopeMediaType, to: target, deadline: deadline())
            descriptor.annotations = annotations
            layers.append(descriptor)
        }
        let config = try await client.pushBlob(Array("{}".utf8), mediaType: "application/vnd.oci.image.config.v1+json", to: target, deadline: deadline())
        let tagged = try ImageReference(parsing: "\(target.name):\(CosignArtifactKind.attestation.tag(for: digest))")
        try await client.pushManifest(.image(ImageManifest(config: config, layers: layers)), to: tagged, deadline: deadline())
    }
}
