import Foundation
import NIOConcurrencyHelpers
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify

func deadline(_ seconds: Int = 120) -> ContinuousClock.Instant { TestBudget.deadline(seconds) }

/// A ClusterImagePolicy document with one `key` authority, `release-key`, trusting the public
/// key in `keyFile` for images matching `glob`; `extraSpec` lines (two-space indented under
/// `spec`) are added as written.
func keyPolicyYAML(name: String, glob: String, keyFile: String, extraSpec: String = "") -> String {
    """
    apiVersion: signet.dev/v1alpha1
    kind: ClusterImagePolicy
    metadata:
      name: \(name)
    spec:
    \(extraSpec)  images:
        - glob: "\(glob)"
      authorities:
        - name: release-key
          key:
            publicKeys:
              - file: \(keyFile)
    """
}

/// A key pair made with the openssl CLI, and signatures made with it the way cosign makes them
/// (the message is the payload bytes; SHA-256 unless told otherwise).
final class TestSigningKey: Sendable {
    enum Kind: String, Sendable, CaseIterable {
        case ecP256, ecP384, ecP521, rsa2048, rsaPSS2048, ed25519
    }

    let kind: Kind
    let directory: TemporaryDirectory
    var privateKeyFile: String { directory.file("key.pem").path }
    var publicKeyFile: String { directory.file("key.pub").path }

    init(_ kind: Kind) throws {
        self.kind = kind
        directory = TemporaryDirectory(in: Self.root.url, prefix: "key-\(kind.rawValue)")
        let generate: [String]
        switch kind {
        case .ecP256: generate = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        case .ecP384: generate = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]
        case .ecP521: generate = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"]
        case .rsa2048, .rsaPSS2048: generate = ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
        case .ed25519: generate = ["genpkey", "-algorithm", "ED25519"]
        }
        try Self.openssl(generate + ["-out", directory.file("key.pem").path])
        try Self.openssl(["pkey", "-in", directory.file("key.pem").path, "-pubout", "-out", directory.file("key.pub").path])
    }

    /// A key pair of `kind`, made once per process and `slot` (key generation, RSA above all,
    /// is the costliest part of these tests), without blocking the cooperative pool.
    static func generate(_ kind: Kind, slot: Int = 0) async throws -> TestSigningKey {
        let task = keys.withLockedValue { keys in
            if let existing = keys["\(kind.rawValue)-\(slot)"] { return existing }
            let task = Task { try await offThePool { try TestSigningKey(kind) } }
            keys["\(kind.rawValue)-\(slot)"] = task
            return task
        }
        return try await task.value
    }

    private static let keys = NIOLockedValueBox<[String: Task<TestSigningKey, any Error>]>([:])

    /// Every key of this process lives under one directory, removed when the test process exits:
    /// keys are shared by the tests for the life of the process, so none is ever released.
    private static let root: TemporaryDirectory = {
        let root = TemporaryDirectory(prefix: "signet-keys")
        atexit { TestSigningKey.removeKeys() }
        return root
    }()

    private static func removeKeys() {
        try? FileManager.default.removeItem(at: root.url)
    }

    /// ``sign(_:)`` without blocking the cooperative pool.
    func signature(over message: [UInt8]) async throws -> [UInt8] {
        try await offThePool { try self.sign(message) }
    }

    var publicKeyPEM: String { (try? String(contentsOfFile: publicKeyFile, encoding: .utf8)) ?? "" }

    func publicKey() throws -> PublicKey { try PublicKey(pem: publicKeyPEM) }

    var scheme: SignatureScheme {
        kind == .rsaPSS2048 ? SignatureScheme(hash: .sha256, rsaPadding: .pss) : SignatureScheme()
    }

    /// Signs `message` with openssl: `dgst -sha256 -sign` (ECDSA DER, RSA PKCS#1 v1.5 or PSS),
    /// `pkeyutl -sign -rawin` for Ed25519 (PureEdDSA).
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        let input = directory.file("message-\(UUID().uuidString)")
        let output = directory.file("signature-\(UUID().uuidString)")
        try Data(message).write(to: input)
        switch kind {
        case .ed25519:
            try Self.openssl(["pkeyutl", "-sign", "-inkey", privateKeyFile, "-rawin", "-in", input.path, "-out", output.path])
        case .rsaPSS2048:
            try Self.openssl([
                "dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
                "-sign", privateKeyFile, "-out", output.path, input.path,
            ])
        default:
            try Self.openssl(["dgst", "-sha256", "-sign", privateKeyFile, "-out", output.path, input.path])
        }
        return [UInt8](try Data(contentsOf: output))
    }

    func trusted(_ source: String? = nil) throws -> TrustedPublicKey {
        TrustedPublicKey(key: try publicKey(), scheme: scheme, source: source ?? kind.rawValue)
    }

    static func openssl(_ arguments: [String]) throws {
        let result = try TestProcess.run("openssl", arguments)
        guard result.status == 0 else { throw TestProcessError(message: "openssl \(arguments.joined(separator: " ")): \(result.stderr)") }
    }
}

