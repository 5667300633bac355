import Foundation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetSigstore
import SignetTestSupport
import SignetVerify
import Testing

/// A `key` authority compiled by the policy loader from the YAML body given (indented under
/// `key:`), so tests exercise the loader too.
func compiledKeyAuthority(_ body: String) throws -> CompiledAuthority {
    let yaml = """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: key-test
        spec:
          images:
            - glob: "**"
          authorities:
            - name: release
              key:
        \(body.split(separator: "\n", omittingEmptySubsequences: false).map { "          " + $0 }.joined(separator: "\n"))
        """
    let set = try PolicyLoader().load(files: [PolicySourceFile(name: "key.yaml", bytes: Array(yaml.utf8))])
    return set.policies[0].authorities[0]
}

/// `transparencyLog: require | ignore` on key authorities: a Rekor SET by a log of the test's own
/// trust root, in `.sig` layers and in bundles; each forgery a deny naming why.
@Suite("key authorities and the transparency log", .serialized)
struct KeyTransparencyLogTests {
    /// After the log's integrated time; the verdicts never depend on today's date.
    static let now = Date(timeIntervalSince1970: TimeInterval(TestRekorLog.integratedTime) + 86_400)

    struct Setup {
        let fixture: VerificationFixture
        let engine: VerificationEngine
        let key: TestSigningKey
        let log: TestRekorLog
        let rootFile: String
        let directory: TemporaryDirectory

        func authority(_ requirement: String?, trustRoot: Bool = true, keyFile: String? = nil) throws -> CompiledAuthority {
            var body = "publicKeys:\n  - file: \(keyFile ?? key.publicKeyFile)\n"
            if let requirement { body += "transparencyLog: \(requirement)\n" }
            if trustRoot { body += "trustRoot: {file: \(rootFile)}\n" }
            return try compiledKeyAuthority(body)
        }

        func verify(_ image: ImageReference, _ authority: CompiledAuthority) async throws -> VerificationResult {
            try await engine.verify(image: image, authority: authority, policy: "key-test", revision: UUID().uuidString, deadline: deadline())
        }
    }

    static func setup() async throws -> Setup {
        let fixture = try await VerificationFixture()
        let log = try await TestRekorLog.make()
        let directory = TemporaryDirectory(prefix: "signet-tlog")
        let rootFile = try directory.write("trusted_root.json", try log.trustedRootJSON()).path
        let engine = VerificationEngine(registry: fixture.client, verifiers: [CosignKeyVerifier(registry: fixture.client, clock: .fixed(now))])
        return Setup(fixture: fixture, engine: engine, key: try await TestSigningKey.generate(.ecP256), log: log, rootFile: rootFile, directory: directory)
    }

    /// Pushes an image and a `.sig` layer signed by `key`, with the annotations `annotate` makes.
    static func signedImage(
        _ name: String, _ setup: Setup, annotate: (_ payload: [UInt8], _ signature: [UInt8]) async throws -> [String: String]
    ) async throws -> ImageReference {
        let image = try setup.fixture.reference("tlog/\(name):v1")
        let digest = try await setup.fixture.images.pushImage(image)
        let payload = simpleSigningPayload(for: digest, reference: image.name)
        let signature = try await setup.key.signature(over: payload)
        let layer = SignatureLayer(
            payload: payload, signature: Data(signature).base64EncodedString(), annotations: try await annotate(payload, signature))
        try await setup.fixture.images.pushSignatures([layer], for: digest, in: image)
        return image
    }

    @Test func sigLayersNeedTheirRekorEntryUnderRequire() async throws {
        let setup = try await Self.setup()

        // No log entry: denied under require, allowed under ignore and by default.
        let unlogged = try await Self.signedImage("unlogged", setup) { _, _ in [:] }
        let required = try await setup.verify(unlogged, try setup.authority("require"))
        #expect(!required.passed)
        #expect(required.failure == .noValidSignature)
        #expect(required.reason.contains("layer 0: no dev.sigstore.cosign/bundle annotation: the signature was not logged"), "\(required.reason)")
        let ignored = try await setup.verify(unlogged, try setup.authority("ignore", trustRoot: false))
        #expect(ignored.passed, "\(ignored.reason)")
        let byDefault = try await setup.verify(unlogged, try setup.authority(nil, trustRoot: false))
        #expect(byDefault.passed, "\(byDefault.reason)")

        // Logged: allowed under require, the step names the trust root.
        let logged = try await Self.signedImage("logged", setup) { payload, signature in
            let entry = try await setup.log.log(signature: signature, digest: DigestAlgorithm.sha256.hash(payload), signer: setup.key)
            return ["dev.sigstore.cosign/bundle": entry.cosignAnnotation]
        }
        let passed = try await setup.verify(logged, try setup.authority("require"))
        #expect(passed.passed, "\(passed.reason)")
        #expect(passed.steps.contains { $0.name == "layer 0 transparency log" && $0.passed && $0.detail.contains("file \(setup.rootFile)") })

        // A valid SET over another signature (the log vouches for a different entry).
        let replayed = try await Self.signedImage("replayed", setup) { payload, _ in
            let other = try await setup.key.signature(over: payload + Array(" ".utf8))
            let entry = try await setup.log.log(signature: other, digest: DigestAlgorithm.sha256.hash(payload), signer: setup.key)
            return ["dev.sigstore.cosign/bundle": entry.cosignAnnotation]
        }
        let otherSignature = try await setup.verify(replayed, try setup.authority("require"))
        #expect(!otherSignature.passed)
        #expect(otherSignature.reason.contains("the logged signature is not the bundle's signature"), "\(otherSignature.reason)")

        // A SET by a key that is not the trusted log's.
        let forger = try await TestSigningKey.generate(.ecP256, slot: 8)
        let forged = try await Self.signedImage("forged-set", setup) { payload, signature in
            let entry = try await setup.log.log(signature: signature, digest: DigestAlgorithm.sha256.hash(payload), signer: setup.key, setKey: forger)
            return ["dev.sigstore.cosign/bundle": entry.cosignAnnotation]
        }
        let forgedSET = try await setup.verify(forged, try setup.authority("require"))
        #expect(!forgedSET.passed)
        #expect(forgedSET.reason.contains("signed entry timestamp of entry 7 does not verify"), "\(forgedSET.reason)")

        // The production root does not know the test's log: its entry does not count.
        let production = try await setup.verify(logged, try setup.authority("require", trustRoot: false))
        #expect(!production.passed)
        #expect(production.reason.contains("which the trusted root does not name"), "\(production.reason)")
        await setup.fixture.stop()
    }

