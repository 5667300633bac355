import Foundation
import SignetHTTPClient
import SignetJSON

/// The kinds of artifact cosign attaches to an image under a tag derived from its digest.
///
/// cosign's tag convention (sigstore/cosign `pkg/oci/remote`): `<alg>-<hex>.sig` for signatures,
/// `.att` for attestations, `.sbom` for SBOMs, in the image's repository.
public enum CosignArtifactKind: String, Sendable, Hashable, CaseIterable {
    case signature = "sig"
    case attestation = "att"
    case sbom = "sbom"

    /// The tag cosign uses for this kind of artifact of `digest`: `sha256-<hex>.sig`.
    public func tag(for digest: ImageDigest) -> String {
        "\(digest.tagForm).\(rawValue)"
    }
}

/// Artifacts that refer to a manifest through their `subject`, as a registry lists them.
///
/// OCI distribution specification v1.1, "Listing Referrers": an image index whose `manifests`
/// are descriptors of the referring manifests, with their `artifactType` and `annotations`.
/// Registries without the API keep the same index under the fallback tag `<alg>-<hex>`
/// ("Referrers Tag Schema").
public struct ReferrersResult: Sendable, Hashable {
    /// Where the list came from.
    public enum Source: String, Sendable, Hashable {
        /// The registry's referrers API.
        case referrersAPI
        /// The `<alg>-<hex>` tag index, because the registry has no referrers API.
        case tagSchema
        /// Neither the API nor the fallback tag exists: nothing is attached this way.
        case none
    }

    /// The manifest the referrers point at.
    public let subject: ImageDigest
    /// Descriptors of the referring manifests, filtered by artifact type (or its prefix) when
    /// one was asked for.
    public let referrers: [Descriptor]
    public let source: Source
    /// Whether the registry applied the `artifactType` filter itself (the `OCI-Filters-Applied`
    /// field); when it did not, the client filtered.
    public let filteredByRegistry: Bool
    /// How many referrers the registry listed, before the client's filters.
    public let listedCount: Int

    init(subject: ImageDigest, referrers: [Descriptor], source: Source, filteredByRegistry: Bool, listedCount: Int? = nil) {
        self.subject = subject
        self.referrers = referrers
        self.source = source
        self.filteredByRegistry = filteredByRegistry
        self.listedCount = listedCount ?? referrers.count
    }
}

extension RegistryClient {
    /// Fetches the cosign artifact of `kind` attached to `digest` in `reference`'s repository
    /// (the tag `sha256-<hex>.sig`, `.att` or `.sbom`); nil when there is none.
    ///
    /// The manifest comes by tag, so its own digest is computed from its bytes; what it signs is
    /// checked by the verifier against `digest`.
    public func cosignArtifact(
        _ kind: CosignArtifactKind, for digest: ImageDigest, in reference: ImageReference, deadline: ContinuousClock.Instant
    ) async throws(RegistryError) -> FetchedManifest? {
        let tagged = ImageReference(
            uncheckedRegistry: reference.registry, repository: reference.repository, tag: kind.tag(for: digest), digest: nil)
        do {
            return try await manifest(tagged, deadline: deadline)
        } catch where error.kind == .notFound {
            return nil
        }
    }

    /// The most referrers one listing keeps (after its filters): a verifier examines a few
    /// dozen, and every descriptor kept holds its annotations until the listing is read.
    public static let maximumListedReferrers = 4096

    /// Lists the manifests whose `subject` is `digest` in `reference`'s repository, optionally
    /// only those of `artifactType`, or whose artifact type starts with `artifactTypePrefix`
    /// (Sigstore bundles' media types carry their version).
    ///
    /// Uses `GET /v2/<name>/referrers/<digest>?artifactType=…` (OCI distribution spec v1.1,
    /// "Listing Referrers"), following `Link` pages (at most 16, filtered page by page, and at
    /// most ``maximumListedReferrers`` kept in all). When the registry answers 404 (no referrers
    /// API), reads the index tagged `<alg>-<hex>` instead ("Referrers Tag Schema"); when that
    /// tag does not exist either, the result is empty with source ``ReferrersResult/Source/none``.
    /// Filtering happens client-side whenever the registry did not confirm it in
    /// `OCI-Filters-Applied`.
    public func referrers(
        of digest: ImageDigest, in reference: ImageReference, artifactType: String? = nil, artifactTypePrefix: String? = nil,
        deadline: ContinuousClock.Instant
    ) async throws(RegistryError) -> ReferrersResult {
        try await mapErrors {
            let target = Target(reference)
            let name = "\(reference.name)@\(digest)"
            var path = "referrers/" + digest.description
            if let artifactType {
                path += "?artifactType=" + (artifactType.addingPercentEncoding(withAllowedCharacters: Self.queryValueCharacters) ?? artifactType)
            }
            var nextURL: String? = url(target, path)
            var collected: [Descriptor] = []
            var listed = 0
            var filtered = true
            var pages = 0
            while let current = nextURL, pages < 16 {
                pages += 1
                var request = HTTPRequest(
                    method: .get, url: current, maximumResponseBytes: configuration.maximumManifestBytes, deadline: deadline)
                request.headers.append(("Accept", MediaType.ociIndex))
                let response = try await send(request, to: target, operation: "referrers of \(name)")
                if response.status == 404 && pages == 1 {
                    return try await referrersFromTagSchema(
                        digest, reference: reference, artifactType: artifactType, artifactTypePrefix: artifactTypePrefix, deadline: deadline)
                }
                guard response.status == 200 else {
                    throw failure(response, target: target, reference: name, operation: "list referrers")
                }
                let index: ImageIndex
                do {
                    index = try UntrustedJSON.decode(ImageIndex.self, from: response.body)
                } catch let refusal as UntrustedJSON.Refusal {
                    throw RegistryError(.badResponse(registry: target.registry, detail: "referrers of \(name): \(refusal)"))
                } catch {
                    throw RegistryError(.badResponse(registry: target.registry, detail: "referrers of \(name) are not an image index"))
                }
                // Filtered page by page, so that other artifacts do not pile up across pages.
                listed += index.manifests.count
                collected += index.manifests.compactMap { Self.kept($0, artifactType: artifactType, prefix: artifactTypePrefix) }
                guard collected.count <= Self.maximumListedReferrers else {
                    let kind = artifactType.map { " of type \($0)" } ?? artifactTypePrefix.map { " of type \($0)…" } ?? ""
                    throw RegistryError(.badResponse(
                        registry: target.registry, detail: "\(name) has more than \(Self.maximumListedReferrers) referrers\(kind)"))
                }
                let applied = response.header("OCI-Filters-Applied")?.split(separator: ",")
                    .map { $0.trimmingCharacters(in: .whitespaces) } ?? []
                filtered = filtered && applied.contains("artifactType")
                nextURL = Self.nextPage(response, base: current)
                // The next page is asked with this registry's credentials: only of this registry.
                if let next = nextURL, !Self.sameOrigin(next, current) {
                    throw RegistryError(.badResponse(
                        registry: target.registry, detail: "the referrers of \(name) continue at another address (\(next)), which signet does not follow"))
                }
            }
            return ReferrersResult(
                subject: digest, referrers: collected, source: .referrersAPI, filteredByRegistry: artifactType != nil && filtered,
                listedCount: listed)
        }
    }

