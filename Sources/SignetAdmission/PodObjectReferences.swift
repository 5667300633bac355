import Foundation
import SignetPolicy

/// What an admitted object names besides its images: the registry credentials of its pod spec,
/// `imagePullSecrets[].name` and `serviceAccountName` (Kubernetes `core/v1` `PodSpec`, read from
/// `spec`, `spec.template.spec` or `spec.jobTemplate.spec.template.spec`), and
/// `metadata.generateName` (`metav1.ObjectMeta`), which stands in for the name of an object the
/// API server has not named yet (pods of a ReplicaSet), and the controller among
/// `metadata.ownerReferences` (the entry with `controller: true`).
public struct PodObjectReferences: Sendable, Hashable {
    public var imagePullSecrets: [String]
    /// `nil` when the pod names none (Kubernetes then uses `default`).
    public var serviceAccountName: String?
    /// `metadata.name`, when set: on CREATE the validating call's `request.name` stays empty for
    /// an object named by `generateName`, whose name the API server has written here by then.
    public var name: String?
    /// `metadata.generateName`, when set.
    public var generateName: String?
    /// `metadata.uid`, when set (the validating call of a CREATE, and every UPDATE).
    public var uid: String?
    /// The first `metadata.ownerReferences` entry with `controller: true` and every field set.
    public var controller: ControllerReference?

    public init(
        imagePullSecrets: [String] = [], serviceAccountName: String? = nil, name: String? = nil, generateName: String? = nil,
        uid: String? = nil, controller: ControllerReference? = nil
    ) {
        self.imagePullSecrets = imagePullSecrets
        self.serviceAccountName = serviceAccountName
        self.name = name
        self.generateName = generateName
        self.uid = uid
        self.controller = controller
    }

    /// An `ownerReferences` entry's members, as written.
    struct OwnerReference: Decodable {
        var apiVersion: String?
        var kind: String?
        var name: String?
        var uid: String?
        var controller: Bool?
    }

    /// The controller among `entries`: the first with `controller: true`, when it names its
    /// owner completely.
    static func controller(among entries: [OwnerReference]?) -> ControllerReference? {
        guard let entry = entries?.first(where: { $0.controller == true }),
              let apiVersion = entry.apiVersion, let kind = entry.kind, let name = entry.name, let uid = entry.uid,
              !kind.isEmpty, !name.isEmpty, !uid.isEmpty else { return nil }
        return ControllerReference(apiVersion: apiVersion, kind: kind, name: name, uid: uid)
    }

    private struct Object: Decodable {
        struct Metadata: Decodable {
            var name: String?
            var generateName: String?
            var uid: Lenient?
            var ownerReferences: [OwnerReference]?
        }
        /// A string, or nil when the value is another type: the uid is only named in Events, and a
        /// wrong one must not make the other references unread.
        struct Lenient: Decodable {
            var value: String?
            init(from decoder: any Decoder) throws {
                value = try? decoder.singleValueContainer().decode(String.self)
            }
        }
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
            name: object.metadata?.name.flatMap { $0.isEmpty ? nil : $0 },
            generateName: object.metadata?.generateName.flatMap { $0.isEmpty ? nil : $0 },
            uid: object.metadata?.uid?.value.flatMap { $0.isEmpty ? nil : $0 },
            controller: Self.controller(among: object.metadata?.ownerReferences))
    }

    /// Reads the references from an AdmissionReview request body; empty when absent or malformed.
    public static func read(reviewBody body: [UInt8]) -> PodObjectReferences {
        let review = try? AdmissionResponder.decodeReview(body)
        return review?.request?.object?.references ?? PodObjectReferences()
    }
}

// MARK: - Read from the document directly

extension PodObjectReferences {
    /// What ``init(objectDecoder:)`` reads, from the object at `start` in a checked document,
    /// without a decoder: the same members, and the same rule that any malformed one among them
    /// (a wrong type, a secret that is not an object) leaves all the references empty.
    init(document: JSONDocument, objectAt start: Int) {
        guard let object = try? ReferenceReader(document: document).object(at: start) else {
            self.init()
            return
        }
        let spec = object.spec?.jobTemplate?.spec?.template?.spec ?? object.spec?.template?.spec ?? object.template?.spec ?? object.spec
        self.init(
            imagePullSecrets: (spec?.imagePullSecrets ?? []).compactMap { $0 }.filter { !$0.isEmpty },
            serviceAccountName: spec?.serviceAccountName,
            name: object.name.flatMap { $0.isEmpty ? nil : $0 },
            generateName: object.generateName.flatMap { $0.isEmpty ? nil : $0 },
            uid: object.uid.flatMap { $0.isEmpty ? nil : $0 },
            controller: Self.controller(among: object.ownerReferences))
    }

    private struct Malformed: Error {}

    /// The shape of `Object` above, read member by member.
    private struct ReferenceReader {
        let document: JSONDocument

        struct Object {
            var name: String?
            var generateName: String?
            var uid: String?
            var ownerReferences: [OwnerReference]?
            var spec: Spec?
            var template: Template?
        }

        final class Spec {
            /// The `name` of each entry (nil when an entry has none).
            var imagePullSecrets: [String?]?
            var serviceAccountName: String?
            var template: Template?
            var jobTemplate: JobTemplate?
        }

        struct Template { var spec: Spec? }
        struct JobTemplate { var spec: JobSpec? }
        struct JobSpec { var template: Template? }

        /// The value at `start` unless it is `null`; must be an object.
        private func object(_ start: Int?) throws(Malformed) -> Int? {
            guard let start, !document.isNull(at: start) else { return nil }
            guard document.byte(at: start) == JSONDocument.objectStart else { throw Malformed() }
            return start
        }

