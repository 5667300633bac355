import Foundation

/// An `AdmissionReview` of Kubernetes `admission.k8s.io/v1` ("Dynamic Admission Control",
/// webhook request and response): the API server sends one with ``request`` set, the webhook
/// answers with one that has ``response`` set and the same `apiVersion`, `kind` and `uid`.
///
/// Decoding reads only what signet needs (uid, kind, resource, subResource, name, namespace,
/// operation, userInfo.username, dryRun, and the pod specs inside object and oldObject).
/// Encoding writes `apiVersion`, `kind` and `response`: a webhook never echoes the request.
public struct AdmissionReview: Sendable, Codable {
    /// The only version signet speaks.
    public static let apiVersion = "admission.k8s.io/v1"
    public static let kind = "AdmissionReview"

    public var apiVersion: String?
    public var kind: String?
    public var request: AdmissionRequest?
    public var response: AdmissionResponse?

    /// A response review for `uid`.
    public init(response: AdmissionResponse) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.request = nil
        self.response = response
    }

    /// A review read from the API server's request: its `request`, no `response`.
    init(apiVersion: String?, kind: String?, request: AdmissionRequest?) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.request = request
        self.response = nil
    }

    enum CodingKeys: String, CodingKey {
        case apiVersion, kind, request, response
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion)
        kind = try container.decodeIfPresent(String.self, forKey: .kind)
        request = try container.decodeIfPresent(AdmissionRequest.self, forKey: .request)
        response = try container.decodeIfPresent(AdmissionResponse.self, forKey: .response)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(apiVersion, forKey: .apiVersion)
        try container.encodeIfPresent(kind, forKey: .kind)
        try container.encodeIfPresent(response, forKey: .response)
    }
}

/// `AdmissionReview.request` (`admission.k8s.io/v1` `AdmissionRequest`), the fields signet reads.
public struct AdmissionRequest: Sendable, Decodable {
    /// Identifies this admission call; the response must carry it back.
    public var uid: String
    /// The kind of the object (`request.kind`), e.g. `apps/v1 Deployment`.
    public var kind: GroupVersionKind
    /// The resource being requested (`request.resource`), e.g. `apps/v1 deployments`.
    public var resource: GroupVersionResource?
    /// The subresource, e.g. `ephemeralcontainers`, `status`.
    public var subResource: String?
    /// The object's name; may be empty on CREATE with `generateName`.
    public var name: String?
    /// The namespace; absent for cluster-scoped objects.
    public var namespace: String?
    public var operation: AdmissionOperation
    public var userInfo: AdmissionUserInfo?
    /// When true, the request will not be persisted: the webhook must have no side effects.
    public var dryRun: Bool?

    /// The pod specs of `request.object` and `request.oldObject`, decoded leniently so that a
    /// malformed field becomes a precise denial instead of a decoding failure.
    var object: WorkloadObject?
    var oldObject: WorkloadObject?

    public init(
        uid: String, kind: GroupVersionKind, resource: GroupVersionResource? = nil, subResource: String? = nil,
        name: String? = nil, namespace: String? = nil, operation: AdmissionOperation,
        userInfo: AdmissionUserInfo? = nil, dryRun: Bool? = nil
    ) {
        self.init(
            uid: uid, kind: kind, resource: resource, subResource: subResource, name: name, namespace: namespace,
            operation: operation, userInfo: userInfo, dryRun: dryRun, object: nil, oldObject: nil)
    }

    /// Every field, the pod specs included, set at once (the reader builds a request this way,
    /// not field by field, which copied it).
    init(
        uid: String, kind: GroupVersionKind, resource: GroupVersionResource?, subResource: String?,
        name: String?, namespace: String?, operation: AdmissionOperation,
        userInfo: AdmissionUserInfo?, dryRun: Bool?, object: WorkloadObject?, oldObject: WorkloadObject?
    ) {
        self.uid = uid
        self.kind = kind
        self.resource = resource
        self.subResource = subResource
        self.name = name
        self.namespace = namespace
        self.operation = operation
        self.userInfo = userInfo
        self.dryRun = dryRun
        self.object = object
        self.oldObject = oldObject
    }
}

/// `metav1.GroupVersionKind` as the admission API writes it.
public struct GroupVersionKind: Sendable, Hashable, Codable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var kind: String

    public init(group: String, version: String, kind: String) {
        self.group = group
        self.version = version
        self.kind = kind
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        group = try container.decodeIfPresent(String.self, forKey: .group) ?? ""
        version = try container.decodeIfPresent(String.self, forKey: .version) ?? ""
        kind = try container.decode(String.self, forKey: .kind)
    }

    /// `apps/v1 Deployment`, `v1 Pod`.
    public var description: String { group.isEmpty ? "\(version) \(kind)" : "\(group)/\(version) \(kind)" }
}

/// `metav1.GroupVersionResource` as the admission API writes it.
public struct GroupVersionResource: Sendable, Hashable, Codable {
    public var group: String
    public var version: String
    public var resource: String

    public init(group: String, version: String, resource: String) {
        self.group = group
        self.version = version
        self.resource = resource
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        group = try container.decodeIfPresent(String.self, forKey: .group) ?? ""
        version = try container.decodeIfPresent(String.self, forKey: .version) ?? ""
        resource = try container.decodeIfPresent(String.self, forKey: .resource) ?? ""
    }
}

/// `request.operation`.
public enum AdmissionOperation: String, Sendable, Hashable, Codable, CaseIterable {
    case create = "CREATE"
    case update = "UPDATE"
    case delete = "DELETE"
    case connect = "CONNECT"
}

/// `request.userInfo` (`authentication/v1` `UserInfo`), the part signet records.
public struct AdmissionUserInfo: Sendable, Hashable, Codable {
    public var username: String?

    public init(username: String?) {
        self.username = username
    }
}

/// `AdmissionReview.response` (`admission.k8s.io/v1` `AdmissionResponse`).
public struct AdmissionResponse: Sendable, Hashable, Codable {
    /// The request's uid.
    public var uid: String
    public var allowed: Bool
    /// Why the request was denied (`metav1.Status`).
    public var status: AdmissionStatus?
    /// Shown to the client (`kubectl` prints them); the API server limits their length.
    public var warnings: [String]?
    /// Added to the audit event; the API server prefixes each key with the webhook name.
    public var auditAnnotations: [String: String]?
    /// A JSON Patch (RFC 6902) of the object, from a mutating webhook: sent base64-encoded with
    /// `patchType: JSONPatch`.
    public var patch: Data?

    public init(
        uid: String, allowed: Bool, status: AdmissionStatus? = nil, warnings: [String]? = nil, auditAnnotations: [String: String]? = nil,
        patch: Data? = nil
    ) {
        self.uid = uid
        self.allowed = allowed
        self.status = status
        self.warnings = warnings
        self.auditAnnotations = auditAnnotations
        self.patch = patch
    }
}

/// The subset of `metav1.Status` an admission response uses.
public struct AdmissionStatus: Sendable, Hashable, Codable {
    public var code: Int?
    public var reason: String?
    public var message: String?

    public init(code: Int?, reason: String?, message: String?) {
        self.code = code
        self.reason = reason
        self.message = message
    }
}
