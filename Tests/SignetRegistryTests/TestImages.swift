import Foundation
import SignetCrypto
import SignetRegistry
import SignetTestSupport

/// Builds small images and signature artifacts in code and pushes them with the client's own
/// upload calls.
enum TestImages {
    static func deadline(_ seconds: Int = 120) -> ContinuousClock.Instant {
        TestBudget.deadline(seconds)
    }

    static func reference(_ text: String) throws -> ImageReference {
        try ImageReference(parsing: text)
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255) }
    }

    /// An image manifest with one random layer and a valid config for `architecture`.
    static func imageManifest(
        client: RegistryClient, repository: ImageReference, architecture: String = "amd64", deadline: ContinuousClock.Instant
    ) async throws -> ImageManifest {
        let layer = try await client.pushBlob(
            randomBytes(512), mediaType: "application/vnd.oci.image.layer.v1.tar", to: repository, deadline: deadline)
        let config = """
            {"architecture":"\(architecture)","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["\(layer.digest)"]}}
            """
        let configDescriptor = try await client.pushBlob(
            Array(config.utf8), mediaType: "application/vnd.oci.image.config.v1+json", to: repository, deadline: deadline)
        return ImageManifest(config: configDescriptor, layers: [layer])
    }

    /// Pushes a one-layer image tagged as `reference` says; returns the manifest's descriptor.
    @discardableResult
    static func pushImage(
        client: RegistryClient, reference: ImageReference, architecture: String = "amd64", deadline: ContinuousClock.Instant = deadline()
    ) async throws -> Descriptor {
        let manifest = try await imageManifest(client: client, repository: reference, architecture: architecture, deadline: deadline)
        return try await client.pushManifest(.image(manifest), to: reference, deadline: deadline)
    }

    /// Pushes amd64 and arm64 images by digest and an index over them tagged as `reference` says.
    static func pushMultiPlatformImage(
        client: RegistryClient, reference: ImageReference, deadline: ContinuousClock.Instant = deadline()
    ) async throws -> (index: Descriptor, platforms: [Descriptor]) {
        var entries: [Descriptor] = []
        for architecture in ["amd64", "arm64"] {
            let manifest = Manifest.image(
                try await imageManifest(client: client, repository: reference, architecture: architecture, deadline: deadline))
            var descriptor = try await client.pushManifest(
                manifest, to: reference.withDigest(try manifest.descriptor().digest), deadline: deadline)
            descriptor.platform = Platform(architecture: architecture, os: "linux", variant: architecture == "arm64" ? "v8" : nil)
            entries.append(descriptor)
        }
        let index = try await client.pushManifest(.index(ImageIndex(manifests: entries)), to: reference, deadline: deadline)
        return (index, entries)
    }

    /// A cosign-style signature manifest for `digest`: a simple-signing payload layer with the
    /// signature annotation, pushed under `sha256-<hex>.sig`.
    @discardableResult
    static func pushCosignSignature(
        client: RegistryClient, repository: ImageReference, for digest: ImageDigest, deadline: ContinuousClock.Instant = deadline()
    ) async throws -> Descriptor {
        let payload = """
            {"critical":{"identity":{"docker-reference":"\(repository.name)"},"image":{"docker-manifest-digest":"\(digest)"},"type":"cosign container image signature"},"optional":null}
            """
        var layer = try await client.pushBlob(
            Array(payload.utf8), mediaType: MediaType.cosignSimpleSigning, to: repository, deadline: deadline)
        layer.annotations = ["dev.cosignproject.cosign/signature": Data(randomBytes(64)).base64EncodedString()]
        let config = try await client.pushBlob(
            Array(#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#.utf8),
            mediaType: "application/vnd.oci.image.config.v1+json", to: repository, deadline: deadline)
        let tag = CosignArtifactKind.signature.tag(for: digest)
        let tagged = try ImageReference(parsing: "\(repository.name):\(tag)")
        return try await client.pushManifest(.image(ImageManifest(config: config, layers: [layer])), to: tagged, deadline: deadline)
    }

    /// An OCI 1.1 artifact whose subject is `subject`, pushed by digest.
    static func pushReferrer(
        client: RegistryClient, repository: ImageReference, subject: Descriptor, artifactType: String,
        deadline: ContinuousClock.Instant = deadline()
    ) async throws -> Descriptor {
        let emptyConfig = try await client.pushBlob(
            Array("{}".utf8), mediaType: "application/vnd.oci.empty.v1+json", to: repository, deadline: deadline)
        let payload = try await client.pushBlob(randomBytes(64), mediaType: "application/octet-stream", to: repository, deadline: deadline)
        let manifest = Manifest.image(ImageManifest(
            artifactType: artifactType, config: emptyConfig, layers: [payload],
            subject: Descriptor(mediaType: subject.mediaType, digest: subject.digest, size: subject.size)))
        var descriptor = try await client.pushManifest(
            manifest, to: repository.withDigest(try manifest.descriptor().digest), deadline: deadline)
        descriptor.artifactType = artifactType
        return descriptor
    }
}
