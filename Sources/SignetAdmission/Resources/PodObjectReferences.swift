import Foundation

/// What an admitted object names besides its images: the registry credentials of its pod spec,
/// `imagePullSecrets[].name` and `serviceAccountName` (Kubernetes `core/v1` `PodSpec`, read from
/// `spec`, `spec.template.spec` or `spec.jobTemplate.spec.template.spec`), and
/// `metadata.generateName` (`metav1.ObjectMeta`), which stands in for the name of an object the
/// API server has not named yet (pods of a ReplicaSet).
public struct PodObjectReferences: Sendable, Hashable {
    public var imagePullSecrets: [String]
    /// `nil` when the pod names none (Kubernetes then uses `default`).
    public var serviceAccountName: String?
    /// `metadata.generateName`, when set.
    public var generateName: String?

    public init(imagePullSecrets: [String] = [], serviceAccountName: String? = nil, generateName: String? = nil) {
        self.imagePullSecrets = imagePullSecrets
        self.serviceAccountName = serviceAccountName
        self.generateName = generateName
    }

    private struct Object: Decodable {
        struct Metadata: Decodable { var generateName: String? }
        var metadata: Metadata?
        var spec: Spec?
        var template: Template?
    }

    private struct Template: Decodable { var spec: Spec? }

    private struct JobTemplate: Decodable {
        struct JobSpec: Decodable { var template: Template? }
        var spec: JobSpec?
    }

    private final class Spec: Decodable {
        struct SecretName: Decodable { var name: String? }
        var imagePullSecrets: [SecretName]?
        var serviceAccountName: String?
        var template: Template?
        var jobTemplate: JobTemplate?
    }

    /// Reads the references of an object from the decoder positioned on it (read in the same
    /// pass as its images); empty when absent or malformed.
    init(objectDecoder decoder: any Decoder) {
        guard let object = try? Object(from: decoder) else {
            self.init()
            return
        }
        let spec = object.spec?.jobTemplate?.spec?.template?.spec ?? object.spec?.template?.spec ?? object.template?.spec ?? object.spec
        self.init(
            imagePullSecrets: (spec?.imagePullSecrets ?? []).compactMap(\.name).filter { !$0.isEmpty },
            serviceAccountName: spec?.serviceAccountName,
            generateName: object.metadata?.generateName.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Reads the references from an AdmissionReview request body; empty when absent or malformed.
    public static func read(reviewBody body: [UInt8]) -> PodObjectReferences {
        let review = try? LazyJSONDecoder.decode(AdmissionReview.self, from: body)
        return review?.request?.object?.references ?? PodObjectReferences()
    }
}
