import Foundation
import SignetCrypto
import SignetHTTPClient

extension RegistryClient {
    /// Resolves `reference` to the descriptor of the manifest it names: the image's identity for
    /// signatures.
    ///
    /// **Which digest is the identity.** A reference that names a digest (`app@sha256:…`, or
    /// `app:v1@sha256:…`) is that digest: the tag is ignored, as container runtimes do, and the
    /// registry is asked only to confirm that the manifest exists and to tell its media type. A
    /// tag resolves to the digest of the manifest the tag points at *as stored*: for a
    /// multi-platform image that is the digest of the index (or Docker manifest list), not of one
    /// platform's manifest. This is cosign's convention (it signs the digest a reference resolves
    /// to, and stores `sha256-<index digest>.sig`), and it is what a pod that runs the tag gets
    /// pinned to, so signatures must be looked up under this digest.
    ///
    /// Protocol (OCI distribution spec v1.1, "Checking if content exists in the registry" and
    /// "Pulling manifests"): `HEAD /v2/<name>/manifests/<reference>` with an `Accept` field listing
    /// the four manifest types; for a tag, the `Docker-Content-Digest` field gives the digest.
    /// When the registry does not answer HEAD usefully (no digest field, 405), a GET fetches the
    /// manifest and the digest is computed from its bytes.
    public func resolve(_ reference: ImageReference, deadline: ContinuousClock.Instant) async throws(RegistryError) -> Descriptor {
        try await mapErrors {
            let target = Target(reference)
            let pathReference = Self.manifestPathReference(reference)
            var request = HTTPRequest(
                method: .head, url: url(target, "manifests/" + pathReference),
                maximumResponseBytes: configuration.maximumManifestBytes, deadline: deadline)
            request.headers.append(("Accept", MediaType.allManifestTypes.joined(separator: ", ")))
            let response = try await send(request, to: target, operation: "resolve \(reference)")
            switch response.status {
            case 200:
                let mediaType = response.header("Content-Type").map(MediaType.essence) ?? ""
                let size = response.header("Content-Length").flatMap { Int64($0) } ?? -1
                if let digest = reference.digest, MediaType.allManifestTypes.contains(mediaType) {
                    return Descriptor(mediaType: mediaType, digest: digest, size: size)
                }
                if reference.digest == nil, let header = response.header("Docker-Content-Digest"),
                   let digest = try? ImageDigest(parsing: header), MediaType.allManifestTypes.contains(mediaType) {
                    return Descriptor(mediaType: mediaType, digest: digest, size: size)
                }
            case 405, 501:
                // HEAD not supported: fetch the manifest instead.
                break
            default:
                throw failure(response, target: target, reference: reference.description, operation: "resolve")
            }
            return try await fetchManifest(reference, target: target, accepting: MediaType.allManifestTypes, deadline: deadline).descriptor
        }
    }

    /// The digest to verify signatures against: the one `reference` names, without asking the
    /// registry, or else the one its tag resolves to (see ``resolve(_:deadline:)``).
    public func identityDigest(of reference: ImageReference, deadline: ContinuousClock.Instant) async throws(RegistryError) -> ImageDigest {
        if let digest = reference.digest { return digest }
        return try await resolve(reference, deadline: deadline).digest
    }

    /// Fetches the manifest or index `reference` names (OCI distribution spec v1.1, "Pulling
    /// manifests"), at most ``RegistryClientConfiguration/maximumManifestBytes`` large.
    ///
    /// By digest, the bytes must hash to the digest (a mismatch is ``RegistryError/Kind/digestMismatch``).
    /// By tag, the digest is computed from the bytes; a `Docker-Content-Digest` field that
    /// disagrees with them is a mismatch too.
    public func manifest(
        _ reference: ImageReference, accepting mediaTypes: [String] = MediaType.allManifestTypes,
        deadline: ContinuousClock.Instant
    ) async throws(RegistryError) -> FetchedManifest {
        try await mapErrors {
            try await fetchManifest(reference, target: Target(reference), accepting: mediaTypes, deadline: deadline)
        }
    }

