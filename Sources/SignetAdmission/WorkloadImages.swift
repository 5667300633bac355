import Foundation
import SignetPolicy

/// Finds the images a Kubernetes object would run or mount, per kind (Kubernetes `core/v1`
/// `PodSpec`: `containers`, `initContainers`, `ephemeralContainers`, and the image volumes of
/// `volumes`, `ImageVolumeSource.reference`, KEP-4639).
///
/// | kind | pod spec |
/// |---|---|
/// | `Pod` (also the `pods/ephemeralcontainers` subresource) | `spec` |
/// | `EphemeralContainers` (older `pods/ephemeralcontainers`) | top-level `ephemeralContainers` |
/// | `Deployment`, `ReplicaSet`, `StatefulSet`, `DaemonSet`, `Job`, `ReplicationController`, `PodTemplate` | `spec.template.spec` (`template.spec` for `PodTemplate`) |
/// | `CronJob` | `spec.jobTemplate.spec.template.spec` |
///
/// A kind not in the table is searched at the same paths (`spec` with a container list, then
/// `spec.template.spec`, then `spec.jobTemplate.spec.template.spec`): a pod spec found there is
/// evaluated like any other; an object without one yields ``Extraction/noPodSpec`` and the
/// responder allows it with the warning "signet does not evaluate kind X" and a `not-evaluated`
/// audit annotation.
///
/// Fail closed: a known kind without its pod spec, a container list that is not an array, a
/// container that is not an object or has no image (even where the API allows an empty image in
/// a template for later defaulting) yields ``Extraction/malformed(_:)``, which is a denial; so do
/// `volumes` that is not an array, a volume that is not an object, and an `image` volume source
/// that is not an object or has no reference (the API allows an empty one in a template too).
public enum WorkloadImages {
    /// What an object holds.
    public enum Extraction: Sendable, Hashable {
        /// A pod spec at `path` (e.g. `spec.template.spec`) with these images, in pod-spec order:
        /// init containers, containers, ephemeral containers, image volumes.
        case podSpec(path: String, images: [ImageUse])
        /// No pod spec anywhere signet looks.
        case noPodSpec
        /// The object is malformed where signet needs to read it; the reason names the field.
        case malformed(String)
    }

    /// The kinds whose pod spec location is known.
    public static let knownKinds: Set<String> = [
        "Pod", "EphemeralContainers", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
        "ReplicationController", "CronJob", "PodTemplate",
    ]

    /// Extracts the images of an object given as JSON bytes, for a request of `kind`.
    public static func extract(objectJSON: [UInt8], kind: String) -> Extraction {
        guard let document = try? JSONDocument(validating: objectJSON) else {
            return .malformed("the object is not a JSON object")
        }
        let start = document.skipWhitespace(0)
        guard document.byte(at: start) == JSONDocument.objectStart else {
            return .malformed("the object is not a JSON object")
        }
        return extract(from: WorkloadObject(document: document, objectAt: start), kind: kind)
    }

    static func extract(from object: WorkloadObject, kind: String) -> Extraction {
        switch kind {
        case "Pod":
            return images(inPodSpec: object.spec, path: "spec", kind: kind)
        case "EphemeralContainers":
            return images(inEphemeralContainers: object.ephemeralContainers)
        case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController":
            return images(inPodSpec: templateSpec(object.spec), path: "spec.template.spec", kind: kind)
        case "CronJob":
            return images(inPodSpec: jobTemplateSpec(object.spec), path: "spec.jobTemplate.spec.template.spec", kind: kind)
        case "PodTemplate":
            switch object.template {
            case .absent: return .malformed("PodTemplate has no pod spec at template.spec")
            case .malformed(let expected): return .malformed("PodTemplate has a malformed template: template is not \(expected)")
            case .value(let template): return images(inPodSpec: template.spec, path: "template.spec", kind: kind)
            }
        default:
            return searchUnknown(object, kind: kind)
        }
    }

    private static func searchUnknown(_ object: WorkloadObject, kind: String) -> Extraction {
        if case .value(let spec) = object.spec, spec.looksLikePodSpec {
            return images(inPodSpec: object.spec, path: "spec", kind: kind)
        }
        if case .value = templateSpec(object.spec) {
            return images(inPodSpec: templateSpec(object.spec), path: "spec.template.spec", kind: kind)
        }
        if case .value = jobTemplateSpec(object.spec) {
            return images(inPodSpec: jobTemplateSpec(object.spec), path: "spec.jobTemplate.spec.template.spec", kind: kind)
        }
        if case .value = object.ephemeralContainers {
            return images(inEphemeralContainers: object.ephemeralContainers)
        }
        return .noPodSpec
    }

    private static func templateSpec(_ spec: Lenient<SpecFields>) -> Lenient<SpecFields> {
        switch spec {
        case .absent: return .absent
        case .malformed(let expected): return .malformed(expected: expected)
        case .value(let spec):
            switch spec.template {
            case .absent: return .absent
            case .malformed(let expected): return .malformed(expected: expected)
            case .value(let template): return template.spec
            }
        }
    }

    private static func jobTemplateSpec(_ spec: Lenient<SpecFields>) -> Lenient<SpecFields> {
        guard case .value(let cronSpec) = spec else { return spec }
        switch cronSpec.jobTemplate {
        case .absent: return .absent
        case .malformed(let expected): return .malformed(expected: expected)
        case .value(let jobTemplate): return templateSpec(jobTemplate.spec)
        }
    }