    @Test func bundlesNeedALogEntryUnderRequire() async throws {
        let setup = try await Self.setup()
        // A cosign 3 DSSE bundle without log entries: denied under require only.
        let bare = try setup.fixture.reference("tlog/bare-bundle:v1")
        let bareDigest = try await setup.fixture.images.pushImage(bare)
        try await KeyBundle.attach(
            [try await KeyBundle.dsse(KeyBundle.statement(for: bareDigest), key: setup.key)], to: bareDigest, in: bare, client: setup.fixture.client)
        let required = try await setup.verify(bare, try setup.authority("require"))
        #expect(!required.passed)
        #expect(required.reason.contains("the bundle has no transparency log entries"), "\(required.reason)")
        let ignored = try await setup.verify(bare, try setup.authority("ignore", trustRoot: false))
        #expect(ignored.passed, "\(ignored.reason)")

        // A DSSE bundle whose Rekor entry the test log vouches for.
        let (logged, entry) = try await Self.loggedBundleImage("logged-bundle", setup)
        let passed = try await setup.verify(logged, try setup.authority("require"))
        #expect(passed.passed, "\(passed.reason)")

        // The same entry attached to a bundle of another statement: the log does not vouch for it.
        let swapped = try setup.fixture.reference("tlog/swapped-bundle:v1")
        let swappedDigest = try await setup.fixture.images.pushImage(swapped)
        let swappedStatement = KeyBundle.statement(for: swappedDigest)
        let swappedSignature = try await setup.key.signature(over: DSSEEnvelopeText.pae(payloadType: "application/vnd.in-toto+json", payload: swappedStatement))
        try await KeyBundle.attach(
            [try TestRekorLog.dsseBundle(statement: swappedStatement, signature: swappedSignature, entry: entry)], to: swappedDigest, in: swapped,
            client: setup.fixture.client)
        let reused = try await setup.verify(swapped, try setup.authority("require"))
        #expect(!reused.passed)
        #expect(reused.reason.contains("the logged payload hash is not the hash of the envelope's payload"), "\(reused.reason)")
        await setup.fixture.stop()
    }

    /// Pushes an image and attaches a DSSE bundle of cosign's statement for its digest by the
    /// setup's key, with the `dsse` Rekor entry the test log made for it.
    static func loggedBundleImage(_ name: String, _ setup: Setup) async throws -> (ImageReference, TestRekorLog.Entry) {
        let image = try setup.fixture.reference("tlog/\(name):v1")
        let digest = try await setup.fixture.images.pushImage(image)
        let statement = KeyBundle.statement(for: digest)
        let signature = try await setup.key.signature(over: DSSEEnvelopeText.pae(payloadType: "application/vnd.in-toto+json", payload: statement))
        let envelope = try TestRekorLog.envelope(of: statement, signature: signature)
        let entry = try await setup.log.logDSSE(envelope: envelope.json, payload: statement, signature: signature, signer: setup.key)
        try await KeyBundle.attach(
            [try TestRekorLog.dsseBundle(statement: statement, signature: signature, entry: entry)], to: digest, in: image,
            client: setup.fixture.client)
        return (image, entry)
    }

    /// `key`'s public key with its point compressed (`openssl ec -conv_form compressed`, SEC 1 v2
    /// section 2.3.3), written beside the test's other files as `name`.
    static func compressedKeyFile(_ key: TestSigningKey, _ name: String, _ setup: Setup) async throws -> String {
        let output = setup.directory.file(name).path
        try await offThePool {
            try TestSigningKey.openssl(["ec", "-pubin", "-in", key.publicKeyFile, "-conv_form", "compressed", "-pubout", "-out", output])
        }
        return output
    }

