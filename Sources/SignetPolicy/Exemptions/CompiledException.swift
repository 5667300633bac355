import Foundation
import SignetRegistry

/// A ``PolicyException`` (`signet.dev/v1alpha1`) validated and compiled: globs compiled,
/// `validUntil` parsed as RFC 3339 (Kubernetes `metav1.Time`).
///
/// In force while `now < validUntil` (it stops applying at the instant it expires), and only for
/// objects in its own namespace.
public struct CompiledException: Sendable {
    public let name: String
    public let namespace: String
    /// `nil` means every policy.
    public let policies: Set<String>?
    /// Empty means every object name.
    public let names: [NameGlob]
    /// `nil` means every kind.
    public let kinds: Set<String>?
    /// Empty means every image.
    public let images: [ImageGlob]
    public let validUntil: Date
    public let reason: String
    public let ticket: String?
    public let approvedBy: String
    public let source: PolicySourceLocation
    public let definition: PolicyException

    public init(
        name: String, namespace: String, policies: Set<String>?, names: [NameGlob], kinds: Set<String>?,
        images: [ImageGlob], validUntil: Date, reason: String, ticket: String?, approvedBy: String,
        source: PolicySourceLocation, definition: PolicyException
    ) {
        self.name = name
        self.namespace = namespace
        self.policies = policies
        self.names = names
        self.kinds = kinds
        self.images = images
        self.validUntil = validUntil
        self.reason = reason
        self.ticket = ticket
        self.approvedBy = approvedBy
        self.source = source
        self.definition = definition
    }

    /// `namespace/name`.
    public var qualifiedName: String { "\(namespace)/\(name)" }

    /// Whether the exception is in force at `now`.
    public func isActive(at now: Date) -> Bool { now < validUntil }

    /// Whether it exempts `image` of `subject` from `policy` (ignoring time). Name globs match
    /// the object's name, or its `generateName` prefix when the API server has not named it yet.
    public func covers(policy: String, subject: AdmissionSubject, image: ImageReference) -> Bool {
        guard subject.namespace == namespace else { return false }
        if let policies, !policies.contains(policy) { return false }
        if let kinds, !kinds.contains(subject.kind) { return false }
        if !names.isEmpty {
            guard let objectName = subject.name, !objectName.isEmpty, names.contains(where: { $0.matches(objectName) }) else { return false }
        }
        if !images.isEmpty {
            let match = ImageMatchSubject(image)
            guard images.contains(where: { $0.exempts(match) }) else { return false }
        }
        return true
    }

    /// How audit records and warnings name this exception.
    public func use(policy: String?) -> ExemptionUse {
        ExemptionUse(kind: .policyException, namespace: namespace, name: name, expiresAt: validUntil, reason: reason, policy: policy)
    }
}
