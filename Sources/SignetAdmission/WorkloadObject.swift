/// A field decoded without failing the whole document: absent (missing or `null`), present
/// with the expected type, or present with another type (with what was expected).
enum Lenient<Value: Sendable>: Sendable {
    case absent
    case value(Value)
    case malformed(expected: String)

    var value: Value? {
        if case .value(let value) = self { return value }
        return nil
    }
}

extension Lenient: Equatable where Value: Equatable {}

extension KeyedDecodingContainer {
    func lenient<Value: Decodable & Sendable>(_ type: Value.Type, forKey key: Key, expected: String) -> Lenient<Value> {
        guard contains(key) else { return .absent }
        if (try? decodeNil(forKey: key)) == true { return .absent }
        do {
            return .value(try decode(Value.self, forKey: key))
        } catch {
            return .malformed(expected: expected)
        }
    }
}

/// The parts of a Kubernetes object that can hold a pod spec (`core/v1` `PodSpec`):
/// `spec` (Pod), `spec.template.spec` (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
/// ReplicationController), `spec.jobTemplate.spec.template.spec` (CronJob), and the top-level
/// `ephemeralContainers` of the `EphemeralContainers` kind of older API servers, and the
/// top-level `template.spec` of a `PodTemplate`. Everything else
/// of the object is skipped by the decoder.
struct WorkloadObject: Sendable, Equatable, Decodable {
    var kind: String?
    var spec: Lenient<SpecFields> = .absent
    var ephemeralContainers: Lenient<ContainerList> = .absent
    /// `template` of a `core/v1` `PodTemplate`.
    var template: Lenient<TemplateFields> = .absent
    /// Pull secrets, service account and `generateName`, read in the same pass.
    var references = PodObjectReferences()

    enum CodingKeys: String, CodingKey { case kind, spec, ephemeralContainers, template }

    /// Nothing present; ``AdmissionReviewReader`` fills it in.
    init() {}

    init(from decoder: any Decoder) throws {
        // The object itself must be a JSON object: anything else is a bad request.
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try? container.decodeIfPresent(String.self, forKey: .kind)
        spec = container.lenient(SpecFields.self, forKey: .spec, expected: "an object")
        ephemeralContainers = container.lenient(ContainerList.self, forKey: .ephemeralContainers, expected: "an array")
        template = container.lenient(TemplateFields.self, forKey: .template, expected: "an object")
        references = PodObjectReferences(objectDecoder: decoder)
    }
}

/// A `spec` that may be a `PodSpec`, a workload spec with `template`, or a CronJob spec with
/// `jobTemplate`; or a JobSpec inside a `jobTemplate`.
struct SpecFields: Sendable, Equatable, Decodable {
    var containers: Lenient<ContainerList> = .absent
    var initContainers: Lenient<ContainerList> = .absent
    var ephemeralContainers: Lenient<ContainerList> = .absent
    var template: Lenient<TemplateFields> = .absent
    var jobTemplate: Lenient<TemplateFields> = .absent
    /// `volumes`, for the image volumes among them.
    var volumes: Lenient<VolumeList> = .absent

    enum CodingKeys: String, CodingKey { case containers, initContainers, ephemeralContainers, template, jobTemplate, volumes }

    /// Nothing present; ``AdmissionReviewReader`` fills it in.
    init() {}

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        containers = container.lenient(ContainerList.self, forKey: .containers, expected: "an array")
        initContainers = container.lenient(ContainerList.self, forKey: .initContainers, expected: "an array")
        ephemeralContainers = container.lenient(ContainerList.self, forKey: .ephemeralContainers, expected: "an array")
        template = container.lenient(TemplateFields.self, forKey: .template, expected: "an object")
        jobTemplate = container.lenient(TemplateFields.self, forKey: .jobTemplate, expected: "an object")
        volumes = container.lenient(VolumeList.self, forKey: .volumes, expected: "an array")
    }

    /// Whether any container list is present: the mark of a pod spec.
    var looksLikePodSpec: Bool {
        for list in [containers, initContainers, ephemeralContainers] {
            if case .absent = list { continue }
            return true
        }
        return false
    }
}

/// A `PodTemplateSpec` or `JobTemplateSpec`: an object with a `spec`.
struct TemplateFields: Sendable, Equatable, Decodable {
    /// The one indirection a spec, which holds templates, needs to hold itself again (a box
    /// here, not on every lenient value read).
    private final class Box: Sendable {
        let spec: Lenient<SpecFields>
        init(_ spec: Lenient<SpecFields>) { self.spec = spec }
    }

    private static let nothing = Box(.absent)
    private var box = TemplateFields.nothing

