import Foundation

/// Media types of manifests and of the artifacts signet looks for.
///
/// Manifest types: OCI image specification v1.1 (`manifest.md`, `image-index.md`) and Docker's
/// Image Manifest V2, Schema 2 (manifest and manifest list). Artifact types: cosign's signature
/// conventions and the Notary Project specification.
public enum MediaType {
    /// OCI image manifest (image-spec v1.1 `manifest.md`).
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    /// OCI image index (image-spec v1.1 `image-index.md`).
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    /// Docker Image Manifest V2, Schema 2.
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    /// Docker manifest list (the multi-platform form of schema 2).
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

    /// The manifest types the client accepts, for `Accept` (OCI distribution spec v1.1, "Pulling
    /// manifests": the client should list every type it can handle).
    public static let allManifestTypes = [ociIndex, ociManifest, dockerManifestList, dockerManifest]

    /// cosign's simple-signing payload layer.
    public static let cosignSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
    /// A Sigstore bundle attached as an OCI 1.1 referrer.
    public static let sigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
    /// A Notary Project signature manifest's artifact type.
    public static let notarySignature = "application/vnd.cncf.notary.signature"

    /// Whether `mediaType` is one of the index forms (OCI index, Docker manifest list).
    public static func isIndex(_ mediaType: String) -> Bool {
        mediaType == ociIndex || mediaType == dockerManifestList
    }

    /// The media type without parameters (`; charset=...`), lowercased.
    static func essence(_ contentType: String) -> String {
        let base = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        return base.trimmingCharacters(in: .whitespaces).lowercased()
    }
}
