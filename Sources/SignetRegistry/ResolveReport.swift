import Foundation

/// What `signet resolve IMAGE` prints: the digest an image reference resolves to (the identity
/// signatures are checked against, see ``RegistryClient/resolve(_:deadline:)``), its media type,
/// the platform manifests of an index, and optionally what is attached to it (cosign tags and
/// OCI 1.1 referrers, OCI distribution spec v1.1 "Listing Referrers").
public struct ResolveReport: Sendable {
    /// One platform manifest of an index.
    public struct PlatformEntry: Sendable, Hashable {
        public let platform: String
        public let digest: ImageDigest
        public let mediaType: String
        public let size: Int64
    }

    /// One attached artifact.
    public struct AttachmentEntry: Sendable, Hashable {
        /// `cosign .sig tag`, `referrer` ...
        public let via: String
        /// The tag, for cosign artifacts.
        public let tag: String?
        public let digest: ImageDigest
        public let mediaType: String
        public let artifactType: String?
    }

    /// The reference as given, normalised.
    public let reference: ImageReference
    /// The manifest (or index) the reference resolves to.
    public let descriptor: Descriptor
    public let platforms: [PlatformEntry]
    /// Attached artifacts; nil when not asked for.
    public let attachments: [AttachmentEntry]?
    /// How referrers were found (`referrersAPI`, `tagSchema`, `none`), when asked for.
    public let referrersSource: ReferrersResult.Source?
    /// Registry requests the report took.
    public let requests: Int

    /// Resolves `reference` with `client` and, with `includeReferrers`, lists what is attached.
    ///
    /// The signet CLI calls this for `signet resolve IMAGE` and `signet resolve --referrers IMAGE`
    /// and prints ``render()``.
    public static func make(
        _ reference: ImageReference, client: RegistryClient, includeReferrers: Bool = false, deadline: ContinuousClock.Instant
    ) async throws(RegistryError) -> ResolveReport {
        do {
            let (report, requests) = try await RegistryRequestCounter.counting { () async throws -> ResolveReport in
                let fetched = try await client.manifest(reference, deadline: deadline)
                var platforms: [PlatformEntry] = []
                if let index = fetched.index {
                    platforms = index.manifests.map {
                        PlatformEntry(
                            platform: $0.platform?.description ?? $0.artifactType ?? "unknown",
                            digest: $0.digest, mediaType: $0.mediaType, size: $0.size)
                    }
                }
                var attachments: [AttachmentEntry]?
                var source: ReferrersResult.Source?
                if includeReferrers {
                    let digest = fetched.descriptor.digest
                    var found: [AttachmentEntry] = []
                    for kind in CosignArtifactKind.allCases {
                        if let artifact = try await client.cosignArtifact(kind, for: digest, in: reference, deadline: deadline) {
                            found.append(AttachmentEntry(
                                via: "cosign .\(kind.rawValue) tag", tag: kind.tag(for: digest), digest: artifact.descriptor.digest,
                                mediaType: artifact.descriptor.mediaType, artifactType: artifact.imageManifest?.artifactType))
                        }
                    }
                    let referrers = try await client.referrers(of: digest, in: reference, deadline: deadline)
                    source = referrers.source
                    found += referrers.referrers.map {
                        AttachmentEntry(via: "referrer", tag: nil, digest: $0.digest, mediaType: $0.mediaType, artifactType: $0.artifactType)
                    }
                    attachments = found
                }
                return ResolveReport(
                    reference: reference, descriptor: fetched.descriptor, platforms: platforms, attachments: attachments,
                    referrersSource: source, requests: 0)
            }
            return ResolveReport(
                reference: report.reference, descriptor: report.descriptor, platforms: report.platforms,
                attachments: report.attachments, referrersSource: report.referrersSource, requests: requests)
        } catch let error as RegistryError {
            throw error
        } catch {
            throw RegistryError(.badResponse(registry: reference.registry, detail: "\(error)"))
        }
    }

    /// Human-readable lines, one fact each: the normalised reference, then `digest:`, media type,
    /// size, the platform entries of an index, the attachments when asked for, and the request count.
    ///
    /// ```
    /// 127.0.0.1:5000/demo/app:v1
    /// digest:     sha256:…
    /// media type: application/vnd.oci.image.index.v1+json
    /// size:       512
    /// platforms:
    ///   linux/amd64  sha256:…
    /// ```
    public func render() -> String {
        var lines = [
            "\(reference)",
            "digest:     \(descriptor.digest)",
            "media type: \(descriptor.mediaType)",
            "size:       \(descriptor.size)",
        ]
        if !platforms.isEmpty {
            lines.append("platforms:")
            let width = platforms.map(\.platform.count).max() ?? 0
            for entry in platforms {
                lines.append("  \(entry.platform.padding(toLength: width, withPad: " ", startingAt: 0))  \(entry.digest)")
            }
        }
        if let attachments {
            lines.append("attached (referrers via \(referrersSource?.rawValue ?? "none")):")
            if attachments.isEmpty { lines.append("  none") }
            for entry in attachments {
                var line = "  \(entry.via): \(entry.digest) \(entry.mediaType)"
                if let artifactType = entry.artifactType { line += " artifactType=\(artifactType)" }
                if let tag = entry.tag { line += " tag=\(tag)" }
                lines.append(line)
            }
        }
        lines.append("requests:   \(requests)")
        return lines.joined(separator: "\n") + "\n"
    }
}
