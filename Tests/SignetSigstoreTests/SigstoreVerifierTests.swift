import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import Testing

/// Targeted verdicts: each refusal names the step and the reason.
@Suite("SigstoreVerifier")
struct SigstoreVerifierTests {
    static let happyPath = ConformanceCase(name: "happy-path-v0.3")

    static func bundle(_ testCase: ConformanceCase = happyPath) throws -> SigstoreBundle {
        try SigstoreBundle(contentsOf: testCase.bundleURL)
    }

    static func artifact(_ testCase: ConformanceCase = happyPath) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: testCase.artifactURL))
    }

    static func identity(
        san: StringMatcher = .exact(ConformanceCase.defaultIdentity), issuer: StringMatcher = .exact(ConformanceCase.defaultIssuer),
        extensions: [FulcioExtension: StringMatcher] = [:]
    ) -> SigstoreVerificationPolicy.Signer {
        .certificateIdentities([CertificateIdentity(issuer: issuer, subjectAlternativeName: san, extensions: extensions)])
    }

    static func verify(
        root: TrustedRoot? = nil, configuration: SigstoreVerifierConfiguration = SigstoreVerifierConfiguration(),
        signer: SigstoreVerificationPolicy.Signer = identity(), artifact: SigstoreArtifact? = nil
    ) throws -> SigstoreVerificationResult {
        let verifier = SigstoreVerifier(trustedRoot: try root ?? TrustedRoot.production(), configuration: configuration)
        return verifier.verify(try bundle(), policy: SigstoreVerificationPolicy(signer: signer, artifact: try artifact ?? .bytes(Self.artifact())))
    }

    @Test("the happy path records every step in sigstore-go order")
    func stepsInOrder() throws {
        let result = try Self.verify()
        #expect(result.isVerified, "\(result)")
        #expect(result.steps.map(\.kind) == [.transparencyLog, .timestamps, .certificateChain, .certificateTransparency, .signature, .identity])
        #expect(result.timestamps.map(\.time) == [Date(timeIntervalSince1970: 1_710_869_186)])
        #expect(result.identity?.issuer == ConformanceCase.defaultIssuer)
        #expect(result.identity?.extensions[.sourceRepositoryURI] == "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon")

        let audit = try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as? [String: Any]
        #expect(audit?["verified"] as? Bool == true)
        #expect((audit?["steps"] as? [[String: Any]])?.compactMap { $0["step"] as? String } == ["tlog", "timestamps", "chain", "sct", "signature", "identity"])
    }

    @Test("a certificate used outside the CA's validity is refused at the chain step")
    func certificateOutsideCAValidity() throws {
        var root = try TrustedRoot.production()
        // The bundle was signed on 2024-03-19; end every Fulcio CA's window at the start of 2024.
        for index in root.certificateAuthorities.indices {
            root.certificateAuthorities[index].validity.end = Date(timeIntervalSince1970: 1_704_067_200)
        }
        let result = try Self.verify(root: root)
        #expect(result.failure?.step == .certificateChain)
        #expect(result.failure?.description.contains("is trusted only") == true, "\(result)")
        #expect(result.steps.last?.outcome == .notRun)
    }

    @Test("a SET from a log the trusted root does not name is refused")
    func unknownLog() throws {
        var root = try TrustedRoot.production()
        root.transparencyLogs.removeAll { $0.baseURL == "https://rekor.sigstore.dev" }
        let result = try Self.verify(root: root)
        #expect(result.failure?.step == .transparencyLog)
        #expect(result.failure?.description.contains("the trusted root does not name") == true, "\(result)")
    }

    @Test("a SET whose log is outside its validity window is refused")
    func logOutsideValidity() throws {
        var root = try TrustedRoot.production()
        for index in root.transparencyLogs.indices {
            root.transparencyLogs[index].validity.end = Date(timeIntervalSince1970: 1_704_067_200)
        }
        let result = try Self.verify(root: root)
        #expect(result.failure?.step == .transparencyLog)
        #expect(result.failure?.description.contains("outside the validity") == true, "\(result)")
    }

    @Test("a bundle for another digest is refused", arguments: [false, true])
    func anotherDigest(digestOnly: Bool) throws {
        let other = Array("not the signed artifact".utf8)
        let artifact: SigstoreArtifact = digestOnly ? .digest(ArtifactDigest(of: other)) : .bytes(other)
        let result = try Self.verify(artifact: artifact)
        #expect(!result.isVerified)
        #expect(result.failure?.description.contains("is not the artifact's") == true, "\(result)")
    }

    @Test("an identity regex never matches by prefix alone")
    func regexIsAnchored() throws {
        let prefix = "https://github\\.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
        let refused = try Self.verify(signer: Self.identity(san: .regularExpression(prefix)))
        #expect(refused.failure?.step == .identity)
        #expect(refused.failure?.description.contains("does not match") == true, "\(refused)")

        let issuerPrefix = try Self.verify(signer: Self.identity(issuer: .regularExpression("https://token\\.actions")))
        #expect(issuerPrefix.failure?.step == .identity)

        let whole = try Self.verify(signer: Self.identity(san: .regularExpression(prefix + ".*@refs/heads/main"),
                                                          issuer: .regularExpression("https://token\\.actions\\.githubusercontent\\.com")))
        #expect(whole.isVerified, "\(whole)")
    }

    @Test("StringMatcher semantics")
    func matcher() {
        #expect(StringMatcher.regularExpression("a.c").matches("abc"))
        #expect(!StringMatcher.regularExpression("a.c").matches("abcd"))
        #expect(!StringMatcher.regularExpression("b").matches("abc"))
        #expect(!StringMatcher.exact("abc").matches("abcd"))
        #expect(!StringMatcher.regularExpression("(").matches("("))
        #expect(throws: SigstoreVerificationFailure.self) { try StringMatcher.regularExpression("(").validate() }
        // Code points as written, as sigstore-go compares: a Kelvin sign is not a K, a composed
        // é is not e and a combining accent, though Swift's `==` takes each pair for equal.
        #expect(!StringMatcher.exact("refs/heads/K8s-release").matches("refs/heads/\u{212A}8s-release"))
        #expect(!StringMatcher.exact("caf\u{E9}").matches("cafe\u{301}"))
        #expect(!StringMatcher.exact("a;b").matches("a\u{37E}b"))
        #expect(!StringMatcher.regularExpression("refs/heads/K8s-.*").matches("refs/heads/\u{212A}8s-release"))
        #expect(!StringMatcher.regularExpression("caf\u{E9}").matches("cafe\u{301}"))
        #expect(StringMatcher.regularExpression("refs/heads/.*").matches("refs/heads/\u{212A}8s-release"))
        #expect(StringMatcher.exact("caf\u{E9}").matches("caf\u{E9}"))
    }

    @Test("other Fulcio extensions are matched when the policy names them")
    func extensions() throws {
        let matching = try Self.verify(signer: Self.identity(extensions: [
            .sourceRepositoryURI: .exact("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon"),
            .sourceRepositoryRef: .regularExpression("refs/heads/.*"),
        ]))
        #expect(matching.isVerified, "\(matching)")
        let wrongRef = try Self.verify(signer: Self.identity(extensions: [.sourceRepositoryRef: .exact("refs/heads/release")]))
        #expect(wrongRef.failure?.step == .identity)
        #expect(wrongRef.failure?.description.contains("sourceRepositoryRef") == true, "\(wrongRef)")
    }

    @Test("an integrated time after the verifier's clock is refused (clock pinned to 2024-01-01)")
    func integratedTimeInFuture() throws {
        var configuration = SigstoreVerifierConfiguration()
        configuration.clock = { Date(timeIntervalSince1970: 1_704_067_200) }
        let result = try Self.verify(configuration: configuration)
        #expect(result.failure?.step == .transparencyLog)
        #expect(result.failure?.description.contains("in the future") == true, "\(result)")
    }

    @Test("a managed key bundle verifies with its key and not with another")
    func managedKey() throws {
        let testCase = ConformanceCase(name: "managed-key-happy-path")
        let key = try PublicKey(pem: String(contentsOf: testCase.keyURL!, encoding: .utf8))
        let verifier = SigstoreVerifier(trustedRoot: try TrustedRoot.production())
        let bundle = try Self.bundle(testCase)
        let artifact = SigstoreArtifact.bytes(try Self.artifact(testCase))
        let result = verifier.verify(bundle, policy: SigstoreVerificationPolicy(signer: .publicKey(key), artifact: artifact))
        #expect(result.isVerified, "\(result)")
        #expect(result.steps.map(\.outcome).filter { if case .notApplicable = $0 { true } else { false } }.count == 3)

        let certificateKey = try #require(try Self.bundle().certificate).publicKey()
        let other = verifier.verify(bundle, policy: SigstoreVerificationPolicy(signer: .publicKey(certificateKey), artifact: artifact))
        #expect(other.failure?.step == .transparencyLog, "\(other)")
    }

    @Test("the embedded production root is the root-signing trusted_root.json")
    func embeddedRoot() throws {
        let file = try Data(contentsOf: TestPaths.vectors.appendingPathComponent("root-signing/targets/trusted_root.json"))
        #expect(DigestAlgorithm.sha256.hexHash([UInt8](file)) == TrustedRoot.productionJSONDigest)
        let root = try TrustedRoot.production()
        #expect(root.skippedEntries.isEmpty)
        #expect(root.transparencyLogs.count >= 2 && root.certificateAuthorities.count >= 2)
        #expect(!root.certificateTransparencyLogs.isEmpty && !root.timestampAuthorities.isEmpty)
    }
}

