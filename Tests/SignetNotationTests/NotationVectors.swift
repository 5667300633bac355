import Foundation
import SignetCrypto
import SignetNotation
import SignetTestSupport

/// The Notation end-to-end vectors (`Tests/Vectors/notation/test/e2e/testdata`): OCI layouts
/// with real Notation signatures, trust-store certificates and trust policies.
enum NotationVectors {
    static let root = TestPaths.vectors.appendingPathComponent("notation/test/e2e/testdata")
    /// The signed image of the `e2e*` layouts: its manifest digest, media type and size.
    static let imageTarget = NotationTarget(
        digest: "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9",
        mediaType: "application/vnd.oci.image.manifest.v1+json", size: 517)
    /// A verification time inside every vector certificate's validity except `expired_e2e.crt`
    /// (which ended 2023-06-27) and `testcert7` (2025-01-21 to 2025-01-22): the vectors are
    /// judged at this pinned time, never at today's date.
    static let pinnedTime = ISO8601DateFormatter().date(from: "2025-02-17T09:00:00Z")!

    static func blob(_ layout: String, _ digest: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent("registry/oci_layout/\(layout)/blobs/sha256/\(digest)")))
    }

    /// The envelopes of a layout: each signature manifest's one layer, with its media type.
    static func envelopes(_ layout: String) throws -> [(bytes: [UInt8], mediaType: String)] {
        let folder = root.appendingPathComponent("registry/oci_layout/\(layout)/blobs/sha256")
        var result: [([UInt8], String)] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() {
            let data = try Data(contentsOf: folder.appendingPathComponent(name))
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let config = object["config"] as? [String: Any], config["mediaType"] as? String == "application/vnd.cncf.notary.signature",
                  let layers = object["layers"] as? [[String: Any]], let layer = layers.first,
                  let digest = (layer["digest"] as? String)?.dropFirst("sha256:".count), let mediaType = layer["mediaType"] as? String else { continue }
            result.append((try blob(layout, String(digest)), mediaType))
        }
        return result
    }

    static func trustPolicy(_ name: String) throws -> NotationTrustPolicy {
        try NotationTrustPolicy(json: [UInt8](Data(contentsOf: root.appendingPathComponent("config/trustpolicies/\(name)"))))
    }

    static func certificates(_ relative: String) throws -> [Certificate] {
        try NotationTrustStores.certificates(in: [UInt8](Data(contentsOf: root.appendingPathComponent(relative))), origin: relative)
    }

    /// Trust store `ca:e2e` holding the given local key certificate (`e2e.crt`, `new_e2e.crt`, `expired_e2e.crt`).
    static func stores(ca file: String, extra: [NotationTrustPolicy.TrustStoreName: [Certificate]] = [:]) throws -> NotationTrustStores {
        var stores = NotationTrustStores([NotationTrustPolicy.TrustStoreName(type: .ca, name: "e2e"): try certificates("config/localkeys/\(file)")])
        for (name, certificates) in extra { stores.add(certificates, to: name) }
        return stores
    }

    /// Verifies every envelope of `layout`; the verdict of the first that passes, else of the first.
    static func verify(
        _ layout: String, policy: String, stores: NotationTrustStores, target: NotationTarget = imageTarget, at time: Date = pinnedTime,
        scope: String = "localhost:5000/e2e"
    ) throws -> NotationVerification {
        guard let statement = try trustPolicy(policy).statement(for: scope) else { throw TestProcessError(message: "no statement for \(scope)") }
        let verifier = NotationVerifier(statement: statement, stores: stores)
        let outcomes = try envelopes(layout).map { verifier.verify(envelope: $0.bytes, mediaType: $0.mediaType, target: target, at: time) }
        guard let first = outcomes.first else { throw TestProcessError(message: "\(layout) has no signatures") }
        return outcomes.first(where: \.passed) ?? first
    }
}
