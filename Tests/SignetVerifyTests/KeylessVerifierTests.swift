import Foundation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetSigstore
import SignetTestSupport
import SignetVerify
import Testing

/// `KeylessVerifier` against a real registry holding real third-party signatures: connaisseur's
/// production cosign keyless `.sig` and sigstore-conformance bundles attached as referrers.
@Suite("keyless verification", .serialized)
struct KeylessVerifierTests {
    static let philipp = """
        identities:
          - issuerRegExp: ".*github.*"
            subjectRegExp: ".*philipp.*"
        """

    @Test("the production keyless .sig: identities by regex and exactly, mismatches, prefix-only regexes, the wall clock")
    func productionKeylessSignature() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        defer { registry.stop() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        try await ConnaisseurVectors.push(to: registry, client: client)
        let image = KeylessVector.image(in: registry)
        let verifier = KeylessVerifier(registry: client)

        // Whole-match regular expressions for the connaisseur identity rule (issuer ~ github, subject ~ philipp).
        let passed = try await verifier.verify(keylessRequest(image, digest: KeylessVector.digest, authority: compiledKeylessAuthority(Self.philipp)))
        #expect(passed.passed, "\(passed.reason)\n\(passed.steps)")
        #expect(passed.format == .cosignKeyless)
        #expect(passed.reason.hasPrefix("signed keyless by \(KeylessVector.subject) (issuer \(KeylessVector.issuer)), layer 0 of "))
        let signer = try #require(passed.signers.first)
        #expect(signer.identity == KeylessVector.subject)
        #expect(signer.issuer == KeylessVector.issuer)
        #expect(signer.layers == [0])
        #expect(signer.key == "Fulcio certificate (embedded production root)")
        // The certification path validated for the Fulcio certificate, leaf first, the production root last:
        // what the console's trust chain draws as root → intermediates → leaf.
        let path = try #require(signer.certificateChain, "no certificate path")
        #expect(path.count >= 2, "\(path)")
        #expect(path.last?.contains("CN=sigstore") == true, "\(path)")
        for name in ["layer 0 tlog", "layer 0 timestamps", "layer 0 chain", "layer 0 sct", "layer 0 signature", "layer 0 identity", "layer 0 payload claims"] {
            #expect(passed.steps.contains { $0.name == name && $0.passed }, "\(name) missing from \(passed.steps.map(\.name))")
        }

        // Exact issuer and subject.
        let exact = try await verifier.verify(keylessRequest(image, digest: KeylessVector.digest, authority: compiledKeylessAuthority("""
            identities:
              - issuer: \(KeylessVector.issuer)
                subject: \(KeylessVector.subject)
            """)))
        #expect(exact.passed, "\(exact.reason)")

        // Another subject.
        let bob = try await verifier.verify(keylessRequest(image, digest: KeylessVector.digest, authority: compiledKeylessAuthority("""
            identities:
              - issuerRegExp: ".*github.*"
                subject: bob@gmail.com
            """)))
        #expect(!bob.passed)
        #expect(bob.failure == .noValidSignature)
        #expect(bob.reason.contains("layer 0: identity: SAN \(KeylessVector.subject) does not match \"bob@gmail.com\""), "\(bob.reason)")
        #expect(bob.steps.contains { $0.name == "layer 0 identity" && !$0.passed })

        // Regular expressions that match only a prefix or a part of the value are not enough.
        for (subject, issuer) in [("philipp", ".*github.*"), ("philipp\\.belitz@securesystems", ".*github.*"), (".*philipp.*", "https://github")] {
            let partial = try await verifier.verify(keylessRequest(image, digest: KeylessVector.digest, authority: compiledKeylessAuthority("""
                identities:
                  - issuerRegExp: '\(issuer)'
                    subjectRegExp: '\(subject)'
                """)))
            #expect(!partial.passed, "\(subject) / \(issuer) must not match by prefix")
            #expect(partial.reason.contains("does not match /"), "\(partial.reason)")
        }

        // Several identities: one matching is enough; the reason lists why the others did not.
        let several = try await verifier.verify(keylessRequest(image, digest: KeylessVector.digest, authority: compiledKeylessAuthority("""
            identities:
              - issuer: https://token.actions.githubusercontent.com
                subject: bob@gmail.com
              - issuer: \(KeylessVector.issuer)
                subjectRegExp: 'philipp\\.belitz@securesystems\\.de'
            """)))
        #expect(several.passed, "\(several.reason)")

        // A Fulcio extension the certificate does not carry.
        let workflow = try await verifier.verify(keylessRequest(image, digest: KeylessVector.digest, authority: compiledKeylessAuthority("""
            identities:
              - issuer: \(KeylessVector.issuer)
                subject: \(KeylessVector.subject)
                extensions:
                  githubWorkflowRepository: sse-secure-systems/connaisseur
            """)))
        #expect(!workflow.passed)
        #expect(workflow.reason.contains("certificate has no githubWorkflowRepository extension"), "\(workflow.reason)")

        // The certificate expired minutes after signing (2024-05-30); it is judged at the Rekor
        // integrated time, so a wall clock far later still verifies. A wall clock pinned before the
        // integrated time makes the log's time lie in the future, which is refused.
        let authority = try compiledKeylessAuthority(Self.philipp)
        let later = try await KeylessVerifier(registry: client, clock: .fixed(Date(timeIntervalSince1970: 4_102_444_800)))
            .verify(keylessRequest(image, digest: KeylessVector.digest, authority: authority))
        #expect(later.passed, "\(later.reason)")
        let earlier = try await KeylessVerifier(registry: client, clock: .fixed(KeylessVector.integratedTime - 3600))
            .verify(keylessRequest(image, digest: KeylessVector.digest, authority: authority))
        #expect(!earlier.passed)
        #expect(earlier.reason.contains("layer 0: transparency log"), "\(earlier.reason)")

        // The same signature checked against another image's digest: the payload names the keyless digest.
        let elsewhere = try await verifier.verify(keylessRequest(
            "\(registry.host)/\(ConnaisseurVectors.repository):multi-cosigned-alice", digest: ConnaisseurVectors.aliceDigest, authority: authority))
        #expect(!elsewhere.passed)
        #expect(elsewhere.failure == .noSignatures, "a key-based .sig has no keyless layer: \(elsewhere.reason)")
        #expect(elsewhere.reason.contains("has no simple-signing layer with a dev.sigstore.cosign/certificate annotation"), "\(elsewhere.reason)")
        #expect(elsewhere.reason.contains("no Sigstore bundle refers to \(ConnaisseurVectors.aliceDigest)"), "\(elsewhere.reason)")

        // The keyless .sig copied under another image's signature tag: the payload's digest gives it away.
        let copied = try ImageReference(parsing: "\(registry.host)/\(ConnaisseurVectors.repository)")
        let otherDigest = try await TestRegistryImages(client: client).pushImage(try ImageReference(parsing: "\(copied.name):other"))
        let signature = try await client.manifest(
            try ImageReference(parsing: "\(copied.name):\(CosignArtifactKind.signature.tag(for: KeylessVector.digest))"), deadline: deadline())
        try await client.pushManifest(
            signature.bytes, mediaType: signature.descriptor.mediaType,
            to: try ImageReference(parsing: "\(copied.name):\(CosignArtifactKind.signature.tag(for: otherDigest))"), deadline: deadline())
        let replayed = try await verifier.verify(keylessRequest("\(copied.name):other", digest: otherDigest, authority: authority))
        #expect(!replayed.passed)
        #expect(replayed.reason.contains("layer 0: the payload signs \(KeylessVector.digest), not the image's digest \(otherDigest)"), "\(replayed.reason)")
    }