    /// Fetches the blob `digest` from `reference`'s repository (OCI distribution spec v1.1,
    /// "Pulling blobs"), following redirects to storage, and checks that its bytes hash to
    /// `digest`. Blobs larger than `maximumBytes` (default:
    /// ``RegistryClientConfiguration/maximumBlobBytes``) are refused while downloading.
    public func blob(
        _ digest: ImageDigest, in reference: ImageReference, maximumBytes: Int? = nil, deadline: ContinuousClock.Instant
    ) async throws(RegistryError) -> [UInt8] {
        try await mapErrors {
            let target = Target(reference)
            let name = "\(reference.name)@\(digest)"
            let request = HTTPRequest(
                method: .get, url: url(target, "blobs/" + digest.description),
                maximumResponseBytes: maximumBytes ?? configuration.maximumBlobBytes, deadline: deadline)
            let response = try await send(request, to: target, operation: "blob \(name)")
            guard response.status == 200 else {
                throw failure(response, target: target, reference: name, operation: "fetch blob")
            }
            try Self.verify(response.body, against: digest, name: name)
            return response.body
        }
    }

    // MARK: - Internals

    func fetchManifest(
        _ reference: ImageReference, target: Target, accepting mediaTypes: [String], deadline: ContinuousClock.Instant
    ) async throws -> FetchedManifest {
        var request = HTTPRequest(
            method: .get, url: url(target, "manifests/" + Self.manifestPathReference(reference)),
            maximumResponseBytes: configuration.maximumManifestBytes, deadline: deadline)
        request.headers.append(("Accept", mediaTypes.joined(separator: ", ")))
        let response: HTTPResponse
        do {
            response = try await send(request, to: target, operation: "manifest \(reference)")
        } catch let error as RegistryError where error.kind == .tooLarge {
            throw RegistryError(.tooLarge(what: "manifest \(reference)", limit: configuration.maximumManifestBytes))
        }
        guard response.status == 200 else {
            throw failure(response, target: target, reference: reference.description, operation: "fetch manifest")
        }
        let digest: ImageDigest
        if let expected = reference.digest {
            try Self.verify(response.body, against: expected, name: reference.description)
            digest = expected
        } else {
            let header = response.header("Docker-Content-Digest").flatMap { try? ImageDigest(parsing: $0) }
            let algorithm = header.flatMap { Self.algorithm(of: $0) } ?? .sha256
            digest = ImageDigest(uncheckedAlgorithm: algorithm.rawValue, encoded: algorithm.hexHash(response.body))
            if let header, header != digest {
                throw RegistryError(.digestMismatch(reference: reference.description, expected: header.description, actual: digest.description))
            }
        }
        let contentType = response.header("Content-Type").map(MediaType.essence)
        let manifest: Manifest
        let mediaType: String
        do {
            (manifest, mediaType) = try Manifest.parse(response.body, mediaType: contentType)
        } catch {
            throw RegistryError(.badResponse(registry: target.registry, detail: "manifest \(reference) is not a valid manifest: \(error)"))
        }
        return FetchedManifest(
            reference: reference.withDigest(digest),
            descriptor: Descriptor(mediaType: mediaType, digest: digest, size: Int64(response.body.count)),
            bytes: response.body,
            manifest: manifest)
    }

    /// The `<reference>` path segment: the digest when there is one, else the tag.
    static func manifestPathReference(_ reference: ImageReference) -> String {
        reference.digest?.description ?? reference.effectiveTag ?? "latest"
    }

    static func algorithm(of digest: ImageDigest) -> DigestAlgorithm? {
        switch digest.algorithm {
        case "sha256": .sha256
        case "sha512": .sha512
        default: nil
        }
    }

    /// Checks that `bytes` hash to `digest` (OCI image spec v1.1, "Verification").
    static func verify(_ bytes: [UInt8], against digest: ImageDigest, name: String) throws {
        guard let algorithm = algorithm(of: digest) else {
            throw RegistryError(.digestMismatch(reference: name, expected: digest.description, actual: "unsupported digest algorithm \(digest.algorithm)"))
        }
        let actual = algorithm.hexHash(bytes)
        guard actual == digest.encoded else {
            throw RegistryError(.digestMismatch(reference: name, expected: digest.description, actual: "\(digest.algorithm):\(actual)"))
        }
    }

    /// Runs `body`, turning any error into a ``RegistryError``.
    func mapErrors<Result>(_ body: () async throws -> Result) async throws(RegistryError) -> Result {
        do {
            return try await body()
        } catch let error as RegistryError {
            throw error
        } catch is CancellationError {
            throw RegistryError(.cancelled)
        } catch {
            throw RegistryError(.badResponse(registry: "registry client", detail: "\(error)"))
        }
    }
}