/// A `key` authority over `keys`.
func keyAuthority(_ keys: [TrustedPublicKey], threshold: Int = 1, annotations: [String: String] = [:], name: String = "keys") -> CompiledAuthority {
    CompiledAuthority(name: name, index: 0, kind: .key(CompiledKeyAuthority(keys: keys, threshold: threshold, requiredAnnotations: annotations)))
}

func trustedKey(file: String, source: String? = nil) throws -> TrustedPublicKey {
    TrustedPublicKey(key: try PublicKey(pem: String(contentsOfFile: file, encoding: .utf8)), source: source ?? URL(fileURLWithPath: file).lastPathComponent)
}

/// The simple-signing payload cosign writes for `digest`.
func simpleSigningPayload(for digest: ImageDigest, reference: String, optional: String = "null", type: String = "cosign container image signature") -> [UInt8] {
    Array("""
        {"critical":{"identity":{"docker-reference":"\(reference)"},"image":{"docker-manifest-digest":"\(digest)"},"type":"\(type)"},"optional":\(optional)}
        """.utf8)
}

/// One layer of a signature image as a test wants it, possibly tampered with.
struct SignatureLayer {
    var payload: [UInt8]
    /// The annotation value; nil leaves the annotation out.
    var signature: String?
    /// Overrides the descriptor's size.
    var declaredSize: Int64?
    /// Further layer annotations (a Rekor SET in `dev.sigstore.cosign/bundle`, say).
    var annotations: [String: String] = [:]
}

/// Images and cosign signature images pushed to a test registry.
struct TestRegistryImages {
    let client: RegistryClient

    func reference(_ text: String) throws -> ImageReference { try ImageReference(parsing: text) }