    @Test("Sigstore bundles attached as referrers: a message signature, an attestation that is not a signature, another subject")
    func bundleReferrers() async throws {
        // The conformance suite's production bundles of a.txt: a message signature (sign-blob)
        // and a SLSA provenance, both by the beacon identity, listed as referrers of a.txt's digest.
        let registry = try await offThePool { try RegistryFixture() }
        defer { registry.stop() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let subject = ConformanceBundles.artifactDigest
        try await ConformanceBundles.attach(["happy-path-intoto-in-dsse-v3", "happy-path-v0.3"], subject: subject, registry: registry, client: client)
        let image = "\(registry.host)/\(ConformanceBundles.repository)@\(subject)"
        let verifier = KeylessVerifier(registry: client)
        let beacon = """
            identities:
              - issuer: \(ConformanceBundles.issuer)
                subject: \(ConformanceBundles.subject)
                extensions:
                  githubWorkflowRepository: sigstore-conformance/extremely-dangerous-public-oidc-beacon
                  sourceRepositoryRef: refs/heads/main
            """

        // Neither is an image signature: each is refused with its reason, before anything is verified.
        let refused = try await verifier.verify(keylessRequest(image, digest: subject, authority: compiledKeylessAuthority(beacon)))
        #expect(!refused.passed)
        #expect(refused.steps.contains { $0.name == "bundle referrers" && $0.passed && $0.detail.contains("2 Sigstore bundle(s)") }, "\(refused.steps)")
        #expect(refused.steps.contains { $0.name.hasSuffix(" content") && $0.detail.contains("an attestation with predicate https://slsa.dev/provenance/v1") },
                "\(refused.steps)")
        #expect(refused.steps.contains { $0.name.hasSuffix(" content") && $0.detail.contains("the bundle holds a message signature (what cosign sign-blob makes)") },
                "\(refused.steps)")

