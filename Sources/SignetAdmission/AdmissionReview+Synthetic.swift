import Foundation

extension AdmissionReview {
    /// Why ``makeSynthetic(objectJSON:namespace:userName:)`` cannot build a review.
    public struct SyntheticReviewError: Error, Sendable, Hashable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Wraps a bare object (a Pod, Deployment, ... as JSON) into the `admission.k8s.io/v1`
    /// `AdmissionReview` a kube-apiserver would send for its `CREATE`, for `signet review -f`.
    ///
    /// The object's `apiVersion` and `kind` give `request.kind` and `request.resource` (the
    /// resource is the lowercase plural of the kind); the namespace is `namespace`, else
    /// `metadata.namespace`, else `default`. The object bytes are embedded unchanged.
    ///
    /// - Returns: the review as JSON bytes, ready for ``AdmissionResponder/respond(to:deadline:)``.
    public static func makeSynthetic(objectJSON: [UInt8], namespace: String? = nil, userName: String = "signet-review") throws(SyntheticReviewError) -> [UInt8] {
        struct ObjectHeader: Decodable {
            struct Metadata: Decodable {
                var name: String?
                var namespace: String?
            }
            var apiVersion: String?
            var kind: String?
            var metadata: Metadata?
        }
        let header: ObjectHeader
        do {
            header = try JSONDecoder().decode(ObjectHeader.self, from: Data(objectJSON))
        } catch {
            throw SyntheticReviewError(message: "the object is not a JSON object with apiVersion and kind")
        }
        guard let apiVersion = header.apiVersion, !apiVersion.isEmpty, let kind = header.kind, !kind.isEmpty else {
            throw SyntheticReviewError(message: "the object has no apiVersion or kind")
        }
        let parts = apiVersion.split(separator: "/", maxSplits: 1).map(String.init)
        let group = parts.count == 2 ? parts[0] : ""
        let version = parts.count == 2 ? parts[1] : parts[0]

        struct Envelope: Encodable {
            struct Request: Encodable {
                var uid: String
                var kind: GroupVersionKind
                var resource: GroupVersionResource
                var requestKind: GroupVersionKind
                var requestResource: GroupVersionResource
                var name: String?
                var namespace: String
                var operation: String
                var userInfo: AdmissionUserInfo
                var dryRun: Bool
            }
            var apiVersion: String
            var kind: String
            var request: Request
        }
        let gvk = GroupVersionKind(group: group, version: version, kind: kind)
        let gvr = GroupVersionResource(group: group, version: version, resource: pluralResource(for: kind))
        let envelope = Envelope(
            apiVersion: AdmissionReview.apiVersion, kind: AdmissionReview.kind,
            request: .init(
                uid: UUID().uuidString.lowercased(), kind: gvk, resource: gvr, requestKind: gvk, requestResource: gvr,
                name: header.metadata?.name, namespace: namespace ?? header.metadata?.namespace ?? "default",
                operation: AdmissionOperation.create.rawValue, userInfo: AdmissionUserInfo(username: userName), dryRun: true))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var bytes = try? Array(encoder.encode(envelope)), bytes.suffix(2) == [UInt8(ascii: "}"), UInt8(ascii: "}")] else {
            throw SyntheticReviewError(message: "cannot encode the review")
        }
        // Splice the object in unchanged as the last member of `request`.
        bytes.removeLast(2)
        bytes += Array(#","object":"#.utf8) + objectJSON + Array("}}".utf8)
        return bytes
    }

    /// The resource name of a kind: lowercase plural (`Pod` → `pods`, `CronJob` → `cronjobs`).
    static func pluralResource(for kind: String) -> String {
        let lower = kind.lowercased()
        if lower.hasSuffix("s") { return lower + "es" }
        if lower.hasSuffix("y") { return String(lower.dropLast()) + "ies" }
        return lower + "s"
    }
}
