import Foundation

/// Who a bearer token belongs to, as a TokenReview reports it (`authentication.k8s.io/v1`
/// `UserInfo`).
public struct KubernetesUserInfo: Sendable, Hashable, Codable {
    public var username: String
    public var uid: String
    public var groups: [String]
    public var extra: [String: [String]]

    public init(username: String, uid: String = "", groups: [String] = [], extra: [String: [String]] = [:]) {
        self.username = username
        self.uid = uid
        self.groups = groups
        self.extra = extra
    }
}

/// An authenticated TokenReview (`authentication.k8s.io/v1` `TokenReviewStatus`): who the
/// token belongs to, and the audiences it was found good for among those asked (empty when none
/// were asked, or when the authenticator does not know audiences).
public struct KubernetesTokenReview: Sendable, Hashable {
    public var user: KubernetesUserInfo
    public var audiences: [String]

    public init(user: KubernetesUserInfo, audiences: [String] = []) {
        self.user = user
        self.audiences = audiences
    }
}

/// What a SubjectAccessReview asks about (`authorization.k8s.io/v1` `ResourceAttributes`, or
/// `NonResourceAttributes` when ``nonResourcePath`` is set).
public struct KubernetesResourceAttributes: Sendable, Hashable {
    public var verb: String
    public var group: String
    public var resource: String
    public var namespace: String?
    public var name: String?
    /// A path that is not an API resource (`/metrics`), matched by RBAC's `nonResourceURLs`;
    /// `group`, `resource`, `namespace` and `name` are then not sent.
    public var nonResourcePath: String?

    public init(verb: String, group: String, resource: String, namespace: String? = nil, name: String? = nil) {
        self.verb = verb
        self.group = group
        self.resource = resource
        self.namespace = namespace
        self.name = name
    }

    /// `verb` on the non-resource URL `path` (RBAC `nonResourceURLs`).
    public static func nonResource(verb: String, path: String) -> KubernetesResourceAttributes {
        var attributes = KubernetesResourceAttributes(verb: verb, group: "", resource: "")
        attributes.nonResourcePath = path
        return attributes
    }

    /// `get clusterimagepolicies.signet.dev`, or `get /metrics`.
    public var description: String {
        if let nonResourcePath { return "\(verb) \(nonResourcePath)" }
        return "\(verb) \(resource)\(group.isEmpty ? "" : "." + group)"
    }
}

/// The API server's answer to a SubjectAccessReview: allowed or not, and why.
public struct KubernetesAccessDecision: Sendable, Hashable {
    public var allowed: Bool
    /// `status.reason` (often empty), or `status.evaluationError`.
    public var reason: String

    public init(allowed: Bool, reason: String) {
        self.allowed = allowed
        self.reason = reason
    }
}

extension KubernetesClient {
    /// Asks the API server who `token` belongs to (Kubernetes "Authenticating", "Webhook Token
    /// Authentication": `POST /apis/authentication.k8s.io/v1/tokenreviews`). `nil` when the
    /// server says the token is not authenticated; throws when it could not be asked.
    ///
    /// With `audiences`, the review asks whether the token was issued for one of them
    /// (`spec.audiences`); the answer's ``KubernetesTokenReview/audiences`` are those the server
    /// found the token good for (`status.audiences`), which the caller must check: an
    /// authenticator that does not know audiences answers with none, meaning "valid for the API
    /// server itself".
    public func reviewToken(_ token: String, audiences: [String] = []) async throws(KubernetesError) -> KubernetesTokenReview? {
        var spec: [String: Any] = ["token": token]
        if !audiences.isEmpty { spec["audiences"] = audiences }
        let status = try await review(.tokenReviews, spec: spec)
        guard status["authenticated"] as? Bool == true, let user = status["user"] as? [String: Any],
              let username = user["username"] as? String, !username.isEmpty else { return nil }
        let info = KubernetesUserInfo(
            username: username, uid: user["uid"] as? String ?? "", groups: user["groups"] as? [String] ?? [],
            extra: user["extra"] as? [String: [String]] ?? [:])
        return KubernetesTokenReview(user: info, audiences: status["audiences"] as? [String] ?? [])
    }

    /// Asks the API server whether `user` may do what `attributes` describe (Kubernetes
    /// "Authorization", "Checking API access": `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`).
    public func reviewAccess(user: KubernetesUserInfo, attributes: KubernetesResourceAttributes) async throws(KubernetesError) -> KubernetesAccessDecision {
        var spec: [String: Any] = ["user": user.username, "groups": user.groups]
        if let path = attributes.nonResourcePath {
            spec["nonResourceAttributes"] = ["verb": attributes.verb, "path": path]
        } else {
            var resourceAttributes: [String: Any] = ["verb": attributes.verb, "group": attributes.group, "resource": attributes.resource]
            if let namespace = attributes.namespace { resourceAttributes["namespace"] = namespace }
            if let name = attributes.name { resourceAttributes["name"] = name }
            spec["resourceAttributes"] = resourceAttributes
        }
        if !user.uid.isEmpty { spec["uid"] = user.uid }
        if !user.extra.isEmpty { spec["extra"] = user.extra }
        let status = try await review(.subjectAccessReviews, spec: spec)
        let allowed = status["allowed"] as? Bool == true && status["denied"] as? Bool != true
        let reason = (status["reason"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? status["evaluationError"] as? String ?? ""
        return KubernetesAccessDecision(allowed: allowed, reason: reason)
    }

    /// Creates a review object with `spec` and returns the `status` the server filled in.
    private func review(_ resource: KubernetesResource, spec: [String: Any]) async throws(KubernetesError) -> [String: Any] {
        let object: [String: Any] = ["apiVersion": resource.apiVersion, "kind": resource.kind, "spec": spec]
        guard let body = try? JSONSerialization.data(withJSONObject: object) else {
            throw KubernetesError(.decoding, "cannot encode the \(resource.kind)")
        }
        let answer = try await create(resource, namespace: nil, object: [UInt8](body))
        guard let document = (try? JSONSerialization.jsonObject(with: Data(answer))) as? [String: Any] else {
            throw KubernetesError(.decoding, "the \(resource.kind) answer is not a JSON object")
        }
        return document["status"] as? [String: Any] ?? [:]
    }
}
