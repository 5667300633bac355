/// A content descriptor: what a manifest says about another piece of content.
///
/// OCI image specification v1.1, `descriptor.md`: `mediaType`, `digest` and `size` are required;
/// `urls`, `annotations`, `data`, `artifactType` optional; `platform` appears in image indexes
/// (`image-index.md`). The same shape serves Docker schema 2 manifests and manifest lists.
public struct Descriptor: Sendable, Hashable, Codable {
    public var mediaType: String
    public var digest: ImageDigest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    /// Base64 of the content itself, embedded (image-spec v1.1 "Embedded content").
    public var data: String?
    public var artifactType: String?
    public var platform: Platform?

    public init(
        mediaType: String, digest: ImageDigest, size: Int64, annotations: [String: String]? = nil,
        artifactType: String? = nil, platform: Platform? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.artifactType = artifactType
        self.platform = platform
    }
}

/// The platform an index entry runs on (OCI image spec v1.1, `image-index.md`, `platform`).
public struct Platform: Sendable, Hashable, Codable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var osVersion: String?
    public var osFeatures: [String]?
    public var variant: String?

    public init(architecture: String, os: String, variant: String? = nil, osVersion: String? = nil) {
        self.architecture = architecture
        self.os = os
        self.variant = variant
        self.osVersion = osVersion
    }

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    /// `os/architecture[/variant]`, as docker prints it: `linux/arm64/v8`.
    public var description: String {
        [os, architecture, variant].compactMap { $0 }.joined(separator: "/")
    }
}
