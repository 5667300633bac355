import Foundation
import SignetCrypto
import SignetJSON

/// An image manifest: one image's config and layers.
///
/// OCI image specification v1.1, `manifest.md` (with `artifactType` and `subject` for artifacts
/// and the referrers API), and Docker Image Manifest V2, Schema 2, which has the same fields.
public struct ImageManifest: Sendable, Hashable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(
        mediaType: String? = MediaType.ociManifest, artifactType: String? = nil, config: Descriptor,
        layers: [Descriptor], subject: Descriptor? = nil, annotations: [String: String]? = nil
    ) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.subject = subject
        self.annotations = annotations
    }
}

/// An image index: manifests for several platforms, or a list of referrers.
///
/// OCI image specification v1.1, `image-index.md`; Docker's manifest list has the same shape.
/// The referrers API answers with an index too (OCI distribution spec v1.1, "Listing Referrers").
public struct ImageIndex: Sendable, Hashable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(
        mediaType: String? = MediaType.ociIndex, artifactType: String? = nil, manifests: [Descriptor],
        subject: Descriptor? = nil, annotations: [String: String]? = nil
    ) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.manifests = manifests
        self.subject = subject
        self.annotations = annotations
    }
}

/// A parsed manifest of either kind: an image manifest (OCI image spec v1.1 `manifest.md`, Docker
/// schema 2) or an index (`image-index.md`, Docker manifest list).
public enum Manifest: Sendable, Hashable {
    case image(ImageManifest)
    case index(ImageIndex)

    /// The document's media type (its `mediaType` field, or the OCI type of its kind).
    public var mediaType: String {
        switch self {
        case .image(let image): image.mediaType ?? MediaType.ociManifest
        case .index(let index): index.mediaType ?? MediaType.ociIndex
        }
    }

    /// JSON with sorted keys and unescaped slashes: the bytes to push and to address by digest.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        switch self {
        case .image(let image): return Array(try encoder.encode(image))
        case .index(let index): return Array(try encoder.encode(index))
        }
    }

    /// The descriptor of ``encoded()``: media type, SHA-256 digest, size.
    public func descriptor() throws -> Descriptor {
        let bytes = try encoded()
        let digest = ImageDigest(uncheckedAlgorithm: "sha256", encoded: DigestAlgorithm.sha256.hexHash(bytes))
        return Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
    }

    /// Parses `bytes` as the manifest type `mediaType`; when the type is unknown or missing, the
    /// document's own `mediaType` field decides, then its shape (`manifests` means an index).
    static func parse(_ bytes: [UInt8], mediaType: String?) throws -> (Manifest, String) {
        struct Probe: Decodable {
            var mediaType: String?
            var manifests: [Descriptor]?
        }
        try UntrustedJSON.check(bytes)
        let data = Data(bytes)
        let probe = try JSONDecoder().decode(Probe.self, from: data)
        let declared = probe.mediaType ?? mediaType.flatMap { MediaType.allManifestTypes.contains($0) ? $0 : nil }
        let type = declared ?? (probe.manifests != nil ? MediaType.ociIndex : MediaType.ociManifest)
        if MediaType.isIndex(type) {
            return (.index(try JSONDecoder().decode(ImageIndex.self, from: data)), type)
        }
        return (.image(try JSONDecoder().decode(ImageManifest.self, from: data)), type)
    }
}

/// A manifest fetched from a registry (OCI distribution spec v1.1, "Pulling manifests"), with the
/// bytes it was parsed from (signatures cover those
/// bytes, not a re-encoding) and the descriptor that addresses them.
public struct FetchedManifest: Sendable {
    /// The reference it was fetched by, pinned to ``descriptor``'s digest.
    public let reference: ImageReference
    /// Media type, digest (verified against the bytes) and size.
    public let descriptor: Descriptor
    public let bytes: [UInt8]
    public let manifest: Manifest

    /// The image manifest, when this is one.
    public var imageManifest: ImageManifest? {
        if case .image(let manifest) = manifest { return manifest }
        return nil
    }

    /// The index, when this is one.
    public var index: ImageIndex? {
        if case .index(let index) = manifest { return index }
        return nil
    }
}
