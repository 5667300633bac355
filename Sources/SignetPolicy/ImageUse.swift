import SignetRegistry

/// One image as a workload uses it: the string written in the pod spec and the container or
/// volume that names it (Kubernetes `core/v1` `Container.image` in `PodSpec.containers`,
/// `initContainers`, `ephemeralContainers`; `ImageVolumeSource.reference` in `PodSpec.volumes`).
public struct ImageUse: Sendable, Hashable {
    /// The image exactly as written in the pod spec.
    public var image: String
    /// The container's name (the volume's, for an image volume).
    public var container: String
    /// Which list of the pod spec the container (or image volume) is in.
    public var containerType: ContainerType
    /// The container's (or volume's) index in that list, when known (for a JSON Patch that pins
    /// its image).
    public var position: Int?

    public init(image: String, container: String, containerType: ContainerType = .container, position: Int? = nil) {
        self.image = image
        self.container = container
        self.containerType = containerType
        self.position = position
    }
}

/// The list of a Kubernetes `PodSpec` an image is named in: one of its container lists, or its
/// `volumes`, where an image volume (`core/v1` `ImageVolumeSource`, KEP-4639; the API server of
/// Kubernetes 1.36 accepts it by default) mounts the files of an image or OCI artifact into the
/// pod's containers.
public enum ContainerType: String, Sendable, Hashable, Codable, CaseIterable {
    case container
    case initContainer
    case ephemeralContainer
    /// `volumes[].image.reference`: the image is pulled like a container's, and its files are
    /// mounted (read-only) into the containers that mount the volume.
    case imageVolume

    /// The field of `PodSpec` holding this type: `containers`, `initContainers`,
    /// `ephemeralContainers`, `volumes`.
    public var podSpecField: String {
        switch self {
        case .container: "containers"
        case .initContainer: "initContainers"
        case .ephemeralContainer: "ephemeralContainers"
        case .imageVolume: "volumes"
        }
    }

    /// Where the image is inside one entry of ``podSpecField``, as JSON Pointer tokens (RFC 6901):
    /// `image` for a container, `image/reference` for an image volume.
    public var imagePointerInEntry: String {
        self == .imageVolume ? "image/reference" : "image"
    }

    /// How messages name a container of this type: `container "web"`, `init container "setup"`,
    /// `image volume "models"`, the name as written in a pod spec shown by
    /// ``UntrustedText/shown(containerName:)``.
    public func describe(podSpecName name: String) -> String {
        describe(UntrustedText.shown(containerName: name))
    }

    /// ``describe(podSpecName:)`` for a name already shown (a verdict's).
    public func describe(_ name: String) -> String {
        let kind: String = switch self {
        case .container: "container \""
        case .initContainer: "init container \""
        case .ephemeralContainer: "ephemeral container \""
        case .imageVolume: "image volume \""
        }
        // Put together in one buffer of the right size: this runs for every image of every review.
        return String(concatenating: [kind, name, "\""])
    }
}

/// The object under admission, as far as policies and audit records need it (from the
/// `AdmissionReview` request of Kubernetes `admission.k8s.io/v1`).
///
/// The fields live in one immutable shared object: a subject is handed from the request to the
/// evaluator, its pending evaluation and the audit record, and each copy of a dozen strings,
/// arrays and a dictionary retained and released every one of them. A copy is now one reference
/// count; setting a field (rare: the owner chain, tests) makes a new object.
public struct AdmissionSubject: Sendable, Hashable {
    private struct Values: Sendable, Hashable {
        var namespace: String?
        var name: String?
        var nameIsGeneratePrefix = false
        var uid: String?
        var kind: String
        var operation: String
        var dryRun: Bool
        var userName: String?
        var namespaceLabels: [String: String]?
        var imagePullSecrets: [String]
        var serviceAccountName: String?
        var controller: ControllerReference?
        var owners: [VerifiedOwner]
        var nodePinnedImages: Set<String> = []
    }

    private final class Storage: Sendable {
        let values: Values
        init(_ values: Values) { self.values = values }
    }

    private var storage: Storage

    private mutating func update(_ change: (inout Values) -> Void) {
        var values = storage.values
        change(&values)
        storage = Storage(values)
    }

