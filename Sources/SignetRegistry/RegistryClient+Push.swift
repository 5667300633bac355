import Foundation
import SignetCrypto
import SignetHTTPClient

extension RegistryClient {
    /// Uploads `bytes` as a blob to `reference`'s repository in one piece and returns its
    /// descriptor.
    ///
    /// OCI distribution specification v1.1, "Pushing a blob monolithically" (the POST-then-PUT
    /// form): `POST /v2/<name>/blobs/uploads/` answers 202 with a `Location`; `PUT <location>?digest=<digest>`
    /// with the bytes answers 201. The digest is SHA-256 of the bytes.
    @discardableResult
    public func pushBlob(
        _ bytes: [UInt8], mediaType: String = "application/octet-stream", to reference: ImageReference,
        deadline: ContinuousClock.Instant
    ) async throws(RegistryError) -> Descriptor {
        try await mapErrors {
            let target = Target(reference)
            let digest = ImageDigest(uncheckedAlgorithm: "sha256", encoded: DigestAlgorithm.sha256.hexHash(bytes))
            let name = "\(reference.name)@\(digest)"
            let start = HTTPRequest(
                method: .post, url: url(target, "blobs/uploads/"), body: [], maximumResponseBytes: 64 * 1024, deadline: deadline)
            let started = try await send(start, to: target, push: true, operation: "start upload of \(name)")
            guard started.status == 202, let location = started.header("Location"),
                  let base = URL(string: url(target, "blobs/uploads/")),
                  let uploadURL = URL(string: location, relativeTo: base)?.absoluteString else {
                throw started.status == 202
                    ? RegistryError(.badResponse(registry: target.registry, detail: "upload of \(name) started without a Location"))
                    : failure(started, target: target, reference: reference.name, operation: "start blob upload")
            }
            let separator = uploadURL.contains("?") ? "&" : "?"
            let encodedDigest = digest.description.addingPercentEncoding(withAllowedCharacters: Self.queryValueCharacters) ?? digest.description
            var put = HTTPRequest(
                method: .put, url: uploadURL + separator + "digest=" + encodedDigest, body: bytes,
                maximumResponseBytes: 64 * 1024, deadline: deadline)
            put.headers.append(("Content-Type", "application/octet-stream"))
            let finished = try await send(put, to: target, push: true, operation: "upload \(name)")
            guard finished.status == 201 else {
                throw failure(finished, target: target, reference: name, operation: "finish blob upload")
            }
            return Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
        }
    }

    /// Uploads a manifest or index and tags it: `PUT /v2/<name>/manifests/<tag or digest>` with
    /// `Content-Type: mediaType` (OCI distribution specification v1.1, "Pushing Manifests").
    /// `reference` names the tag (or the digest, for an untagged push). Returns the manifest's
    /// descriptor, its digest computed from `bytes`.
    @discardableResult
    public func pushManifest(
        _ bytes: [UInt8], mediaType: String, to reference: ImageReference, deadline: ContinuousClock.Instant
    ) async throws(RegistryError) -> Descriptor {
        try await mapErrors {
            let target = Target(reference)
            let digest = ImageDigest(uncheckedAlgorithm: "sha256", encoded: DigestAlgorithm.sha256.hexHash(bytes))
            if let named = reference.digest, named != digest {
                throw RegistryError(.digestMismatch(reference: reference.description, expected: named.description, actual: digest.description))
            }
            guard bytes.count <= configuration.maximumManifestBytes else {
                throw RegistryError(.tooLarge(what: "manifest for \(reference)", limit: configuration.maximumManifestBytes))
            }
            var put = HTTPRequest(
                method: .put, url: url(target, "manifests/" + Self.manifestPathReference(reference)), body: bytes,
                maximumResponseBytes: 64 * 1024, deadline: deadline)
            put.headers.append(("Content-Type", mediaType))
            let response = try await send(put, to: target, push: true, operation: "push manifest \(reference)")
            guard response.status == 201 else {
                throw failure(response, target: target, reference: reference.description, operation: "push manifest")
            }
            return Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
        }
    }

    /// Encodes `manifest` with ``Manifest/encoded()`` and pushes it with ``pushManifest(_:mediaType:to:deadline:)``.
    @discardableResult
    public func pushManifest(
        _ manifest: Manifest, to reference: ImageReference, deadline: ContinuousClock.Instant
    ) async throws(RegistryError) -> Descriptor {
        let bytes: [UInt8]
        do {
            bytes = try manifest.encoded()
        } catch {
            throw RegistryError(.invalidConfiguration("manifest does not encode: \(error)"))
        }
        return try await pushManifest(bytes, mediaType: manifest.mediaType, to: reference, deadline: deadline)
    }
}