    /// The longest media type or artifact type a kept referrer may have: RFC 6838 section 4.2
    /// allows 127 characters on each side of the `/`.
    static let maximumMediaTypeBytes = 255

    /// A listed referrer as it is kept: of `artifactType`, or of a type starting with `prefix`,
    /// and only what a verifier reads of it (media type, digest, size, artifact type). The
    /// registry chose the rest (annotations, URLs, embedded data, platform); kept, each of up
    /// to 4,096 descriptors could hold megabytes of it until the listing is read. A referrer
    /// whose types are longer than any media type is left out.
    static func kept(_ referrer: Descriptor, artifactType: String?, prefix: String?) -> Descriptor? {
        if let artifactType, referrer.artifactType != artifactType { return nil }
        if let prefix, referrer.artifactType?.hasPrefix(prefix) != true { return nil }
        guard referrer.mediaType.utf8.count <= maximumMediaTypeBytes,
              (referrer.artifactType?.utf8.count ?? 0) <= maximumMediaTypeBytes else { return nil }
        return Descriptor(mediaType: referrer.mediaType, digest: referrer.digest, size: referrer.size, artifactType: referrer.artifactType)
    }

    private func referrersFromTagSchema(
        _ digest: ImageDigest, reference: ImageReference, artifactType: String?, artifactTypePrefix: String?, deadline: ContinuousClock.Instant
    ) async throws -> ReferrersResult {
        let tagged = ImageReference(
            uncheckedRegistry: reference.registry, repository: reference.repository, tag: digest.tagForm, digest: nil)
        let fetched: FetchedManifest
        do {
            fetched = try await fetchManifest(tagged, target: Target(reference), accepting: [MediaType.ociIndex], deadline: deadline)
        } catch let error as RegistryError where error.kind == .notFound {
            return ReferrersResult(subject: digest, referrers: [], source: .none, filteredByRegistry: false)
        }
        guard let index = fetched.index else {
            throw RegistryError(.badResponse(registry: reference.registry, detail: "\(tagged) is not an image index"))
        }
        let referrers = index.manifests.compactMap { Self.kept($0, artifactType: artifactType, prefix: artifactTypePrefix) }
        return ReferrersResult(subject: digest, referrers: referrers, source: .tagSchema, filteredByRegistry: false, listedCount: index.manifests.count)
    }

    /// The `Link: <url>; rel="next"` target (RFC 8288), resolved against the current page.
    static func nextPage(_ response: HTTPResponse, base: String) -> String? {
        for value in response.headers(named: "Link") {
            for link in value.split(separator: ",") {
                let parts = link.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard let first = parts.first, first.hasPrefix("<"), first.hasSuffix(">"),
                      parts.dropFirst().contains(where: { $0.replacingOccurrences(of: "\"", with: "") == "rel=next" }) else { continue }
                let target = String(first.dropFirst().dropLast())
                return URL(string: target, relativeTo: URL(string: base))?.absoluteString
            }
        }
        return nil
    }

    /// Whether two absolute URLs have the same scheme, host and port (RFC 6454 origin).
    static func sameOrigin(_ one: String, _ other: String) -> Bool {
        guard let a = URLComponents(string: one), let b = URLComponents(string: other),
              let schemeA = a.scheme?.lowercased(), let schemeB = b.scheme?.lowercased(),
              let hostA = a.host?.lowercased(), let hostB = b.host?.lowercased() else { return false }
        func port(_ components: URLComponents, _ scheme: String) -> Int? { components.port ?? (scheme == "https" ? 443 : scheme == "http" ? 80 : nil) }
        return schemeA == schemeB && hostA == hostB && port(a, schemeA) == port(b, schemeB)
    }

    static let queryValueCharacters: CharacterSet = {
        var set = CharacterSet.alphanumerics
        set.insert(charactersIn: "-._~")
        return set
    }()
}