    /// `request.namespace`; `nil` for cluster-scoped objects.
    public var namespace: String? {
        get { storage.values.namespace }
        set { update { $0.namespace = newValue } }
    }
    /// `request.name`, else the object's `metadata.name`; on CREATE of an object the API server
    /// has not named yet, its `generateName` prefix (``nameIsGeneratePrefix``).
    public var name: String? {
        get { storage.values.name }
        set { update { $0.name = newValue } }
    }
    /// Whether ``name`` is only a `generateName` prefix: shown where the object is named (audit
    /// records, events), never matched by an exception's name globs (the name the API server
    /// then gives, prefix and five characters, is what a glob must take in).
    public var nameIsGeneratePrefix: Bool {
        get { storage.values.nameIsGeneratePrefix }
        set { update { $0.nameIsGeneratePrefix = newValue } }
    }
    /// The object's `metadata.uid`: set by the API server before the validating call of a
    /// CREATE (not the mutating one); what Events about the object name it by, so that
    /// `kubectl describe` shows them.
    public var uid: String? {
        get { storage.values.uid }
        set { update { $0.uid = newValue } }
    }
    /// ``name`` when it is the object's own, nil while only a `generateName` prefix is known:
    /// what an exception's name globs are matched against.
    public var definiteName: String? { nameIsGeneratePrefix ? nil : name }
    /// The object's kind, e.g. `Pod`, `Deployment`.
    public var kind: String {
        get { storage.values.kind }
        set { update { $0.kind = newValue } }
    }
    /// `request.operation`: `CREATE`, `UPDATE`, `DELETE`, `CONNECT`.
    public var operation: String {
        get { storage.values.operation }
        set { update { $0.operation = newValue } }
    }
    /// `request.dryRun`.
    public var dryRun: Bool {
        get { storage.values.dryRun }
        set { update { $0.dryRun = newValue } }
    }
    /// `request.userInfo.username`.
    public var userName: String? {
        get { storage.values.userName }
        set { update { $0.userName = newValue } }
    }
    /// The labels of the object's namespace, when the policy source knows them (for
    /// `spec.namespaceSelector` and the namespace opt-out label); `nil` when unknown.
    public var namespaceLabels: [String: String]? {
        get { storage.values.namespaceLabels }
        set { update { $0.namespaceLabels = newValue } }
    }
    /// `PodSpec.imagePullSecrets` names, for registry credentials.
    public var imagePullSecrets: [String] {
        get { storage.values.imagePullSecrets }
        set { update { $0.imagePullSecrets = newValue } }
    }
    /// `PodSpec.serviceAccountName` (`default` when the pod names none).
    public var serviceAccountName: String? {
        get { storage.values.serviceAccountName }
        set { update { $0.serviceAccountName = newValue } }
    }
    /// The controller `metadata.ownerReferences` names, as claimed by the object (unchecked).
    public var controller: ControllerReference? {
        get { storage.values.controller }
        set { update { $0.controller = newValue } }
    }
    /// The owner chain above the object, each link checked through the API (see
    /// ``OwnerChainResolver``), nearest first; empty when not looked up or not found.
    public var owners: [VerifiedOwner] {
        get { storage.values.owners }
        set { update { $0.owners = newValue } }
    }
    /// The images (normalised references, `name:tag@sha256:…`) whose digest the node reported
    /// running the tag as: a scan pins a container's tag to its `imageID` when the spec names no
    /// digest. For them the tag is what the Pod asked for and the digest what the node pulled it
    /// as, so an exception limited to the tag takes them in, and a policy limited to other tags
    /// does not cover them. Everywhere else (admission, and a spec that wrote a digest itself) a
    /// digest beside a tag is the user's, and the tag vouches for nothing by itself.
    public var nodePinnedImages: Set<String> {
        get { storage.values.nodePinnedImages }
        set { update { $0.nodePinnedImages = newValue } }
    }

    /// Whether `image`'s digest is the one the node pulled its tag as (``nodePinnedImages``).
    public func isPinnedByTheNode(_ image: ImageReference) -> Bool {
        !storage.values.nodePinnedImages.isEmpty && storage.values.nodePinnedImages.contains(image.description)
    }

    public init(
        namespace: String? = nil, name: String? = nil, nameIsGeneratePrefix: Bool = false, uid: String? = nil, kind: String, operation: String = "CREATE",
        dryRun: Bool = false, userName: String? = nil, namespaceLabels: [String: String]? = nil, imagePullSecrets: [String] = [],
        serviceAccountName: String? = nil, controller: ControllerReference? = nil, owners: [VerifiedOwner] = []
    ) {
        storage = Storage(Values(
            namespace: namespace, name: name, nameIsGeneratePrefix: nameIsGeneratePrefix, uid: uid, kind: kind, operation: operation, dryRun: dryRun, userName: userName,
            namespaceLabels: namespaceLabels, imagePullSecrets: imagePullSecrets, serviceAccountName: serviceAccountName,
            controller: controller, owners: owners))
    }

    public static func == (lhs: AdmissionSubject, rhs: AdmissionSubject) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.values == rhs.storage.values
    }

    public func hash(into hasher: inout Hasher) {
        storage.values.hash(into: &hasher)
    }
}

/// What to do with an image no ``ClusterImagePolicy`` covers (the signet design, "The path of
/// one request"; issue 16, "Safe defaults").
public enum NoMatchAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// Deny it (the secure default of `signet serve`).
    case deny
    /// Allow it with an `AdmissionReview` warning naming the image and saying no policy covers
    /// it (the verdict's outcome is ``ImageOutcome/warn``, so it is counted and audited): a first
    /// install that shows what enforcement would deny without denying it.
    case warn
    /// Allow it silently (recorded in the audit record only).
    case allow
}
