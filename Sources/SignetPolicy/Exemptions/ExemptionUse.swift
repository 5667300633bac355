import Foundation

/// A `PolicyException` or `EmergencyBypass` that allowed an image: what warnings, audit
/// annotations (`admission.k8s.io/v1` `AdmissionResponse.auditAnnotations`) and audit records
/// name (kind, namespace/name, expiry as RFC 3339, reason, and who created and last changed the
/// object as signet recorded it: ``ExemptionAttribution``).
public struct ExemptionUse: Sendable, Hashable, Codable {
    /// Which resource kind.
    public enum Kind: String, Sendable, Hashable, Codable {
        case policyException = "PolicyException"
        case emergencyBypass = "EmergencyBypass"
    }

    public var kind: Kind
    /// The exception's namespace; `nil` for a bypass.
    public var namespace: String?
    public var name: String
    public var expiresAt: Date
    public var reason: String
    /// The policy exempted from (exceptions only).
    public var policy: String?
    /// Who created and last changed the object.
    public var attribution: ExemptionAttribution
    /// The object's `metadata.uid` when it came from the cluster: what Events about it name it
    /// by. Not part of audit records, which name the object by kind and name.
    public var uid: String?

    public init(
        kind: Kind, namespace: String?, name: String, expiresAt: Date, reason: String, policy: String?,
        attribution: ExemptionAttribution = ExemptionAttribution(createdBy: nil, lastChangedBy: nil), uid: String? = nil
    ) {
        self.attribution = attribution
        self.uid = uid
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.expiresAt = expiresAt
        self.reason = reason
        self.policy = policy
    }

    /// `billing/legacy-billing` or `incident-4711`.
    public var qualifiedName: String { namespace.map { "\($0)/\(name)" } ?? name }

    /// `PolicyException "billing/legacy-billing" (valid until 2026-12-01T00:00:00Z)`, with
    /// `, created by "alice"` (and `, last changed by "bob"`) when signet recorded who created
    /// and changed it (``ExemptionAttribution/credit``).
    public var description: String {
        let until = KubernetesTime.format(expiresAt)
        let creator = attribution.credit
        switch kind {
        case .policyException: return "PolicyException \"\(qualifiedName)\" (valid until \(until)\(creator))"
        case .emergencyBypass: return "EmergencyBypass \"\(qualifiedName)\" (expires at \(until)\(creator))"
        }
    }

    private enum CodingKeys: String, CodingKey {
        case kind, namespace, name, expiresAt, reason, policy
        case createdBy, createdByGroups, lastChangedBy, lastChangedByGroups
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try container.decode(Kind.self, forKey: .kind)
        namespace = try container.decodeIfPresent(String.self, forKey: .namespace)
        name = try container.decode(String.self, forKey: .name)
        let text = try container.decode(String.self, forKey: .expiresAt)
        guard let date = KubernetesTime.parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: .expiresAt, in: container, debugDescription: "not an RFC 3339 time")
        }
        expiresAt = date
        reason = try container.decode(String.self, forKey: .reason)
        policy = try container.decodeIfPresent(String.self, forKey: .policy)
        attribution = ExemptionAttribution(
            createdBy: try container.decodeIfPresent(String.self, forKey: .createdBy),
            createdByGroups: try container.decodeIfPresent([String].self, forKey: .createdByGroups) ?? [],
            lastChangedBy: try container.decodeIfPresent(String.self, forKey: .lastChangedBy),
            lastChangedByGroups: try container.decodeIfPresent([String].self, forKey: .lastChangedByGroups) ?? [])
    }

    /// Encodes `expiresAt` as RFC 3339, as Kubernetes writes times.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encodeIfPresent(namespace, forKey: .namespace)
        try container.encode(name, forKey: .name)
        try container.encode(KubernetesTime.format(expiresAt), forKey: .expiresAt)
        try container.encode(reason, forKey: .reason)
        try container.encodeIfPresent(policy, forKey: .policy)
        try container.encodeIfPresent(attribution.createdBy, forKey: .createdBy)
        if attribution.createdBy != nil { try container.encode(attribution.createdByGroups, forKey: .createdByGroups) }
        try container.encodeIfPresent(attribution.lastChangedBy, forKey: .lastChangedBy)
        if attribution.lastChangedBy != nil { try container.encode(attribution.lastChangedByGroups, forKey: .lastChangedByGroups) }
    }
}
