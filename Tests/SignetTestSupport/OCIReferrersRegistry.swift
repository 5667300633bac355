import Foundation

/// A minimal OCI distribution endpoint on 127.0.0.1 that serves one OCI image layout (OCI image
/// specification, "Image Layout") as repository `repository` and, unlike Debian's docker-registry,
/// the referrers API (OCI distribution specification v1.1, "Listing Referrers"):
///
/// - `GET /v2/` (the API check);
/// - `GET`/`HEAD /v2/<name>/manifests/<digest or tag>` with `Content-Type` and
///   `Docker-Content-Digest`, for every manifest of the layout's `index.json` except the
///   `<alg>-<hex>` referrers tag indexes (so the tag fallback cannot answer);
/// - `GET /v2/<name>/blobs/<digest>` for every blob;
/// - `GET /v2/<name>/referrers/<digest>` (and `?artifactType=…`, answered filtered with
///   `OCI-Filters-Applied: artifactType`) for every manifest: an image index of the descriptors
///   of the manifests whose `subject` is that digest, each with its `artifactType` (the
///   manifest's own, else its config's media type) and annotations.
///
/// Served by ``RegistryStubServer``, whose ``requests`` show what a client asked for.
public final class OCIReferrersRegistry: Sendable {
    public let server: RegistryStubServer
    public let repository: String

    /// `127.0.0.1:<port>`.
    public var host: String { server.host }
    /// The requests served so far, as `METHOD /path?query` lines.
    public var requests: [String] { server.requests }

    public static func start(layout: URL, repository: String) async throws -> OCIReferrersRegistry {
        let routes = try routes(layout: layout, repository: repository)
        return OCIReferrersRegistry(server: try await RegistryStubServer.start(routes: routes), repository: repository)
    }

    private init(server: RegistryStubServer, repository: String) {
        self.server = server
        self.repository = repository
    }

    public func stop() { server.stop() }

    static let indexMediaType = "application/vnd.oci.image.index.v1+json"

    static func routes(layout: URL, repository: String) throws -> [String: [RegistryStubServer.Response]] {
        typealias Response = RegistryStubServer.Response
        let base = "/v2/\(repository)"
        var routes: [String: [Response]] = ["GET /v2/": [Response(headers: ["Content-Type": "application/json"], body: Array("{}".utf8))]]
        let blobDirectory = layout.appendingPathComponent("blobs/sha256")
        var blobs: [String: [UInt8]] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: blobDirectory.path) {
            let bytes = [UInt8](try Data(contentsOf: blobDirectory.appendingPathComponent(file)))
            blobs["sha256:\(file)"] = bytes
            routes["GET \(base)/blobs/sha256:\(file)"] = [Response(headers: ["Docker-Content-Digest": "sha256:\(file)"], body: bytes)]
            routes["HEAD \(base)/blobs/sha256:\(file)"] = [Response(headers: ["Docker-Content-Digest": "sha256:\(file)"], body: bytes)]
        }
        struct Index: Decodable {
            struct Entry: Decodable { var mediaType: String; var digest: String; var size: Int; var annotations: [String: String]? }
            var manifests: [Entry]
        }
        let index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: layout.appendingPathComponent("index.json")))
        var referrers: [String: [[String: Any]]] = [:]
        var manifestDigests: [String] = []
        for entry in index.manifests {
            let tag = entry.annotations?["org.opencontainers.image.ref.name"]
            if let tag, tag.hasPrefix("sha256-") { continue }  // the tag schema stays unserved
            guard let bytes = blobs[entry.digest] else { throw TestProcessError(message: "the layout has no blob \(entry.digest)") }
            manifestDigests.append(entry.digest)
            let answer = Response(headers: ["Content-Type": entry.mediaType, "Docker-Content-Digest": entry.digest], body: bytes)
            for reference in [entry.digest] + (tag.map { [$0] } ?? []) {
                routes["GET \(base)/manifests/\(reference)"] = [answer]
                routes["HEAD \(base)/manifests/\(reference)"] = [answer]
            }
            guard let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                  let subject = (object["subject"] as? [String: Any])?["digest"] as? String else { continue }
            var descriptor: [String: Any] = ["mediaType": entry.mediaType, "digest": entry.digest, "size": entry.size]
            if let artifactType = object["artifactType"] as? String ?? (object["config"] as? [String: Any])?["mediaType"] as? String {
                descriptor["artifactType"] = artifactType
            }
            if let annotations = object["annotations"] { descriptor["annotations"] = annotations }
            referrers[subject, default: []].append(descriptor)
        }
        let types = Set(referrers.values.flatMap { $0 }.compactMap { $0["artifactType"] as? String })
        for digest in manifestDigests {
            let all = referrers[digest] ?? []
            routes["GET \(base)/referrers/\(digest)"] = [try indexResponse(all, filtered: false)]
            for type in types {
                let matching = all.filter { $0["artifactType"] as? String == type }
                for spelling in Set([type, type.replacingOccurrences(of: "/", with: "%2F"), type.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? type]) {
                    routes["GET \(base)/referrers/\(digest)?artifactType=\(spelling)"] = [try indexResponse(matching, filtered: true)]
                }
            }
        }
        return routes
    }

    static func indexResponse(_ descriptors: [[String: Any]], filtered: Bool) throws -> RegistryStubServer.Response {
        let document: [String: Any] = ["schemaVersion": 2, "mediaType": indexMediaType, "manifests": descriptors]
        var headers = ["Content-Type": indexMediaType]
        if filtered { headers["OCI-Filters-Applied"] = "artifactType" }
        return RegistryStubServer.Response(headers: headers, body: [UInt8](try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])))
    }
}
