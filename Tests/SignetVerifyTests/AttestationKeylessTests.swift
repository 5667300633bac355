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

        init(clock: Date = AttestationVerifierTests.pinned) async throws {
            fixture = try await VerificationFixture()
            verifier = AttestationVerifier(registry: fixture.client, clock: SettableWallClock(clock).clock)
        }

        func verify(_ repository: String, digest: ImageDigest, _ authority: CompiledAuthority) async throws -> VerificationResult {
            let image = try ImageReference(parsing: "\(fixture.registry.host)/\(repository)@\(digest)")
            return try await verifier.verify(VerificationRequest(image: image, digest: digest, authority: authority, policy: "attested", deadline: deadline()))
        }
    }

    /// Requirements share a signature verdict only when their signers are the same byte for
    /// byte: identities that differ only by canonically equivalent characters (`K` and the
    /// Kelvin sign) are equal as Swift strings, but the matchers compare bytes, so an envelope
    /// signed for one must not count for the other.
    @Test func signersAreSharedOnlyWhenByteForByteTheSame() throws {
        func signer(_ subject: String) throws -> AttestationSigner {
            guard case .keyless(let trust) = try compiledKeylessAuthority(
                "identities:\n  - {issuer: \"https://issuer.example\", subject: \"\(subject)\"}").kind else {
                throw CancellationError()
            }
            return .keyless(trust)
        }
        let latin = try signer("K8s@example.com")
        let kelvin = try signer("\u{212A}8s@example.com")
        #expect(latin == kelvin, "canonically equivalent as Swift strings")
        #expect(!latin.isExactly(kelvin))
        #expect(latin.isExactly(try signer("K8s@example.com")))
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
        #expect(someoneElse.reason.contains("an envelope not signed by the provenance signer"), "\(someoneElse.reason)")
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
            #expect(result.reason.contains("an envelope not signed by the provenance signer"), "\(name): \(result.reason)")
        }
        await setup.fixture.stop()
    }

    /// Every keyless DSSE bundle of sigstore-conformance (Rekor v1 `dsse` and `intoto` entries,
    /// Rekor v2 entries with checkpoints and TSA timestamps), each attached as a referrer of its
    /// artifact's digest and checked against its own trust root where the case has one: the
    /// `_fail` cases are denied, the others admitted, through the attestation path.
    @Test func everyConformanceDSSEBundleThroughTheAttestationPath() async throws {
        // After every vector's signing (rekor2-dsse-happy-path was stamped in May 2026): a time a
        // TSA vouches for may not lie after the clock.
        let setup = try await Setup(clock: Date(timeIntervalSince1970: 1_796_083_200))
        var checked = 0
        for name in try ConformanceAttestations.dsseCases() {
            let folder = ConformanceBundles.folder.appendingPathComponent(name)
            let digest = try ConformanceAttestations.artifactDigest(name)
            let repository = "attk/all-\(name.lowercased().replacingOccurrences(of: "_", with: "-"))"
            try await ConformanceBundles.attach([name], subject: digest, repository: repository, registry: setup.fixture.registry, client: setup.fixture.client)
            let root = folder.appendingPathComponent("trusted_root.json")
            let authority = try Self.authority(trustRoot: FileManager.default.fileExists(atPath: root.path) ? root.path : nil)
            let result = try await setup.verify(repository, digest: digest, authority)
            if name.hasSuffix("_fail") {
                #expect(!result.passed, "\(name) must be denied")
                #expect(result.failure == .noValidSignature, "\(name): \(result.reason)")
            } else {
                #expect(result.passed, "\(name): \(result.reason)")
            }
            checked += 1
        }
        #expect(checked == 14, "the conformance vectors hold 14 keyless DSSE bundles")
        await setup.fixture.stop()
    }

    /// The conformance bundles with a Rekor v1 SET, laid out as cosign's keyless `.att` layers:
    /// the layout keeps the certificate and the SET only, so the two cases whose fault lies in
    /// what it drops (a missing inclusion proof, a TSA timestamp outside the certificate's
    /// validity) are not cases of it; every other `_fail` case is denied, the others admitted.
    @Test func conformanceDSSEBundlesAsAttLayers() async throws {
        let setup = try await Setup()
        let bundleOnly: Set = ["intoto-missing-inclusion-proof_fail", "intoto-tsa-timestamp-outside-cert-validity_fail"]
        var checked: [String] = []
        for name in try ConformanceAttestations.dsseCases() where !bundleOnly.contains(name) && ConformanceAttestations.hasSET(name) {
            let folder = ConformanceBundles.folder.appendingPathComponent(name)
            let digest = try ConformanceAttestations.artifactDigest(name)
            let repository = "attk/att-\(name.lowercased().replacingOccurrences(of: "_", with: "-"))"
            try await ConformanceAttestations.push([name], for: digest, repository: repository, setup: setup)
            let root = folder.appendingPathComponent("trusted_root.json")
            let authority = try Self.authority(trustRoot: FileManager.default.fileExists(atPath: root.path) ? root.path : nil)
            let result = try await setup.verify(repository, digest: digest, authority)
            #expect(result.passed == !name.hasSuffix("_fail"), "\(name): \(result.reason)")
            checked.append(name)
        }
        #expect(checked.count == 8, "\(checked)")
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
        #expect(mismatch.reason.contains("not signed by the provenance signer"), "\(mismatch.reason)")

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
        let digest = try ConformanceAttestations.artifactDigest(name)
        try await ConformanceAttestations.push([name], for: digest, repository: "attk/intoto", setup: setup)
        let rootFile = folder.appendingPathComponent("trusted_root.json").path
        let customAuthority = try Self.authority(trustRoot: rootFile)
        // Audit records name the root each keyless signer trusts.
        #expect(customAuthority.trustRoot?.hasPrefix("file \(rootFile) sha256:") == true, "\(customAuthority.trustRoot ?? "nil")")
        #expect(try Self.authority().trustRoot?.hasPrefix("embedded production root sha256:") == true)
        let custom = try await setup.verify("attk/intoto", digest: digest, customAuthority)
        #expect(custom.passed, "\(custom.reason)")
        let production = try await setup.verify("attk/intoto", digest: digest, try Self.authority())
        #expect(!production.passed)
        #expect(production.reason.contains("not signed by the provenance signer"), "\(production.reason)")
        await setup.fixture.stop()
    }
}