        // The same bundle listed under another digest: its manifest's subject is a.txt's digest.
        let other = try ImageDigest(parsing: "sha256:" + String(repeating: "ab", count: 32))
        try await ConformanceBundles.attach(["happy-path-v0.3"], subject: subject, listedUnder: other, registry: registry, client: client)
        let misfiled = try await verifier.verify(keylessRequest(
            "\(registry.host)/\(ConformanceBundles.repository)@\(other)", digest: other, authority: compiledKeylessAuthority(beacon)))
        #expect(!misfiled.passed)
        #expect(misfiled.reason.contains("its subject is \(subject), not the image \(other)"), "\(misfiled.reason)")

        // Nothing attached at all.
        let bare = try await verifier.verify(keylessRequest(
            "\(registry.host)/conformance/none@\(subject)", digest: subject, authority: compiledKeylessAuthority(beacon)))
        #expect(bare.failure == .noSignatures)
        #expect(bare.reason.contains("no Sigstore bundle refers to \(subject)"), "\(bare.reason)")
    }

    /// cosign's image signature in a bundle (a DSSE envelope of the `cosign/sign/v1` statement)
    /// from the tests' private Sigstore: it passes for its identity and its image only. A message
    /// signature by the same certificate over the same manifest digest, which is what `cosign
    /// sign-blob` makes of a file whose bytes are the manifest, says nothing of what it signed
    /// and is refused.
    @Test("a DSSE image signature from a private Sigstore passes; a message signature over the same digest does not")
    func dsseImageSignatureFromAPrivateSigstore() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        defer { registry.stop() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let sigstore = try await PrivateSigstoreFixture.make()
        let manifest = [UInt8](try Data(contentsOf: sigstore.file("image-manifest.json")))
        let digest = try ImageDigest(parsing: "sha256:" + DigestAlgorithm.sha256.hexHash(manifest))
        let dsse = [UInt8](try Data(contentsOf: sigstore.file("image-signature-dsse.json")))
        let signed = try ImageReference(parsing: "\(registry.host)/private/signed")
        try await KeyBundle.attach([dsse], to: digest, in: signed, client: client)
        let blob = try ImageReference(parsing: "\(registry.host)/private/blob-signed")
        try await KeyBundle.attach([[UInt8](try Data(contentsOf: sigstore.file("image-signature-message.json")))], to: digest, in: blob, client: client)
        let other = try ImageDigest(parsing: "sha256:" + String(repeating: "ef", count: 32))
        try await KeyBundle.attach([dsse], to: other, in: signed, client: client)
        let root = sigstore.file("trusted_root.json").path
        func authority(subject: String = PrivateSigstoreFixture.subject) throws -> CompiledAuthority {
            try compiledKeylessAuthority(
                "identities:\n  - issuer: \(PrivateSigstoreFixture.issuer)\n    subject: \(subject)\ntrustRoot:\n  file: \(root)")
        }
        let verifier = KeylessVerifier(registry: client)

        let passed = try await verifier.verify(keylessRequest("\(signed.name)@\(digest)", digest: digest, authority: try authority()))
        #expect(passed.passed, "\(passed.reason)\n\(passed.steps)")
        #expect(passed.format == .sigstoreBundle)
        #expect(passed.signers.first?.identity == PrivateSigstoreFixture.subject)
        #expect(passed.signers.first?.issuer == PrivateSigstoreFixture.issuer)

        let stranger = try await verifier.verify(keylessRequest("\(signed.name)@\(digest)", digest: digest, authority: try authority(subject: "other@signet.test")))
        #expect(!stranger.passed)
        #expect(stranger.reason.contains("does not match \"other@signet.test\""), "\(stranger.reason)")

        // The statement names the signed manifest only.
        let elsewhere = try await verifier.verify(keylessRequest("\(signed.name)@\(other)", digest: other, authority: try authority()))
        #expect(!elsewhere.passed)
        #expect(elsewhere.reason.contains("the artifact is not a subject of the in-toto statement"), "\(elsewhere.reason)")

        let message = try await verifier.verify(keylessRequest("\(blob.name)@\(digest)", digest: digest, authority: try authority()))
        #expect(!message.passed)
        #expect(message.reason.contains("the bundle holds a message signature (what cosign sign-blob makes)"), "\(message.reason)")

        // The same statement signed by the fixture's managed key and logged (cosign 3 `sign
        // --key`), under `transparencyLog: require` with the private log.
        let keyed = try ImageReference(parsing: "\(registry.host)/private/key-signed")
        try await KeyBundle.attach([[UInt8](try Data(contentsOf: sigstore.file("image-signature-key-dsse.json")))], to: digest, in: keyed, client: client)
        let keyAuthority = try compiledKeyAuthority(
            "publicKeys:\n  - file: \(sigstore.file("key.pub").path)\ntransparencyLog: require\ntrustRoot:\n  file: \(root)")
        let byKey = try await CosignKeyVerifier(registry: client).verify(keylessRequest("\(keyed.name)@\(digest)", digest: digest, authority: keyAuthority))
        #expect(byKey.passed, "\(byKey.reason)\n\(byKey.steps)")
    }

    @Test("a trust root from a file: a private root without the production CAs refuses production signatures")
    func customTrustRoot() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        defer { registry.stop() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        try await ConnaisseurVectors.push(to: registry, client: client)
        let root = ConformanceBundles.folder.appendingPathComponent("intoto-with-custom-trust-root/trusted_root.json").path
        let authority = try compiledKeylessAuthority(Self.philipp + "\ntrustRoot:\n  file: \(root)")
        guard case .keyless(let trust) = authority.kind else { Issue.record("not keyless"); return }
        #expect(trust.trustRootSource == "file \(root)")
        let result = try await KeylessVerifier(registry: client).verify(keylessRequest(KeylessVector.image(in: registry), digest: KeylessVector.digest, authority: authority))
        #expect(!result.passed)
        #expect(result.reason.contains("layer 0: transparency log"), "\(result.reason)")
    }
}