    /// Pushes a one-layer image tagged as `reference` says; returns its digest.
    @discardableResult
    func pushImage(_ reference: ImageReference) async throws -> ImageDigest {
        let layer = try await client.pushBlob(
            (0..<256).map { _ in UInt8.random(in: 0...255) }, mediaType: "application/vnd.oci.image.layer.v1.tar", to: reference, deadline: deadline())
        let config = try await client.pushBlob(
            Array(#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["\#(layer.digest)"]}}"#.utf8),
            mediaType: "application/vnd.oci.image.config.v1+json", to: reference, deadline: deadline())
        return try await client.pushManifest(.image(ImageManifest(config: config, layers: [layer])), to: reference, deadline: deadline()).digest
    }

    /// Pushes `<repo>:sha256-<hex>.sig` with the given layers.
    func pushSignatures(_ layers: [SignatureLayer], for digest: ImageDigest, in repository: ImageReference) async throws {
        var descriptors: [Descriptor] = []
        for layer in layers {
            var descriptor = try await client.pushBlob(layer.payload, mediaType: MediaType.cosignSimpleSigning, to: repository, deadline: deadline())
            var annotations = layer.annotations
            if let signature = layer.signature { annotations[CosignKeyVerifier.signatureAnnotation] = signature }
            if !annotations.isEmpty { descriptor.annotations = annotations }
            if let size = layer.declaredSize { descriptor.size = size }
            descriptors.append(descriptor)
        }
        let config = try await client.pushBlob(
            Array(#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#.utf8),
            mediaType: "application/vnd.oci.image.config.v1+json", to: repository, deadline: deadline())
        let tagged = try ImageReference(parsing: "\(repository.name):\(CosignArtifactKind.signature.tag(for: digest))")
        try await client.pushManifest(.image(ImageManifest(config: config, layers: descriptors)), to: tagged, deadline: deadline())
    }

    /// Signs `digest` with each key (one layer each) and pushes the signature image.
    func sign(_ digest: ImageDigest, in repository: ImageReference, with keys: [TestSigningKey], optional: String = "null") async throws {
        let payload = simpleSigningPayload(for: digest, reference: repository.name, optional: optional)
        var layers: [SignatureLayer] = []
        for key in keys {
            layers.append(SignatureLayer(payload: payload, signature: Data(try await key.signature(over: payload)).base64EncodedString()))
        }
        try await pushSignatures(layers, for: digest, in: repository)
    }
}

/// The connaisseur cosign test registry (real cosign signatures) from the shared vectors,
/// pushed to a local registry under `securesystemsengineering/testimage`.
///
/// The signature images are pushed whole: their payload blobs are in the vectors and their
/// config blobs are the empty-image configs cosign writes, rebuilt here byte for byte (their
/// digests are checked by the registry). The image manifests reference multi-megabyte layers
/// the vectors do not carry; signatures cover only the manifest digest, so placeholders for
/// those blobs are written into the registry's storage before the manifests are pushed.
enum ConnaisseurVectors {
    static let folder = TestPaths.vectors.appendingPathComponent("connaisseur/test/testdata/cosign")
    static let repository = "securesystemsengineering/testimage"
    static let aliceDigest = try! ImageDigest(parsing: "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81")
    static let multiDigest = try! ImageDigest(parsing: "sha256:bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533")


    static func keyFile(_ name: String) -> String { folder.appendingPathComponent("\(name).key").path }

    static func push(to registry: RegistryFixture, client: RegistryClient) async throws {
        let base = folder.appendingPathComponent(repository)
        let repositoryReference = try ImageReference(parsing: "\(registry.host)/\(repository)")
        for name in try FileManager.default.contentsOfDirectory(atPath: base.appendingPathComponent("blobs").path) {
            try await client.pushBlob([UInt8](try Data(contentsOf: base.appendingPathComponent("blobs/\(name)"))), to: repositoryReference, deadline: deadline())
        }
        let manifests = base.appendingPathComponent("manifests")
        for name in try FileManager.default.contentsOfDirectory(atPath: manifests.path).sorted() where name.hasSuffix(".json") {
            let bytes = [UInt8](try Data(contentsOf: manifests.appendingPathComponent(name)))
            let tag = String(name.dropLast(".json".count))
            struct Layers: Decodable {
                struct Entry: Decodable { var digest: String; var size: Int; var mediaType: String }
                var mediaType: String?
                var config: Entry?
                var layers: [Entry]?
            }
            let document = try JSONDecoder().decode(Layers.self, from: Data(bytes))
            guard let config = document.config, let layers = document.layers, let mediaType = document.mediaType else { continue }
            if tag.hasSuffix(".sig") {
                let diffIDs = layers.map { "\"\($0.digest)\"" }.joined(separator: ",")
                let history = Array(repeating: #"{"created":"0001-01-01T00:00:00Z"}"#, count: layers.count).joined(separator: ",")
                let configJSON = #"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[\#(history)],"os":"","rootfs":{"type":"layers","diff_ids":[\#(diffIDs)]},"config":{}}"#
                let pushed = try await client.pushBlob(Array(configJSON.utf8), to: repositoryReference, deadline: deadline())
                guard pushed.digest.description == config.digest else {
                    throw TestProcessError(message: "rebuilt cosign config for \(tag) is \(pushed.digest), the manifest names \(config.digest)")
                }
            } else {
                for entry in [config] + layers { try plantBlob(entry.digest, in: registry) }
            }
            try await client.pushManifest(bytes, mediaType: mediaType, to: try ImageReference(parsing: "\(registry.host)/\(repository):\(tag)"), deadline: deadline())
        }
    }

    /// Writes a placeholder blob and its repository link into the registry's filesystem
    /// storage (distribution's layout: `blobs/sha256/<2>/<hex>/data`,
    /// `repositories/<name>/_layers/sha256/<hex>/link`).
    private static func plantBlob(_ digest: String, in registry: RegistryFixture) throws {
        let hex = String(digest.dropFirst("sha256:".count))
        let root = registry.directory.path + "/data/docker/registry/v2"
        let blob = "\(root)/blobs/sha256/\(hex.prefix(2))/\(hex)"
        let link = "\(root)/repositories/\(repository)/_layers/sha256/\(hex)"
        try FileManager.default.createDirectory(atPath: blob, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: link, withIntermediateDirectories: true)
        try Data("placeholder".utf8).write(to: URL(fileURLWithPath: blob + "/data"))
        try Data(digest.utf8).write(to: URL(fileURLWithPath: link + "/link"))
    }
}

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let offset = NIOLockedValueBox<Duration>(.zero)
    private let start = ContinuousClock.now

    func advance(by duration: Duration) { offset.withLockedValue { $0 += duration } }

    var clock: VerificationClock {
        VerificationClock { [self] in start + offset.withLockedValue { $0 } }
    }
}
