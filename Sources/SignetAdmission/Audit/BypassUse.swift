import Foundation
import SignetPolicy

/// One use of an `EmergencyBypass` by a real (not dry-run) admission, as handed to an
/// ``ExemptionEventSink``: which bypass, which workload (the `admission.k8s.io/v1`
/// `AdmissionRequest` kind, namespace and name), who asked, and the images it let through.
public struct BypassUse: Sendable, Hashable {
    public var bypass: ExemptionUse
    /// `v1`, `apps/v1`, ... of the admitted object.
    public var apiVersion: String
    public var kind: String
    public var namespace: String?
    /// The object's name, or its `generateName` prefix when the API server has not named it yet.
    public var name: String
    public var uid: String?
    public var user: String?
    public var images: [String]
    public var time: Date
    /// `ip:port` of the connection the review came on (from the API server: see
    /// ``AdmissionClient/fromAPIServer``).
    public var peer: String?

    public init(
        bypass: ExemptionUse, apiVersion: String, kind: String, namespace: String?, name: String, uid: String? = nil,
        user: String?, images: [String], time: Date, peer: String? = nil
    ) {
        self.peer = peer
        self.bypass = bypass
        self.apiVersion = apiVersion
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.user = user
        self.images = images
        self.time = time
    }
}

/// Receives every ``BypassUse`` (issue 16, "Visible": a Kubernetes Event on the bypass and on
/// the admitted workload for every use). Called on the admission's thread after the answer is
/// decided: an implementation only queues.
public protocol ExemptionEventSink: Sendable {
    func bypassUsed(_ use: BypassUse)
}