/// Loader validation of `keyless` authorities: every error names the file, document and field.
@Suite("keyless authority loading")
struct KeylessAuthorityLoaderTests {
    struct Broken: Sendable, CustomStringConvertible {
        var label: String
        var body: String
        var field: String
        var message: String
        var description: String { label }
    }

    static let cases: [Broken] = [
        Broken(label: "no identities", body: "identities: []", field: "spec.authorities[0].keyless.identities", message: "at least one identity"),
        Broken(label: "identities missing", body: "trustRoot: {inline: \"{}\"}", field: "spec.authorities[0].keyless.identities", message: "at least one identity"),
        Broken(label: "bad regex", body: "identities:\n  - issuer: x\n    subjectRegExp: \"(unclosed\"",
               field: "spec.authorities[0].keyless.identities[0].subjectRegExp", message: "invalid regular expression"),
        Broken(label: "no issuer", body: "identities:\n  - subject: a@b.c", field: "spec.authorities[0].keyless.identities[0]", message: "one of issuer, issuerRegExp"),
        Broken(label: "issuer twice", body: "identities:\n  - issuer: x\n    issuerRegExp: y\n    subject: a",
               field: "spec.authorities[0].keyless.identities[0]", message: "not both"),
        Broken(label: "unknown extension", body: "identities:\n  - issuer: x\n    subject: a\n    extensions: {githubRepo: y}",
               field: "spec.authorities[0].keyless.identities[0].extensions.githubRepo", message: "unknown Fulcio extension"),
        Broken(label: "typo in identity", body: "identities:\n  - issuer: x\n    subjct: a",
               field: "spec.authorities[0].keyless.identities[0].subjct", message: "unknown field"),
        Broken(label: "invalid inline trust root", body: "identities:\n  - {issuer: x, subject: a}\ntrustRoot: {inline: \"not json\"}",
               field: "spec.authorities[0].keyless.trustRoot.inline", message: "not a usable Sigstore trusted_root.json"),
        Broken(label: "trust root without CAs", body: "identities:\n  - {issuer: x, subject: a}\ntrustRoot: {inline: \"{}\"}",
               field: "spec.authorities[0].keyless.trustRoot.inline", message: "no usable certificate authority"),
        Broken(label: "two trust root sources", body: "identities:\n  - {issuer: x, subject: a}\ntrustRoot: {inline: \"{}\", file: /x}",
               field: "spec.authorities[0].keyless.trustRoot", message: "exactly one of file, inline, configMapRef"),
        Broken(label: "typo in trust root", body: "identities:\n  - {issuer: x, subject: a}\ntrustRoot: {fil: /x}",
               field: "spec.authorities[0].keyless.trustRoot.fil", message: "unknown field"),
    ]

