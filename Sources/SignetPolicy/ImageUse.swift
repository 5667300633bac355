import SignetRegistry

/// One image as a workload uses it: the string written in the pod spec and the container that
/// names it (Kubernetes `core/v1` `Container.image`, `PodSpec.containers`, `initContainers`,
/// `ephemeralContainers`).
public struct ImageUse: Sendable, Hashable {
    /// The image exactly as written in the pod spec.
    public var image: String
    /// The container's name.
    public var container: String
    /// Which list of the pod spec the container is in.
    public var containerType: ContainerType
    /// The container's index in that list, when known (for a JSON Patch that pins its image).
    public var position: Int?

    public init(image: String, container: String, containerType: ContainerType = .container, position: Int? = nil) {
        self.image = image
        self.container = container
        self.containerType = containerType
        self.position = position
    }
}

/// The list of a Kubernetes `PodSpec` a container belongs to.
public enum ContainerType: String, Sendable, Hashable, Codable, CaseIterable {
    case container
    case initContainer
    case ephemeralContainer

    /// The field of `PodSpec` holding this type: `containers`, `initContainers`, `ephemeralContainers`.
    public var podSpecField: String {
        switch self {
        case .container: "containers"
        case .initContainer: "initContainers"
        case .ephemeralContainer: "ephemeralContainers"
        }
    }

    /// How messages name a container of this type: `container "web"`, `init container "setup"`,
    /// the name as written in a pod spec shown by ``UntrustedText/shown(containerName:)``.
    public func describe(podSpecName name: String) -> String {
        describe(UntrustedText.shown(containerName: name))
    }

    /// ``describe(podSpecName:)`` for a name already shown (a verdict's).
    public func describe(_ name: String) -> String {
        let kind: String = switch self {
        case .container: "container \""
        case .initContainer: "init container \""
        case .ephemeralContainer: "ephemeral container \""
        }
        // Put together in one buffer of the right size: this runs for every image of every review.
        var text = ""
        text.reserveCapacity(kind.utf8.count + name.utf8.count + 1)
        text += kind
        text += name
        text += "\""
        return text
    }
}

/// The object under admission, as far as policies and audit records need it (from the
/// `AdmissionReview` request of Kubernetes `admission.k8s.io/v1`).
public struct AdmissionSubject: Sendable, Hashable {
    /// `request.namespace`; `nil` for cluster-scoped objects.
    public var namespace: String?
    /// `request.name`; may be empty on CREATE when the name is generated.
    public var name: String?
    /// The object's kind, e.g. `Pod`, `Deployment`.
    public var kind: String
    /// `request.operation`: `CREATE`, `UPDATE`, `DELETE`, `CONNECT`.
    public var operation: String
    /// `request.dryRun`.
    public var dryRun: Bool
    /// `request.userInfo.username`.
    public var userName: String?
    /// The labels of the object's namespace, when the policy source knows them (for
    /// `spec.namespaceSelector` and the namespace opt-out label); `nil` when unknown.
    public var namespaceLabels: [String: String]?
    /// `PodSpec.imagePullSecrets` names, for registry credentials.
    public var imagePullSecrets: [String]
    /// `PodSpec.serviceAccountName` (`default` when the pod names none).
    public var serviceAccountName: String?
    /// The controller `metadata.ownerReferences` names, as claimed by the object (unchecked).
    public var controller: ControllerReference?
    /// The owner chain above the object, each link checked through the API (see
    /// ``OwnerChainResolver``), nearest first; empty when not looked up or not found.
    public var owners: [VerifiedOwner]

    public init(
        namespace: String? = nil, name: String? = nil, kind: String, operation: String = "CREATE", dryRun: Bool = false,
        userName: String? = nil, namespaceLabels: [String: String]? = nil, imagePullSecrets: [String] = [],
        serviceAccountName: String? = nil, controller: ControllerReference? = nil, owners: [VerifiedOwner] = []
    ) {
        self.namespace = namespace
        self.name = name
        self.kind = kind
        self.operation = operation
        self.dryRun = dryRun
        self.userName = userName
        self.namespaceLabels = namespaceLabels
        self.imagePullSecrets = imagePullSecrets
        self.serviceAccountName = serviceAccountName
        self.controller = controller
        self.owners = owners
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