    /// The Rekor entry and the policy may write one key in two encodings: a P-256 point the
    /// policy lists compressed and the entry records uncompressed (as cosign uploads it), or the
    /// other way round, is the same signer, in `.sig` layers and in bundles. Another key in the
    /// entry is still refused.
    @Test func theLoggedKeyIsComparedAsAKeyNotAsDER() async throws {
        let setup = try await Self.setup()
        let compressedFile = try await Self.compressedKeyFile(setup.key, "key-compressed.pub", setup)
        let compressedPEM = try String(contentsOfFile: compressedFile, encoding: .utf8)
        #expect(try PublicKey(pem: compressedPEM).subjectPublicKeyInfo != setup.key.publicKey().subjectPublicKeyInfo)
        let compressedPolicy = try setup.authority("require", keyFile: compressedFile)

        // .sig layer: the entry records the key uncompressed, the policy lists it compressed.
        let uncompressedEntry = try await Self.signedImage("uncompressed-entry", setup) { payload, signature in
            let entry = try await setup.log.log(signature: signature, digest: DigestAlgorithm.sha256.hash(payload), signer: setup.key)
            return ["dev.sigstore.cosign/bundle": entry.cosignAnnotation]
        }
        let layerPassed = try await setup.verify(uncompressedEntry, compressedPolicy)
        #expect(layerPassed.passed, "\(layerPassed.reason)")
        #expect(layerPassed.steps.contains { $0.name == "layer 0 transparency log" && $0.passed })

        // .sig layer: the entry records the key compressed, the policy lists it uncompressed.
        let compressedEntry = try await Self.signedImage("compressed-entry", setup) { payload, signature in
            let entry = try await setup.log.log(
                signature: signature, digest: DigestAlgorithm.sha256.hash(payload), signer: setup.key, loggedKeyPEM: compressedPEM)
            return ["dev.sigstore.cosign/bundle": entry.cosignAnnotation]
        }
        let reversed = try await setup.verify(compressedEntry, try setup.authority("require"))
        #expect(reversed.passed, "\(reversed.reason)")

        // A bundle (cosign 3) whose entry records the key uncompressed, the policy compressed.
        let (bundled, _) = try await Self.loggedBundleImage("compressed-policy-bundle", setup)
        let bundlePassed = try await setup.verify(bundled, compressedPolicy)
        #expect(bundlePassed.passed, "\(bundlePassed.reason)")

        // The entry records another key (compressed, so only a key comparison could match it): refused.
        let stranger = try await TestSigningKey.generate(.ecP256, slot: 9)
        let strangerCompressed = try await Self.compressedKeyFile(stranger, "stranger-compressed.pub", setup)
        let strangerPEM = try String(contentsOfFile: strangerCompressed, encoding: .utf8)
        let misattributed = try await Self.signedImage("stranger-entry", setup) { payload, signature in
            let entry = try await setup.log.log(
                signature: signature, digest: DigestAlgorithm.sha256.hash(payload), signer: setup.key, loggedKeyPEM: strangerPEM)
            return ["dev.sigstore.cosign/bundle": entry.cosignAnnotation]
        }
        let refused = try await setup.verify(misattributed, compressedPolicy)
        #expect(!refused.passed)
        #expect(refused.reason.contains("the logged key or certificate is not the bundle's"), "\(refused.reason)")
        await setup.fixture.stop()
    }

    @Test func theLoaderReadsTheSetting() throws {
        let key = "publicKeys:\n  - pem: |\n      " + Self.pem.replacingOccurrences(of: "\n", with: "\n      ") + "\n"
        #expect(throws: PolicyLoadError.self) { try compiledKeyAuthority(key + "transparencyLog: sometimes\n") }
        #expect(throws: PolicyLoadError.self) { try compiledKeyAuthority(key + "transparencyLog: ignore\ntrustRoot: {file: /nonexistent}\n") }
        let required = try compiledKeyAuthority(key + "transparencyLog: require\n")
        guard case .key(let trust) = required.kind else { Issue.record("not a key authority"); return }
        #expect(trust.transparencyLog.requirement == .require)
        #expect(trust.transparencyLog.trustRootSource == "embedded production root")
        let ignored = try compiledKeyAuthority(key)
        guard case .key(let plain) = ignored.kind else { Issue.record("not a key authority"); return }
        #expect(plain.transparencyLog.requirement == .ignore)
        // Audit records name the root a require authority verifies against; ignore trusts none.
        #expect(required.trustRoot == "embedded production root sha256:\(TrustedRoot.productionJSONDigest.prefix(12))")
        #expect(ignored.trustRoot == nil)
        // The setting is part of what cached verdicts are keyed by.
        #expect(required.trustFingerprint != ignored.trustFingerprint)
    }

    /// A P-256 public key (any will do for the loader).
    static let pem = TestKeys.unusedP256PublicKeyPEM
}