/// Conformance bundles laid out as cosign writes a keyless attestation in the `.att` image
/// (sigstore/cosign `specs/ATTESTATION_SPEC.md`, `pkg/oci/static`): the DSSE envelope is the
/// layer blob; `dev.sigstore.cosign/certificate` holds the PEM leaf; `dev.sigstore.cosign/bundle`
/// holds the Rekor entry's SET (`{"SignedEntryTimestamp", "Payload": {"body",
/// "integratedTime", "logIndex", "logID"}}`); `dev.cosignproject.cosign/signature` is empty.
enum ConformanceAttestations {
    /// The conformance cases whose bundle holds a DSSE envelope, sorted.
    static func dsseCases() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: ConformanceBundles.folder.path).sorted().filter { name in
            guard let bytes = try? ConformanceBundles.bundle(name),
                  let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return false }
            return json["dsseEnvelope"] != nil
        }
    }

    /// Whether the case's first log entry carries a signed entry timestamp (Rekor v1).
    static func hasSET(_ name: String) -> Bool {
        guard let bytes = try? ConformanceBundles.bundle(name),
              let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let material = json["verificationMaterial"] as? [String: Any],
              let entries = material["tlogEntries"] as? [[String: Any]] else { return false }
        return entries.first?["inclusionPromise"] != nil
    }

    /// The digest of the case's `artifact` file, or of the shared `a.txt`.
    static func artifactDigest(_ name: String) throws -> ImageDigest {
        let own = ConformanceBundles.folder.appendingPathComponent("\(name)/artifact")
        guard FileManager.default.fileExists(atPath: own.path) else { return ConformanceBundles.artifactDigest }
        return try ImageDigest(parsing: "sha256:" + DigestAlgorithm.sha256.hexHash([UInt8](try Data(contentsOf: own))))
    }

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
