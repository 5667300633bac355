import Foundation
import SignetRegistry

/// A ``PolicyException`` (`signet.dev/v1alpha1`) validated and compiled: globs compiled,
/// `validUntil` parsed as RFC 3339 (Kubernetes `metav1.Time`).
///
/// In force while `now < validUntil` (it stops applying at the instant it expires) and
/// `validUntil` lies no further than the maximum exception window after `creationTimestamp`
/// (so an exception stored around signet's own validation, or extended by an update, never
/// applies beyond the window; issue 16, "Bounded"), and only for objects in its own namespace.
public struct CompiledException: Sendable {
    public let name: String
    public let namespace: String
    /// `nil` means every policy (`allPolicies: true`).
    public let policies: Set<String>?
    /// Empty means every object name.
    public let names: [NameGlob]
    /// `nil` means every kind.
    public let kinds: Set<String>?
    /// Empty means every image.
    public let images: [ImageGlob]
    public let validUntil: Date
    /// `metadata.creationTimestamp`; `nil` for an object from a file, whose window is measured from now.
    public let createdAt: Date?
    public let reason: String
    public let ticket: String?
    public let approvedBy: String
    /// Who created and last changed the object, as signet recorded it (see ``ExemptionAttribution``).
    public let attribution: ExemptionAttribution
    public let source: PolicySourceLocation
    public let definition: PolicyException

    public init(
        name: String, namespace: String, policies: Set<String>?, names: [NameGlob], kinds: Set<String>?,
        images: [ImageGlob], validUntil: Date, createdAt: Date? = nil, reason: String, ticket: String?, approvedBy: String,
        attribution: ExemptionAttribution? = nil, source: PolicySourceLocation, definition: PolicyException
    ) {
        self.name = name
        self.namespace = namespace
        self.policies = policies
        self.names = names
        self.kinds = kinds
        self.images = images
        self.validUntil = validUntil
        self.createdAt = createdAt
        self.reason = reason
        self.ticket = ticket
        self.approvedBy = approvedBy
        self.attribution = attribution ?? ExemptionAttribution(annotations: definition.metadata.annotations)
        self.source = source
        self.definition = definition
    }

    /// `namespace/name`.
    public var qualifiedName: String { "\(namespace)/\(name)" }

    /// Whether the exception is in force at `now` under `maximumWindow`.
    public func isActive(at now: Date, maximumWindow: Duration) -> Bool {
        now < validUntil && !exceedsWindow(maximumWindow, now: now)
    }

    /// Whether `validUntil` lies further than `window` after the creation time (after `now`
    /// for an object without one).
    /// A creation time more than ``ExemptionLimits/creationClockSkew`` after `now` exceeds it too.
    public func exceedsWindow(_ window: Duration, now: Date) -> Bool {
        if let createdAt, createdAt.timeIntervalSince(now) > ExemptionLimits.creationClockSkew { return true }
        return validUntil.timeIntervalSince(createdAt ?? now) > window.timeInterval
    }

    /// Whether it exempts `image` of `subject` from `policy` (ignoring time). Name globs match
    /// the object's name; an object known only by its `generateName` prefix (the mutating call,
    /// before the API server names it) matches none: `names: [web]` is the one object named
    /// `web`, not every `web…` a client asks the API server to name.
    /// An exception for a controller (`kinds: [Deployment]`) also exempts the objects it creates
    /// (its ReplicaSets and their Pods): through ``AdmissionSubject/owners``, the owner chain
    /// checked through the API, and only for an image the covered controller's own pod template
    /// names.
    public func covers(policy: String, subject: AdmissionSubject, image: ImageReference) -> Bool {
        guard subject.namespace == namespace else { return false }
        if let policies, !policies.contains(policy) { return false }
        if !images.isEmpty {
            let match = ImageMatchSubject(image)
            guard images.contains(where: { $0.exempts(match, digestFromTheNode: subject.isPinnedByTheNode(image)) }) else { return false }
        }
        if coversObject(kind: subject.kind, name: subject.definiteName) { return true }
        return subject.owners.contains { coversObject(kind: $0.kind, name: $0.name) && $0.templateNames(image) }
    }

    /// Whether the kinds and name globs take in an object of `kind` named `name`.
    func coversObject(kind: String, name: String?) -> Bool {
        if let kinds, !kinds.contains(kind) { return false }
        if !names.isEmpty {
            guard let name, !name.isEmpty, names.contains(where: { $0.matches(name) }) else { return false }
        }
        return true
    }

    /// How audit records and warnings name this exception.
    public func use(policy: String?) -> ExemptionUse {
        ExemptionUse(
            kind: .policyException, namespace: namespace, name: name, expiresAt: validUntil, reason: reason, policy: policy,
            attribution: attribution)
    }
}
