import Foundation
import SignetRegistry

/// An ``EmergencyBypass`` (`signet.dev/v1alpha1`) validated and compiled, `expiresAt` parsed as
/// RFC 3339 (Kubernetes `metav1.Time`).
///
/// In force while `now < expiresAt` and `expiresAt` is no further than the maximum window after
/// the object's `creationTimestamp` (so a bypass made while the maximum was larger, or written
/// around signet's own validation, is refused for its whole life: it never switches itself on
/// near its expiry; issue 16, "Bounded"). An object without a creation time (a file) is measured
/// from now.
public struct CompiledBypass: Sendable {
    public let name: String
    /// `nil` means every namespace.
    public let namespaces: Set<String>?
    /// Empty means every image.
    public let images: [ImageGlob]
    public let expiresAt: Date
    /// `metadata.creationTimestamp`; `nil` for an object from a file.
    public let createdAt: Date?
    public let reason: String
    public let requestedBy: String
    /// Who created and last changed the object, as signet recorded it (see ``ExemptionAttribution``).
    public let attribution: ExemptionAttribution
    public let source: PolicySourceLocation
    public let definition: EmergencyBypass

    public init(
        name: String, namespaces: Set<String>?, images: [ImageGlob], expiresAt: Date, createdAt: Date? = nil, reason: String,
        requestedBy: String, attribution: ExemptionAttribution? = nil, source: PolicySourceLocation, definition: EmergencyBypass
    ) {
        self.name = name
        self.namespaces = namespaces
        self.images = images
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.reason = reason
        self.requestedBy = requestedBy
        self.attribution = attribution ?? ExemptionAttribution(annotations: definition.metadata.annotations)
        self.source = source
        self.definition = definition
    }

    /// Whether the bypass is in force at `now` under `maximumWindow`.
    public func isActive(at now: Date, maximumWindow: Duration) -> Bool {
        now < expiresAt && !exceedsWindow(maximumWindow, now: now)
    }

    /// Whether `expiresAt` lies further than `window` after the creation time (after `now` for
    /// an object without one).
    /// A creation time more than ``ExemptionLimits/creationClockSkew`` after `now` exceeds it too.
    public func exceedsWindow(_ window: Duration, now: Date) -> Bool {
        if let createdAt, createdAt.timeIntervalSince(now) > ExemptionLimits.creationClockSkew { return true }
        return expiresAt.timeIntervalSince(createdAt ?? now) > window.timeInterval
    }

    /// Whether it covers `image` of `subject` (ignoring time).
    public func covers(subject: AdmissionSubject, image: ImageReference) -> Bool {
        if let namespaces {
            guard let namespace = subject.namespace, namespaces.contains(namespace) else { return false }
        }
        if !images.isEmpty {
            let match = ImageMatchSubject(image)
            guard images.contains(where: { $0.exempts(match, digestFromTheNode: subject.isPinnedByTheNode(image)) }) else { return false }
        }
        return true
    }

    /// How audit records and warnings name this bypass.
    public var use: ExemptionUse {
        ExemptionUse(
            kind: .emergencyBypass, namespace: nil, name: name, expiresAt: expiresAt, reason: reason, policy: nil,
            attribution: attribution, uid: definition.metadata.uid)
    }
}

extension Duration {
    /// The duration in seconds, as `TimeInterval`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