/// The production cosign keyless signature in connaisseur's registry mirror
/// (`securesystemsengineering/testimage:keyless`), verified from its `.sig` layer annotations.
@Suite("cosign keyless .sig layer")
struct CosignKeylessTests {
    static let mirror = TestPaths.vectors.appendingPathComponent("connaisseur/test/testdata/cosign/securesystemsengineering/testimage")

    static func layer() throws -> (bundle: SigstoreBundle, payload: [UInt8]) {
        let manifestURL = mirror.appendingPathComponent("manifests/sha256-31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee.sig.json")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: Any]
        let layer = (manifest["layers"] as! [[String: Any]])[0]
        let annotations = layer["annotations"] as! [String: String]
        let payload = try Data(contentsOf: mirror.appendingPathComponent("blobs/\(layer["digest"] as! String).json"))
        let bundle = try SigstoreBundle(
            cosignSignature: annotations["dev.cosignproject.cosign/signature"]!,
            certificatePEM: annotations["dev.sigstore.cosign/certificate"]!,
            chainPEM: annotations["dev.sigstore.cosign/chain"],
            rekorBundleJSON: annotations["dev.sigstore.cosign/bundle"])
        return (bundle, [UInt8](payload))
    }

    static func verify(san: StringMatcher, issuer: StringMatcher) throws -> SigstoreVerificationResult {
        let (bundle, payload) = try layer()
        let signer = SigstoreVerificationPolicy.Signer.certificateIdentities([CertificateIdentity(issuer: issuer, subjectAlternativeName: san)])
        return SigstoreVerifier(trustedRoot: try TrustedRoot.production())
            .verify(bundle, policy: SigstoreVerificationPolicy(signer: signer, artifact: .bytes(payload)))
    }

    @Test("verifies for subject regex philipp and issuer regex github")
    func verifies() throws {
        let result = try Self.verify(san: .regularExpression(".*philipp.*"), issuer: .regularExpression(".*github.*"))
        #expect(result.isVerified, "\(result)")
        #expect(result.identity?.subjectAlternativeName == "philipp.belitz@securesystems.de")
    }

    @Test("is refused for subject bob@gmail.com")
    func refusedForAnotherSubject() throws {
        let result = try Self.verify(san: .exact("bob@gmail.com"), issuer: .regularExpression(".*github.*"))
        #expect(result.failure?.step == .identity, "\(result)")
    }
}