        private func string(_ start: Int?) throws(Malformed) -> String? {
            guard let start, !document.isNull(at: start) else { return nil }
            guard document.byte(at: start) == JSONDocument.quote else { throw Malformed() }
            return document.decodeString(at: start)
        }

        /// The last value of the member named `name`.
        private func member(of start: Int, _ name: StaticString) -> Int? {
            var found: Int?
            document.forEachMember(ofObjectAt: start) { member, value in
                if document.name(at: member, is: name) { found = value }
            }
            return found
        }

        func object(at start: Int) throws(Malformed) -> Object {
            var metadata: Int?, spec: Int?, template: Int?
            document.forEachMember(ofObjectAt: start) { member, value in
                if document.name(at: member, is: "metadata") {
                    metadata = value
                } else if document.name(at: member, is: "spec") {
                    spec = value
                } else if document.name(at: member, is: "template") {
                    template = value
                }
            }
            var object = Object()
            if let metadata = try self.object(metadata) {
                // One walk of the metadata's members (labels and annotations included) for the four.
                var name: Int?, generateName: Int?, uid: Int?, ownerReferences: Int?
                document.forEachMember(ofObjectAt: metadata) { member, value in
                    if document.name(at: member, is: "name") {
                        name = value
                    } else if document.name(at: member, is: "generateName") {
                        generateName = value
                    } else if document.name(at: member, is: "uid") {
                        uid = value
                    } else if document.name(at: member, is: "ownerReferences") {
                        ownerReferences = value
                    }
                }
                object.name = try string(name)
                object.generateName = try string(generateName)
                // Only named in Events: one that is not a string is left out, not a malformed object.
                object.uid = try? string(uid)
                object.ownerReferences = try self.ownerReferences(ownerReferences)
            }
            if let spec = try self.object(spec) { object.spec = try self.spec(at: spec) }
            if let template = try self.object(template) { object.template = try self.template(at: template) }
            return object
        }

        private func spec(at start: Int) throws(Malformed) -> Spec {
            var secrets: Int?, serviceAccountName: Int?, template: Int?, jobTemplate: Int?
            document.forEachMember(ofObjectAt: start) { member, value in
                if document.name(at: member, is: "imagePullSecrets") {
                    secrets = value
                } else if document.name(at: member, is: "serviceAccountName") {
                    serviceAccountName = value
                } else if document.name(at: member, is: "template") {
                    template = value
                } else if document.name(at: member, is: "jobTemplate") {
                    jobTemplate = value
                }
            }
            let spec = Spec()
            if let secrets, !document.isNull(at: secrets) {
                guard document.byte(at: secrets) == JSONDocument.arrayStart else { throw Malformed() }
                var elements: [Int] = []
                document.forEachElement(ofArrayAt: secrets) { elements.append($0) }
                var names: [String?] = []
                for element in elements {
                    // Each entry must be an object (`null` is not one).
                    guard document.byte(at: element) == JSONDocument.objectStart else { throw Malformed() }
                    names.append(try string(member(of: element, "name")))
                }
                spec.imagePullSecrets = names
            }
            spec.serviceAccountName = try string(serviceAccountName)
            if let template = try object(template) { spec.template = try self.template(at: template) }
            if let jobTemplate = try object(jobTemplate) {
                var job = JobTemplate()
                if let jobSpec = try object(member(of: jobTemplate, "spec")) {
                    var spec = JobSpec()
                    if let template = try object(member(of: jobSpec, "template")) { spec.template = try self.template(at: template) }
                    job.spec = spec
                }
                spec.jobTemplate = job
            }
            return spec
        }

        /// `ownerReferences`: an array of objects, each member of the type ``OwnerReference`` declares.
        private func ownerReferences(_ start: Int?) throws(Malformed) -> [OwnerReference]? {
            guard let start, !document.isNull(at: start) else { return nil }
            guard document.byte(at: start) == JSONDocument.arrayStart else { throw Malformed() }
            var elements: [Int] = []
            document.forEachElement(ofArrayAt: start) { elements.append($0) }
            var entries: [OwnerReference] = []
            for element in elements {
                guard document.byte(at: element) == JSONDocument.objectStart else { throw Malformed() }
                var apiVersion: Int?, kind: Int?, name: Int?, uid: Int?, controller: Int?
                document.forEachMember(ofObjectAt: element) { member, value in
                    if document.name(at: member, is: "apiVersion") {
                        apiVersion = value
                    } else if document.name(at: member, is: "kind") {
                        kind = value
                    } else if document.name(at: member, is: "name") {
                        name = value
                    } else if document.name(at: member, is: "uid") {
                        uid = value
                    } else if document.name(at: member, is: "controller") {
                        controller = value
                    }
                }
                var entry = OwnerReference()
                entry.apiVersion = try string(apiVersion)
                entry.kind = try string(kind)
                entry.name = try string(name)
                entry.uid = try string(uid)
                entry.controller = try bool(controller)
                entries.append(entry)
            }
            return entries
        }

        private func bool(_ start: Int?) throws(Malformed) -> Bool? {
            guard let start, !document.isNull(at: start) else { return nil }
            switch document.byte(at: start) {
            case UInt8(ascii: "t"): return true
            case UInt8(ascii: "f"): return false
            default: throw Malformed()
            }
        }

        private func template(at start: Int) throws(Malformed) -> Template {
            var template = Template()
            if let spec = try object(member(of: start, "spec")) { template.spec = try self.spec(at: spec) }
            return template
        }
    }
}
