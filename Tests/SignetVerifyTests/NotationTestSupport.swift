import Foundation
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify

/// The Notation end-to-end vectors' OCI layouts (`Tests/Vectors/notation/test/e2e/testdata/registry/oci_layout/<name>`),
/// pushed to a test registry as `notation` would leave them on a registry without the referrers
/// API: every blob, every manifest (tagged as the layout names it, else by digest), and the
/// `sha256-<hex>` referrers tag index (OCI distribution specification v1.1, "Referrers Tag
/// Schema"), built from the signature manifests when the layout does not carry one.
enum NotationLayouts {
    static let root = TestPaths.vectors.appendingPathComponent("notation/test/e2e/testdata")
    /// The verification time the vectors are judged at (see `NotationVectors.pinnedTime`).
    static let pinnedTime = ISO8601DateFormatter().date(from: "2025-02-17T09:00:00Z")!

    static func certificateFile(_ name: String) -> String { root.appendingPathComponent("config/localkeys/\(name)").path }

    static func trustPolicy(_ name: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent("config/trustpolicies/\(name)"), encoding: .utf8)
    }

    /// Pushes layout `name` to `<registry>/<repository>`; returns the reference of its `v1` tag.
    @discardableResult
    static func push(_ name: String, to registry: RegistryFixture, client: RegistryClient, repository: String? = nil) async throws -> ImageReference {
        let layout = root.appendingPathComponent("registry/oci_layout/\(name)")
        let repositoryReference = try ImageReference(parsing: "\(registry.host)/\(repository ?? name)")
        let blobs = layout.appendingPathComponent("blobs/sha256")
        var documents: [String: [UInt8]] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: blobs.path).sorted() {
            let bytes = [UInt8](try Data(contentsOf: blobs.appendingPathComponent(file)))
            documents["sha256:\(file)"] = bytes
            try await client.pushBlob(bytes, to: repositoryReference, deadline: deadline())
        }
        struct Index: Decodable {
            struct Entry: Decodable { var mediaType: String; var digest: String; var annotations: [String: String]? }
            var manifests: [Entry]
        }
        let index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: layout.appendingPathComponent("index.json")))
        // Image manifests first, indexes (the referrers tag index) last.
        var hasTagIndex = false
        var signatures: [(digest: String, size: Int, annotations: [String: String]?, subject: String)] = []
        for entry in index.manifests.sorted(by: { ($0.mediaType == MediaType.ociIndex ? 1 : 0) < ($1.mediaType == MediaType.ociIndex ? 1 : 0) }) {
            let bytes = try require(documents[entry.digest])
            let tag = entry.annotations?["org.opencontainers.image.ref.name"]
            if tag?.hasPrefix("sha256-") == true { hasTagIndex = true }
            let target = try ImageReference(parsing: tag.map { "\(repositoryReference.name):\($0)" } ?? "\(repositoryReference.name)@\(entry.digest)")
            try await client.pushManifest(bytes, mediaType: entry.mediaType, to: target, deadline: deadline())
            if let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
               (object["config"] as? [String: Any])?["mediaType"] as? String == MediaType.notarySignature,
               let subject = (object["subject"] as? [String: Any])?["digest"] as? String {
                signatures.append((entry.digest, bytes.count, object["annotations"] as? [String: String], subject))
            }
        }
        if !hasTagIndex, let subject = signatures.first?.subject {
            let manifests = signatures.map { signature -> [String: Any] in
                var descriptor: [String: Any] = [
                    "mediaType": MediaType.ociManifest, "digest": signature.digest, "size": signature.size, "artifactType": MediaType.notarySignature,
                ]
                if let annotations = signature.annotations { descriptor["annotations"] = annotations }
                return descriptor
            }
            let document: [String: Any] = ["schemaVersion": 2, "mediaType": MediaType.ociIndex, "manifests": manifests]
            let bytes = [UInt8](try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]))
            let tag = subject.replacingOccurrences(of: ":", with: "-")
            try await client.pushManifest(bytes, mediaType: MediaType.ociIndex, to: try ImageReference(parsing: "\(repositoryReference.name):\(tag)"), deadline: deadline())
        }
        return try ImageReference(parsing: "\(repositoryReference.name):v1")
    }

    /// A ClusterImagePolicy with one `notation` authority, `notation-e2e`, whose trust policy
    /// is `trustPolicy` (JSON text, pasted as is) and whose `ca:e2e` store is `certificate`.
    static func policyYAML(name: String = "notation-e2e", glob: String, trustPolicy: String, certificate: String, extraStores: String = "") -> String {
        let indented = trustPolicy.split(separator: "\n", omittingEmptySubsequences: false).map { "              " + $0 }.joined(separator: "\n")
        return """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: \(name)
            spec:
              images:
                - glob: "\(glob)"
              authorities:
                - name: notation-e2e
                  notation:
                    trustPolicy: |
            \(indented)
                    trustStores:
                      - name: ca:e2e
                        file: \(certificate)
            \(extraStores)
            """
    }

    /// The policy compiled by the loader, as the webhook would.
    static func compile(_ yaml: String) throws -> CompiledPolicy {
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "notation.yaml", bytes: Array(yaml.utf8))])
        return try require(set.policies.first)
    }
}

private func `require`<T>(_ value: T?) throws -> T {
    guard let value else { throw TestProcessError(message: "missing value") }
    return value
}
