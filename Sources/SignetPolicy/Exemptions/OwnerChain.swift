import SignetRegistry

/// The controller an object names in `metadata.ownerReferences` (Kubernetes `metav1.OwnerReference`,
/// the entry with `controller: true`; "Owners and Dependents"). A claim until checked: anyone who
/// can create a Pod can write any owner reference into it, so an exemption never trusts one
/// without ``OwnerChainResolver`` finding the object with that UID.
public struct ControllerReference: Sendable, Hashable {
    /// `apiVersion` of the owner, such as `apps/v1`.
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String

    public init(apiVersion: String, kind: String, name: String, uid: String) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
    }

    /// The API group of ``apiVersion`` (`""` for the core group's `v1`).
    public var group: String {
        guard let slash = apiVersion.firstIndex(of: "/") else { return "" }
        return String(apiVersion[..<slash])
    }

    /// The built-in pod controllers an owner chain is followed through, by kind, with the API
    /// group each belongs to. A reference to any other group or kind (a custom resource named
    /// `Deployment` in another group, an operator's own kind) is not followed.
    public static let followedKinds: [String: String] = [
        "ReplicaSet": "apps", "Deployment": "apps", "StatefulSet": "apps", "DaemonSet": "apps",
        "Job": "batch", "CronJob": "batch", "ReplicationController": "",
    ]

    /// Whether the chain may be followed through this reference (a built-in controller kind in its own group).
    public var isFollowed: Bool { Self.followedKinds[kind] == group }

    /// The user kube-controller-manager creates and changes the objects of each followed
    /// controller kind as, with `--use-service-account-credentials` (kubeadm's default, and that
    /// of the managed offerings): the service account of the controller loop that owns them
    /// (`ReplicaSet` for the Pods a ReplicaSet makes, `Deployment` for its ReplicaSets, ...).
    public static let controllerUsers: [String: String] = [
        "ReplicaSet": "system:serviceaccount:kube-system:replicaset-controller",
        "Deployment": "system:serviceaccount:kube-system:deployment-controller",
        "StatefulSet": "system:serviceaccount:kube-system:statefulset-controller",
        "DaemonSet": "system:serviceaccount:kube-system:daemon-set-controller",
        "Job": "system:serviceaccount:kube-system:job-controller",
        "CronJob": "system:serviceaccount:kube-system:cronjob-controller",
        "ReplicationController": "system:serviceaccount:kube-system:replication-controller",
    ]
    /// kube-controller-manager's own user, which every controller loop acts as without
    /// `--use-service-account-credentials`.
    public static let controllerManagerUser = "system:kube-controller-manager"

    /// Whether `user` may make an object that this reference names as its controller: the
    /// controller loop of its kind (``controllerUsers``), kube-controller-manager itself, or one
    /// of `alsoTrusted` (a distribution whose controllers act under other names). An owner
    /// reference is not a secret (anyone who may read the owner can copy its UID), so an object
    /// someone else wrote that claims it is not what the owner made.
    public func mayBeClaimed(by user: String?, alsoTrusted: Set<String> = []) -> Bool {
        guard let user else { return false }
        return user == Self.controllerUsers[kind] || user == Self.controllerManagerUser || alsoTrusted.contains(user)
    }
}

/// One object of an owner chain, read through the Kubernetes API and found to be the object the
/// reference below it named (same kind, name and UID, in the same namespace): the object's kind
/// and name, and the images of its pod template (`spec.template`, or `spec.jobTemplate.spec.template`
/// of a CronJob), which is what it creates Pods from.
public struct VerifiedOwner: Sendable, Hashable {
    public var kind: String
    public var name: String
    /// The images of the template's containers, init containers and image volumes, parsed and
    /// normalised.
    public var templateImages: [ImageReference]

    public init(kind: String, name: String, templateImages: [ImageReference]) {
        self.kind = kind
        self.name = name
        self.templateImages = templateImages
    }

    /// Whether `image` is one the owner's template names: the same repository and digest when
    /// the template pins a digest, otherwise the same repository and tag, and no digest. A tag
    /// with a digest runs that digest, which could be any image of the repository, so it is not
    /// what a template that names only the tag vouches for. A Pod that claims this owner but
    /// runs another image gains nothing from the owner.
    public func templateNames(_ image: ImageReference) -> Bool {
        templateImages.contains { template in
            guard template.registry == image.registry, template.repository == image.repository else { return false }
            if let pinned = template.digest { return image.digest == pinned }
            return image.digest == nil && template.effectiveTag == image.effectiveTag
        }
    }
}

/// What walking an owner chain found: the verified owners, nearest first, and why the walk
/// stopped early, if it did (an owner missing, a UID that differs, an unreadable object).
public struct OwnerChainResolution: Sendable, Hashable {
    public var owners: [VerifiedOwner]
    /// Why the chain could not be followed to its end; `nil` when it was.
    public var problem: String?

    public init(owners: [VerifiedOwner] = [], problem: String? = nil) {
        self.owners = owners
        self.problem = problem
    }
}

/// Looks up the controllers an admitted object belongs to, so that a ``PolicyException`` for a
/// controller (a Deployment, a CronJob) also exempts the objects it creates, and nothing that
/// merely claims to be one of them.
public protocol OwnerChainResolver: Sendable {
    /// The chain above an object in `namespace` whose controller reference is `controller`:
    /// each link read through the API and checked against the reference that named it.
    /// `images` are the images being admitted (an implementation may reuse an owner it read
    /// recently only while its template still names them). A lookup not done by `deadline`
    /// (the admission's) ends the chain there.
    func resolve(
        _ controller: ControllerReference, namespace: String, images: [ImageReference], deadline: ContinuousClock.Instant
    ) async -> OwnerChainResolution
}
