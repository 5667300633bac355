import Foundation
import SignetCrypto
import SignetRegistry
import SignetTestSupport

/// Sigstore bundles made the way cosign 3 `sign --key` makes them (sigstore/cosign
/// `cmd/cosign/cli/sign` with the new bundle format; `specs/BUNDLE_SPEC.md`): a v0.3 bundle whose
/// verification material is a `publicKey` hint, holding either a DSSE envelope of an in-toto
/// statement (`https://sigstore.dev/cosign/sign/v1`, the image digest as subject, `-a`
/// annotations on that subject) or a message signature over the image's manifest digest; attached
/// as an OCI referrer (artifactType and layer of the bundle media type, empty config, the image
/// as `subject`, `dev.sigstore.bundle.content` and `.predicateType` annotations).
enum KeyBundle {
    static let mediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
    static let predicateType = "https://sigstore.dev/cosign/sign/v1"

    /// The in-toto statement cosign 3 signs for `digest`.
    static func statement(for digest: ImageDigest, annotations: [String: String] = [:]) -> [UInt8] {
        let subject: [String: Any] = ["digest": [digest.algorithm: digest.encoded], "annotations": annotations]
        let statement: [String: Any] = [
            "_type": "https://in-toto.io/Statement/v1", "subject": [subject], "predicateType": predicateType, "predicate": [String: Any](),
        ]
        return [UInt8](try! JSONSerialization.data(withJSONObject: statement, options: [.sortedKeys]))
    }

    /// A DSSE bundle: `key` signs the PAE of `statement` (DSSE v1 "Protocol").
    static func dsse(_ statement: [UInt8], key: TestSigningKey, hint: String = "test-key") async throws -> [UInt8] {
        let payloadType = "application/vnd.in-toto+json"
        let pae = Array("DSSEv1 \(payloadType.utf8.count) \(payloadType) \(statement.count) ".utf8) + statement
        let signature = try await key.signature(over: pae)
        let bundle: [String: Any] = [
            "mediaType": mediaType,
            "verificationMaterial": ["publicKey": ["hint": hint]],
            "dsseEnvelope": [
                "payload": Data(statement).base64EncodedString(), "payloadType": payloadType,
                "signatures": [["sig": Data(signature).base64EncodedString(), "keyid": ""]],
            ],
        ]
        return [UInt8](try JSONSerialization.data(withJSONObject: bundle, options: [.sortedKeys]))
    }

    /// A message-signature bundle: `key` signs `digest` itself (the SHA-256 of the manifest).
    static func messageSignature(over digest: ImageDigest, key: TestSigningKey, hint: String = "test-key") async throws -> [UInt8] {
        let value = Hex.decode(digest.encoded)!
        let signature = try await key.signature(overDigest: value)
        let bundle: [String: Any] = [
            "mediaType": mediaType,
            "verificationMaterial": ["publicKey": ["hint": hint]],
            "messageSignature": [
                "messageDigest": ["algorithm": "SHA2_256", "digest": Data(value).base64EncodedString()],
                "signature": Data(signature).base64EncodedString(),
            ],
        ]
        return [UInt8](try JSONSerialization.data(withJSONObject: bundle, options: [.sortedKeys]))
    }

    /// Pushes each bundle as a referrer manifest whose `subject` is `subject` (default: the
    /// digest it is listed under), and the tag-schema index `sha256-<hex>` of `digest` listing
    /// them all (the Debian registry has no referrers API), after `listedFirst`. Returns the
    /// referrers' digests.
    @discardableResult
    static func attach(
        _ bundles: [[UInt8]], to digest: ImageDigest, subject: ImageDigest? = nil, in image: ImageReference, client: RegistryClient,
        listedFirst: [Descriptor] = []
    ) async throws -> [ImageDigest] {
        let repository = image.withDigest(digest)
        let empty = try await client.pushBlob(Array("{}".utf8), mediaType: "application/vnd.oci.empty.v1+json", to: repository, deadline: deadline())
        var entries = listedFirst
        for json in bundles {
            let layer = try await client.pushBlob(json, mediaType: mediaType, to: repository, deadline: deadline())
            let manifest = Manifest.image(ImageManifest(
                artifactType: mediaType, config: empty, layers: [layer],
                subject: Descriptor(mediaType: MediaType.ociManifest, digest: subject ?? digest, size: 2),
                annotations: ["dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": predicateType]))
            var entry = try await client.pushManifest(manifest, to: repository.withDigest(try manifest.descriptor().digest), deadline: deadline())
            entry.artifactType = mediaType
            entries.append(entry)
        }
        let tagged = try ImageReference(parsing: "\(image.name):\(digest.tagForm)")
        try await client.pushManifest(Manifest.index(ImageIndex(manifests: entries)), to: tagged, deadline: deadline())
        return entries.dropFirst(listedFirst.count).map(\.digest)
    }
}

extension TestSigningKey {
    /// Signs a digest as given (ECDSA over the prehashed value, `openssl pkeyutl -sign`), as a
    /// Sigstore message signature over an image's manifest digest is made.
    func signature(overDigest digest: [UInt8]) async throws -> [UInt8] {
        try await offThePool {
            let input = self.directory.file("digest-\(UUID().uuidString)")
            let output = self.directory.file("signature-\(UUID().uuidString)")
            try Data(digest).write(to: input)
            try Self.openssl(["pkeyutl", "-sign", "-inkey", self.privateKeyFile, "-in", input.path, "-out", output.path])
            return [UInt8](try Data(contentsOf: output))
        }
    }
}