    private static func images(inPodSpec spec: Lenient<SpecFields>, path: String, kind: String) -> Extraction {
        switch spec {
        case .absent:
            return .malformed("\(kind) has no pod spec at \(path)")
        case .malformed(let expected):
            return .malformed("\(kind) has a malformed pod spec: \(path) (or a field on the way to it) is not \(expected)")
        case .value(let spec):
            var images: [ImageUse] = []
            let lists: [(Lenient<ContainerList>, ContainerType)] = [
                (spec.initContainers, .initContainer), (spec.containers, .container), (spec.ephemeralContainers, .ephemeralContainer),
            ]
            for (list, type) in lists {
                switch collect(list, type: type, path: { "\(path).\(type.podSpecField)" }) {
                case .success(let found): images += found
                case .failure(let problem): return .malformed(problem.message)
                }
            }
            if case .absent = spec.containers, kind != "EphemeralContainers" {
                return .malformed("\(kind) has no containers at \(path).containers")
            }
            switch collect(spec.volumes, type: .imageVolume, path: { "\(path).volumes" }) {
            case .success(let found): images += found
            case .failure(let problem): return .malformed(problem.message)
            }
            return .podSpec(path: path, images: images)
        }
    }

    private static func images(inEphemeralContainers list: Lenient<ContainerList>) -> Extraction {
        if case .absent = list {
            return .malformed("EphemeralContainers has no ephemeralContainers")
        }
        switch collect(list, type: .ephemeralContainer, path: { "ephemeralContainers" }) {
        case .success(let images): return .podSpec(path: "ephemeralContainers", images: images)
        case .failure(let problem): return .malformed(problem.message)
        }
    }

    struct Problem: Error {
        var message: String
    }

    /// The images of one list of a pod spec (`type` says which); `path` names it in a problem
    /// (made only then). Entries that name no image (volumes of other types) are passed over.
    private static func collect<Field: PodSpecImageField>(
        _ list: Lenient<PodSpecList<Field>>, type: ContainerType, path: () -> String
    ) -> Result<[ImageUse], Problem> {
        switch list {
        case .absent:
            return .success([])
        case .malformed(let expected):
            return .failure(Problem(message: "\(path()) is not \(expected)"))
        case .value(let list):
            guard !list.overLimit else {
                return .failure(Problem(message: "\(path()) holds more than \(PodSpecList<Field>.maximumEntries) entries, more than signet reads in one list"))
            }
            var images: [ImageUse] = []
            images.reserveCapacity(list.entries.count)
            // By index: an entry is read in place (`for entry in` copied each, its strings retained).
            for index in list.entries.indices {
                var at: String { "\(path())[\(index)]" }
                guard list.entries[index].isObject else {
                    return .failure(Problem(message: "\(at) is not an object"))
                }
                if Field.namesNoImage(list.entries[index].image) { continue }
                let name: String
                switch list.entries[index].name {
                case .value(let value) where !value.isEmpty: name = value
                case .malformed: return .failure(Problem(message: "\(at).name is not a string"))
                default: name = "#\(index)"
                }
                switch Field.image(of: list.entries[index].image, at: { at }, described: { type.describe(podSpecName: name) }) {
                case .success(let image): images.append(ImageUse(image: image, container: name, containerType: type, position: index))
                case .failure(let problem): return .failure(problem)
                }
            }
            return .success(images)
        }
    }
}

extension String: PodSpecImageField {
    static var expected: String { "a string" }

    static func read(_ document: JSONDocument, at start: Int?) -> Lenient<String> { document.lenientString(start) }

    static func namesNoImage(_ field: Lenient<String>) -> Bool { false }

    /// A container's `image`, which must be a non-empty string.
    static func image(of field: Lenient<String>, at: () -> String, described: () -> String) -> Result<String, WorkloadImages.Problem> {
        switch field {
        case .value(let image) where !image.isEmpty: .success(image)
        case .malformed: .failure(WorkloadImages.Problem(message: "\(at()).image (\(described())) is not a string"))
        default: .failure(WorkloadImages.Problem(message: "\(at()) (\(described())) has no image"))
        }
    }
}

extension ImageVolumeFields: PodSpecImageField {
    static var expected: String { "an object" }

    static func read(_ document: JSONDocument, at start: Int?) -> Lenient<ImageVolumeFields> {
        document.lenientObject(start) { image in
            var reference: Int?
            document.forEachMember(ofObjectAt: image) { member, value in
                if document.name(at: member, is: "reference") { reference = value }
            }
            return ImageVolumeFields(reference: document.lenientString(reference))
        }
    }

    /// A volume of another type than `image`.
    static func namesNoImage(_ field: Lenient<ImageVolumeFields>) -> Bool {
        if case .absent = field { return true }
        return false
    }

    /// A volume's `image.reference`, which must be a non-empty string in an object.
    static func image(of field: Lenient<ImageVolumeFields>, at: () -> String, described: () -> String) -> Result<String, WorkloadImages.Problem> {
        guard case .value(let source) = field else {
            return .failure(WorkloadImages.Problem(message: "\(at()).image is not an object"))
        }
        switch source.reference {
        case .value(let reference) where !reference.isEmpty: return .success(reference)
        case .malformed: return .failure(WorkloadImages.Problem(message: "\(at()).image.reference (\(described())) is not a string"))
        default: return .failure(WorkloadImages.Problem(message: "\(at()).image (\(described())) has no reference"))
        }
    }
}
