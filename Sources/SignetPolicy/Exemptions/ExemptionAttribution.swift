/// Who created and who last changed a `PolicyException` or `EmergencyBypass`, as the API server
/// authenticated them (`admission.k8s.io/v1` `AdmissionRequest.userInfo`), recorded by signet in
/// annotations of the object (issue 16, "Attributed"):
///
/// - `signet.dev/created-by`, `signet.dev/created-by-groups` (comma-separated): stamped at
///   `CREATE`, carried over unchanged by every `UPDATE`;
/// - `signet.dev/last-changed-by`, `signet.dev/last-changed-by-groups`: stamped at `CREATE` and
///   at every `UPDATE`.
///
/// signet's mutating endpoint (`/mutate`) writes them; its validating endpoint refuses an object
/// whose values are not the ones the API server authenticated (a value written by hand), so they
/// can be trusted as far as the webhooks were in the path. `approvedBy` and `requestedBy` stay
/// free text, what a person claims; these are what the cluster saw.
public struct ExemptionAttribution: Sendable, Hashable, Codable {
    public static let createdByAnnotation = "signet.dev/created-by"
    public static let createdByGroupsAnnotation = "signet.dev/created-by-groups"
    public static let lastChangedByAnnotation = "signet.dev/last-changed-by"
    public static let lastChangedByGroupsAnnotation = "signet.dev/last-changed-by-groups"
    /// The four annotations, in the order they are written.
    public static let annotations = [createdByAnnotation, createdByGroupsAnnotation, lastChangedByAnnotation, lastChangedByGroupsAnnotation]

    public var createdBy: String?
    public var createdByGroups: [String]
    public var lastChangedBy: String?
    public var lastChangedByGroups: [String]

    public init(createdBy: String?, createdByGroups: [String] = [], lastChangedBy: String?, lastChangedByGroups: [String] = []) {
        self.createdBy = createdBy
        self.createdByGroups = createdByGroups
        self.lastChangedBy = lastChangedBy
        self.lastChangedByGroups = lastChangedByGroups
    }

    /// Read from an object's annotations; empty fields when they are absent (an object from a
    /// file, or stored before signet recorded attribution).
    public init(annotations: [String: String]?) {
        let annotations = annotations ?? [:]
        func text(_ key: String) -> String? { annotations[key].flatMap { $0.isEmpty ? nil : $0 } }
        self.init(
            createdBy: text(Self.createdByAnnotation), createdByGroups: Self.groups(annotations[Self.createdByGroupsAnnotation]),
            lastChangedBy: text(Self.lastChangedByAnnotation), lastChangedByGroups: Self.groups(annotations[Self.lastChangedByGroupsAnnotation]))
    }

    /// `a,b,c` as a list; empty for `nil` or "".
    public static func groups(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map(String.init)
    }

    /// `, created by "alice"`, with `, last changed by "bob"` when someone else changed it since
    /// (the one who shaped what is in force now); empty when signet recorded neither. Appended
    /// to the description of an exemption in warnings, audit annotations and Events.
    public var credit: String {
        var text = createdBy.map { ", created by \"\($0)\"" } ?? ""
        if let lastChangedBy, lastChangedBy != createdBy { text += ", last changed by \"\(lastChangedBy)\"" }
        return text
    }

    /// `"alice" (groups: sre, system:authenticated)`, or `unknown (not recorded)`.
    public static func describe(_ user: String?, groups: [String]) -> String {
        guard let user else { return "unknown (not recorded)" }
        return groups.isEmpty ? "\"\(user)\"" : "\"\(user)\" (groups: \(groups.joined(separator: ", ")))"
    }
}
