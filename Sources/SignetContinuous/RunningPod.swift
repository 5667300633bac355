import Foundation
import SignetPolicy
import SignetRegistry

/// A Pod as it runs: its JSON with every container's image pinned to the digest the node runs,
/// ready to be decided as the admission webhook would decide a `CREATE` of it.
///
/// The running digest comes from the container's status (Kubernetes "Pod Lifecycle", `ContainerStatus.imageID`,
/// which container runtimes report as `repository@sha256:<hex>`, sometimes behind a
/// `docker-pullable://` scheme), and an image volume's from the mounts of a container's status
/// (`volumeMounts[].volumeStatus.image.imageRef`, Kubernetes 1.35+ with ImageVolumeWithDigest).
/// A container without such a status (not started yet, or a runtime that reports only a local
/// image ID) or an image volume whose digest is not reported keeps its spec image, which is
/// then resolved and verified as at admission (``hasUnknownDigest``).
public struct RunningPod: Sendable {
    public var namespace: String
    public var name: String
    public var uid: String?
    /// `status.phase`.
    public var phase: String?
    /// `status.startTime`, when the kubelet reported it.
    public var startTime: Date?
    /// The Pod's JSON with the running images written into its spec.
    public var objectJSON: [UInt8]
    /// Each container and the image it runs, in spec order (init, containers, ephemeral), then
    /// each image volume (`volumes[].image.reference`, decided by its spec reference).
    public var containers: [Container]

    /// One container of the pod, or one image volume.
    public struct Container: Sendable, Hashable {
        public var name: String
        /// The image the spec names.
        public var specImage: String
        /// The image decided: the spec image pinned to the running digest, when one is known.
        public var runningImage: String
        /// An image volume's, not a container's.
        public var isImageVolume = false

        /// Whether what runs is known only by a tag: the spec names no digest and the node
        /// reported none. The tag resolves now to a digest that may not be the one the node
        /// pulled or mounted.
        public var hasUnknownDigest: Bool { !runningImage.contains("@") }
    }

    /// Reads a Pod; `nil` when it is not a JSON object with a name and namespace.
    public init?(json: [UInt8]) {
        guard var pod = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any],
              let metadata = pod["metadata"] as? [String: Any], let name = metadata["name"] as? String,
              let namespace = metadata["namespace"] as? String else { return nil }
        self.name = name
        self.namespace = namespace
        uid = metadata["uid"] as? String
        let status = pod["status"] as? [String: Any] ?? [:]
        phase = status["phase"] as? String
        startTime = (status["startTime"] as? String).flatMap(KubernetesTime.parse)
        var spec = pod["spec"] as? [String: Any] ?? [:]
        var containers: [Container] = []
        for (specKey, statusKey) in [
            ("initContainers", "initContainerStatuses"), ("containers", "containerStatuses"),
            ("ephemeralContainers", "ephemeralContainerStatuses"),
        ] {
            guard var list = spec[specKey] as? [[String: Any]] else { continue }
            let statuses = status[statusKey] as? [[String: Any]] ?? []
            for index in list.indices {
                guard let containerName = list[index]["name"] as? String, let image = list[index]["image"] as? String else { continue }
                let imageID = statuses.first { $0["name"] as? String == containerName }?["imageID"] as? String
                let running = Self.pin(image, toRunning: imageID)
                list[index]["image"] = running
                containers.append(Container(name: containerName, specImage: image, runningImage: running))
            }
            spec[specKey] = list
        }
        // The digests each image volume was mounted as, where the kubelet reports them
        // (`ContainerStatus.volumeMounts[].volumeStatus.image.imageRef`, Kubernetes 1.35+), and
        // for which container: each container mounts the volume when it starts, and one that
        // started after the tag moved may have mounted another digest than the others.
        var mounted: [String: [(container: String, imageRef: String)]] = [:]
        for statusKey in ["initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"] {
            for containerStatus in status[statusKey] as? [[String: Any]] ?? [] {
                for mount in containerStatus["volumeMounts"] as? [[String: Any]] ?? [] {
                    guard let name = mount["name"] as? String,
                          let imageRef = ((mount["volumeStatus"] as? [String: Any])?["image"] as? [String: Any])?["imageRef"] as? String
                    else { continue }
                    mounted[name, default: []].append((containerStatus["name"] as? String ?? "?", imageRef))
                }
            }
        }
        if var volumes = spec["volumes"] as? [[String: Any]] {
            var others: [[String: Any]] = []
            for index in volumes.indices {
                guard let name = volumes[index]["name"] as? String, var image = volumes[index]["image"] as? [String: Any],
                      let reference = image["reference"] as? String else { continue }
                let mounts = mounted[name] ?? []
                let running = Self.pin(reference, toRunning: mounts.first?.imageRef)
                image["reference"] = running
                volumes[index]["image"] = image
                containers.append(Container(name: name, specImage: reference, runningImage: running, isImageVolume: true))
                // Every other digest it was mounted as is decided too, as a volume of its own.
                var decided = [running]
                for mount in mounts.dropFirst() {
                    let other = Self.pin(reference, toRunning: mount.imageRef)
                    guard !decided.contains(other) else { continue }
                    decided.append(other)
                    let alias = "\(name) (as mounted for container \(mount.container))"
                    others.append(["name": alias, "image": ["reference": other]])
                    containers.append(Container(name: alias, specImage: reference, runningImage: other, isImageVolume: true))
                }
            }
            spec["volumes"] = volumes + others
        }
        pod["spec"] = spec
        pod["apiVersion"] = pod["apiVersion"] ?? "v1"
        pod["kind"] = pod["kind"] ?? "Pod"
        guard let data = try? JSONSerialization.data(withJSONObject: pod, options: [.sortedKeys]) else { return nil }
        objectJSON = Array(data)
        self.containers = containers
    }

    /// What tells this Pod from any other, also from one created later under its name: its UID
    /// (`namespace/name` only when the object has none).
    public var key: String { uid ?? "\(namespace)/\(name)" }

    /// The image each container runs (pinned to the node's `imageID` digest where reported), in
    /// order: when one changes (a container restarted on another digest) the Pod is decided again.
    public var runningImages: [String] { containers.map(\.runningImage) }

    /// The images (normalised references) whose digest the node reported for a spec that named
    /// a tag alone: their tag is what the Pod asked for and their digest what the node pulled it
    /// as. A digest the spec wrote itself is not among them: beside it the tag vouches for
    /// nothing, as at admission.
    public var nodePinnedImages: Set<String> {
        Set(containers.compactMap { container in
            guard container.runningImage != container.specImage, !container.specImage.contains("@"),
                  let reference = try? ImageReference(parsing: container.runningImage) else { return nil }
            return reference.description
        })
    }

    /// Whether the pod still runs (or is about to): neither `Succeeded` nor `Failed`.
    public var isActive: Bool { phase != "Succeeded" && phase != "Failed" }

    /// `image` pinned to the repository digest in `imageID`; `image` itself when `imageID`
    /// holds none or either does not parse.
    static func pin(_ image: String, toRunning imageID: String?) -> String {
        guard let imageID, let at = imageID.lastIndex(of: "@"),
              let digest = try? ImageDigest(parsing: String(imageID[imageID.index(after: at)...])),
              let reference = try? ImageReference(parsing: image) else { return image }
        return reference.withDigest(digest).description
    }
}
