import Foundation

/// The names a pod spec gives for registry credentials: `imagePullSecrets[].name` and
/// `serviceAccountName` (Kubernetes `core/v1` `PodSpec`), read from wherever the kind keeps its
/// pod spec (`spec`, `spec.template.spec`, `spec.jobTemplate.spec.template.spec`).
public struct PodCredentialReferences: Sendable, Hashable {
    public var imagePullSecrets: [String]
    /// `nil` when the pod names none (Kubernetes then uses `default`).
    public var serviceAccountName: String?

    public init(imagePullSecrets: [String] = [], serviceAccountName: String? = nil) {
        self.imagePullSecrets = imagePullSecrets
        self.serviceAccountName = serviceAccountName
    }

    private struct Review: Decodable {
        struct Request: Decodable { var object: Object? }
        var request: Request?
    }

    private struct Object: Decodable {
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

    /// Reads the references from an AdmissionReview request body; empty when absent or malformed.
    public static func read(reviewBody body: [UInt8]) -> PodCredentialReferences {
        guard let review = try? JSONDecoder().decode(Review.self, from: Data(body)), let object = review.request?.object else {
            return PodCredentialReferences()
        }
        let spec = object.spec?.jobTemplate?.spec?.template?.spec ?? object.spec?.template?.spec ?? object.template?.spec ?? object.spec
        return PodCredentialReferences(
            imagePullSecrets: (spec?.imagePullSecrets ?? []).compactMap(\.name).filter { !$0.isEmpty },
            serviceAccountName: spec?.serviceAccountName)
    }
}
