import Foundation

/// A resource type as the Kubernetes API serves it: group, version, plural name, kind and scope
/// (Kubernetes API conventions, "Resources"; paths `/api/v1/...` for the core group and
/// `/apis/<group>/<version>/...` otherwise).
public struct KubernetesResource: Sendable, Hashable, CustomStringConvertible {
    /// Empty for the core group.
    public var group: String
    public var version: String
    /// The plural resource name, e.g. `clusterimagepolicies`.
    public var plural: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
    }

    /// `signet.dev/v1alpha1` or `v1`.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// The collection path across all namespaces.
    public var collectionPath: String {
        (group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)") + "/\(plural)"
    }

    /// The collection path in `namespace` (namespaced resources), or across all namespaces.
    public func collectionPath(namespace: String?) -> String {
        guard namespaced, let namespace else { return collectionPath }
        let base = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        return "\(base)/namespaces/\(Self.segment(namespace))/\(plural)"
    }

    /// The path of one object. The name and namespace are each one path segment whatever they
    /// hold: an image pull secret or service account name comes from a pod spec, which the API
    /// server does not check, and `../../victim/secrets/regcred` must not read another
    /// namespace's Secret.
    public func objectPath(name: String, namespace: String?) -> String {
        let base = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { return "\(base)/namespaces/\(Self.segment(namespace))/\(plural)/\(Self.segment(name))" }
        return "\(base)/\(plural)/\(Self.segment(name))"
    }

    /// `text` as one path segment (RFC 3986 section 3.3): everything but the unreserved
    /// characters percent-encoded, and a segment of dots alone (which an HTTP client resolves
    /// as `.` or `..`, RFC 3986 section 5.2.4) written as `%2E`s. No valid object name changes.
    static func segment(_ text: String) -> String {
        if !text.isEmpty, text.allSatisfy({ $0 == "." }) { return String(repeating: "%2E", count: text.count) }
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    private static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:")

    public var description: String { "\(plural).\(group.isEmpty ? "core" : group)/\(version)" }

    /// `events` of the core group (`v1` `Event`), where signet reports every emergency-bypass use.
    public static let events = KubernetesResource(group: "", version: "v1", plural: "events", kind: "Event", namespaced: true)
    public static let namespaces = KubernetesResource(group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false)
    public static let secrets = KubernetesResource(group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true)
    /// Core `v1` ConfigMaps, read (each alone, by name) for the trust material policies name with `configMapRef`.
    public static let configMaps = KubernetesResource(group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true)
    public static let serviceAccounts = KubernetesResource(group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true)
    /// The built-in pod controllers (`apps/v1`, `batch/v1`, core `v1`), read to follow a Pod's owner chain.
    public static let replicaSets = KubernetesResource(group: "apps", version: "v1", plural: "replicasets", kind: "ReplicaSet", namespaced: true)
    public static let deployments = KubernetesResource(group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true)
    public static let statefulSets = KubernetesResource(group: "apps", version: "v1", plural: "statefulsets", kind: "StatefulSet", namespaced: true)
    public static let daemonSets = KubernetesResource(group: "apps", version: "v1", plural: "daemonsets", kind: "DaemonSet", namespaced: true)
    public static let jobs = KubernetesResource(group: "batch", version: "v1", plural: "jobs", kind: "Job", namespaced: true)
    public static let cronJobs = KubernetesResource(group: "batch", version: "v1", plural: "cronjobs", kind: "CronJob", namespaced: true)
    public static let replicationControllers = KubernetesResource(
        group: "", version: "v1", plural: "replicationcontrollers", kind: "ReplicationController", namespaced: true)
    /// The pod controllers by kind.
    public static let podControllers: [String: KubernetesResource] = Dictionary(
        uniqueKeysWithValues: [replicaSets, deployments, statefulSets, daemonSets, jobs, cronJobs, replicationControllers].map { ($0.kind, $0) })
    /// Core `v1` Pods, listed and watched by continuous verification.
    public static let pods = KubernetesResource(group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true)
    /// `wgpolicyk8s.io/v1alpha2` reports (the Policy WG's PolicyReport API, as Kyverno and Policy Reporter read it).
    public static let policyReports = KubernetesResource(
        group: "wgpolicyk8s.io", version: "v1alpha2", plural: "policyreports", kind: "PolicyReport", namespaced: true)
    public static let clusterPolicyReports = KubernetesResource(
        group: "wgpolicyk8s.io", version: "v1alpha2", plural: "clusterpolicyreports", kind: "ClusterPolicyReport", namespaced: false)
    /// `authentication.k8s.io/v1` TokenReview: create-only, answers who a bearer token belongs to.
    public static let tokenReviews = KubernetesResource(
        group: "authentication.k8s.io", version: "v1", plural: "tokenreviews", kind: "TokenReview", namespaced: false)
    /// `authorization.k8s.io/v1` SubjectAccessReview: create-only, answers whether a user may do something.
    public static let subjectAccessReviews = KubernetesResource(
        group: "authorization.k8s.io", version: "v1", plural: "subjectaccessreviews", kind: "SubjectAccessReview", namespaced: false)
    /// `coordination.k8s.io/v1` Lease: the lock of leader election among replicas.
    public static let leases = KubernetesResource(group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true)
    public static let clusterImagePolicies = KubernetesResource(group: "signet.dev", version: "v1alpha1", plural: "clusterimagepolicies", kind: "ClusterImagePolicy", namespaced: false)
    public static let policyExceptions = KubernetesResource(group: "signet.dev", version: "v1alpha1", plural: "policyexceptions", kind: "PolicyException", namespaced: true)
    public static let emergencyBypasses = KubernetesResource(group: "signet.dev", version: "v1alpha1", plural: "emergencybypasses", kind: "EmergencyBypass", namespaced: false)
}

/// Which objects of a resource a list or watch asks for: a namespace (or all) and a field
/// selector (Kubernetes API concepts, "Field selectors").
///
/// ``named(_:namespace:)`` selects one object by `metadata.name=<name>`: a list or watch with
/// that selector is authorized by an RBAC rule that names the object in `resourceNames`
/// (Kubernetes "Using RBAC Authorization", "Referring to resources"), so a reader of a few named
/// Secrets needs no access to the others.
public struct KubernetesListScope: Sendable, Hashable, CustomStringConvertible {
    /// `nil`: every namespace.
    public var namespace: String?
    /// A field selector such as `metadata.name=release-key`; `nil`: none.
    public var fieldSelector: String?
    /// A label selector such as `app=web,tier in (front,back)`; `nil`: none.
    public var labelSelector: String?

    public init(namespace: String? = nil, fieldSelector: String? = nil, labelSelector: String? = nil) {
        self.namespace = namespace
        self.fieldSelector = fieldSelector
        self.labelSelector = labelSelector
    }

    /// Every object, in every namespace.
    public static let all = KubernetesListScope()

    /// The object `name` in `namespace`, alone.
    public static func named(_ name: String, namespace: String?) -> KubernetesListScope {
        KubernetesListScope(namespace: namespace, fieldSelector: "metadata.name=\(name)")
    }

    /// `fieldSelector=...&labelSelector=...` for a query string, percent-encoded; empty without
    /// selectors.
    var queryItem: String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return [("fieldSelector", fieldSelector), ("labelSelector", labelSelector)].compactMap { name, value in
            value.map { "\(name)=" + ($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0) }
        }.joined(separator: "&")
    }

    public var description: String {
        [namespace.map { "namespace \($0)" }, fieldSelector, labelSelector].compactMap { $0 }.joined(separator: ", ")
    }
}