    @Test(arguments: cases)
    func refused(_ broken: Broken) throws {
        do {
            _ = try compiledKeylessAuthority(broken.body)
            Issue.record("\(broken.label) was accepted")
        } catch let error as PolicyLoadError {
            #expect(error.file == "keyless.yaml")
            #expect(error.document == 1)
            #expect(error.fieldPath == broken.field, "\(error)")
            #expect(error.message.contains(broken.message), "\(error)")
        }
    }

    @Test func compilesIdentitiesAndDefaultsToTheProductionRoot() throws {
        let authority = try compiledKeylessAuthority("""
            identities:
              - issuer: https://token.actions.githubusercontent.com
                subjectRegExp: "^https://github\\\\.com/acme/app/\\\\.github/workflows/release\\\\.yml@refs/tags/v.*$"
                extensions:
                  githubWorkflowRepository: acme/app
                  sourceRepositoryRef: refs/heads/main
            """)
        guard case .keyless(let trust) = authority.kind else { Issue.record("not keyless"); return }
        #expect(trust.trustRootSource == "embedded production root")
        #expect(trust.trustRootDigest == TrustedRoot.productionJSONDigest)
        #expect(!trust.trustedRoot.certificateAuthorities.isEmpty)
        let identity = try #require(trust.identities.first)
        #expect(identity.issuer == .exact("https://token.actions.githubusercontent.com"))
        #expect(identity.subjectAlternativeName == .regularExpression(#"^https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*$"#))
        #expect(identity.extensions == [.githubWorkflowRepository: .exact("acme/app"), .sourceRepositoryRef: .exact("refs/heads/main")])
    }

    @Test func readsTrustRootsFromMountedConfigMaps() throws {
        let mounted = TemporaryDirectory(prefix: "signet-configmaps")
        let root = ConformanceBundles.folder.appendingPathComponent("intoto-with-custom-trust-root/trusted_root.json")
        try FileManager.default.createDirectory(at: mounted.file("signet-system/private-root"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: root, to: mounted.file("signet-system/private-root/trusted_root.json"))
        var loader = PolicyLoader()
        loader.configMapsDirectory = mounted.path
        let yaml = """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata: {name: private}
            spec:
              images: [{glob: "**"}]
              authorities:
                - keyless:
                    identities: [{issuer: x, subject: a}]
                    trustRoot: {configMapRef: {namespace: signet-system, name: private-root}}
            """
        let set = try loader.load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(yaml.utf8))])
        guard case .keyless(let trust) = set.policies[0].authorities[0].kind else { Issue.record("not keyless"); return }
        #expect(trust.trustRootSource == "configmap signet-system/private-root key trusted_root.json")
        #expect(trust.trustRootDigest != TrustedRoot.productionJSONDigest)
    }
}