    var spec: Lenient<SpecFields> {
        get { box.spec }
        set { box = Box(newValue) }
    }

    enum CodingKeys: String, CodingKey { case spec }

    /// Nothing present; ``AdmissionReviewReader`` fills it in.
    init() {}

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        spec = container.lenient(SpecFields.self, forKey: .spec, expected: "an object")
    }

    static func == (lhs: TemplateFields, rhs: TemplateFields) -> Bool { lhs.spec == rhs.spec }
}

/// What the `image` member of a pod spec list's entry holds: a string for a container, an
/// `ImageVolumeSource` object for a volume.
protocol PodSpecImageField: Sendable, Equatable, Decodable {
    /// What the member must be, as a problem names it (`a string`, `an object`).
    static var expected: String { get }
    /// The member at `start` of a checked document (`nil`: absent), read as `init(from:)` decodes it.
    static func read(_ document: JSONDocument, at start: Int?) -> Lenient<Self>
    /// Whether an entry with `field` names no image at all (a volume of another type): passed over.
    static func namesNoImage(_ field: Lenient<Self>) -> Bool
    /// The image `field` names, or why it names none properly; `at` is the entry's path and
    /// `described` how messages name the entry (each made only for a problem).
    static func image(of field: Lenient<Self>, at: () -> String, described: () -> String) -> Result<String, WorkloadImages.Problem>
}

/// One entry of a list in a pod spec, read leniently: `name` and `image`, each possibly missing
/// or of the wrong type; an entry that is not an object is kept as one (`isObject == false`) for
/// the extraction to refuse, naming its index.
struct PodSpecEntry<Field: PodSpecImageField>: Sendable, Equatable, Decodable {
    var isObject: Bool
    var name: Lenient<String> = .absent
    var image: Lenient<Field> = .absent

    enum CodingKeys: String, CodingKey { case name, image }

    /// An entry with neither name nor image read yet.
    init(isObject: Bool) {
        self.isObject = isObject
    }

    init(from decoder: any Decoder) {
        guard let container = try? decoder.container(keyedBy: CodingKeys.self) else {
            isObject = false
            return
        }
        isObject = true
        name = container.lenient(String.self, forKey: .name, expected: "a string")
        image = container.lenient(Field.self, forKey: .image, expected: Field.expected)
    }
}

/// A list of a pod spec: `containers`, `initContainers` and `ephemeralContainers`
/// (``ContainerList``), or `volumes` (``VolumeList``).
struct PodSpecList<Field: PodSpecImageField>: Sendable, Equatable, Decodable {
    /// The most entries a list is read to: Kubernetes limits neither containers nor volumes, only
    /// the size of an object, and a review of 150,000 containers (anyone who reaches the webhook
    /// can post one) had cost 370 MB to read. Pods hold a few dozen; one list with more is
    /// refused, naming the limit.
    static var maximumEntries: Int { 1024 }

    var entries: [PodSpecEntry<Field>]
    /// The list held more than ``maximumEntries`` entries; only that many were read.
    var overLimit = false

    init(entries: [PodSpecEntry<Field>], overLimit: Bool = false) {
        self.entries = entries
        self.overLimit = overLimit
    }

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var entries: [PodSpecEntry<Field>] = []
        while !container.isAtEnd {
            guard entries.count < Self.maximumEntries else {
                overLimit = true
                break
            }
            // An entry never throws, so the container always advances.
            entries.append(try container.decode(PodSpecEntry<Field>.self))
        }
        self.entries = entries
    }
}

/// One container (`core/v1` `Container` or `EphemeralContainer`): `name` and `image`.
typealias ContainerEntry = PodSpecEntry<String>
/// A list of containers: the name and image of each.
typealias ContainerList = PodSpecList<String>

/// One volume (`core/v1` `Volume`): `name`, and `image.reference` when it is an image volume.
typealias VolumeEntry = PodSpecEntry<ImageVolumeFields>
/// A `PodSpec`'s `volumes`: the name of each and, for an image volume, the reference of its
/// `image` (`ImageVolumeSource`). Volumes of other types are read no further.
typealias VolumeList = PodSpecList<ImageVolumeFields>

/// An `ImageVolumeSource`: the `reference` of the image (its `pullPolicy` is not signet's concern).
struct ImageVolumeFields: Sendable, Equatable, Decodable {
    var reference: Lenient<String> = .absent

    enum CodingKeys: String, CodingKey { case reference }

    init(reference: Lenient<String> = .absent) {
        self.reference = reference
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        reference = container.lenient(String.self, forKey: .reference, expected: "a string")
    }
}
