import Logging
import NIOConcurrencyHelpers
import SignetKube
import SignetPolicy
import SignetRegistry

/// Follows an admitted object's owner chain through the Kubernetes API ("Owners and
/// Dependents"): from the controller reference the object claims, each owner is read with `get`
/// in the object's namespace and must have the UID the reference below it names; then its own
/// controller reference is followed, up to ``maximumDepth`` links (a Pod's ReplicaSet and
/// Deployment, a Job and its CronJob). Only the built-in controllers are followed
/// (``ControllerReference/followedKinds``); RBAC: `get` on each of them.
///
/// Every link that cannot be confirmed (missing, another UID, unreadable, an unknown kind) ends
/// the chain there, with the reason: an exception for a controller then does not apply, which
/// fails closed.
///
/// An owner read is reused for ``cacheLifetime`` (a burst of Pods from one ReplicaSet costs one
/// read), but only while its template still names every image being admitted: a Deployment
/// whose template just changed is read again for the Pods of its new ReplicaSet.
final class KubernetesOwnerChainResolver: OwnerChainResolver {
    let client: KubernetesClient
    let cacheLifetime: Duration
    let cacheCapacity: Int
    /// The most owners followed above an object.
    static let maximumDepth = 4
    private let cache = NIOLockedValueBox<[CacheKey: CachedOwner]>([:])

    private struct CacheKey: Hashable {
        var kind: String
        var namespace: String
        var name: String
        var uid: String
    }

    private struct CachedOwner {
        var owner: VerifiedOwner
        var next: ControllerReference?
        var expires: ContinuousClock.Instant
    }

    init(client: KubernetesClient, cacheLifetime: Duration = .seconds(5), cacheCapacity: Int = 1024) {
        self.client = client
        self.cacheLifetime = cacheLifetime
        self.cacheCapacity = max(1, cacheCapacity)
    }

    func resolve(
        _ controller: ControllerReference, namespace: String, images: [ImageReference], deadline: ContinuousClock.Instant
    ) async -> OwnerChainResolution {
        var owners: [VerifiedOwner] = []
        var next: ControllerReference? = controller
        while let reference = next {
            guard owners.count < Self.maximumDepth else {
                return OwnerChainResolution(owners: owners, problem: "more than \(Self.maximumDepth) owners")
            }
            guard reference.isFollowed, let resource = KubernetesResource.podControllers[reference.kind] else {
                return OwnerChainResolution(owners: owners, problem: "\(reference.apiVersion) \(reference.kind) is not a built-in pod controller")
            }
            switch await read(reference, resource: resource, namespace: namespace, images: images, deadline: deadline) {
            case .success(let link):
                owners.append(link.owner)
                next = link.next
            case .failure(let problem):
                return OwnerChainResolution(owners: owners, problem: problem.reason)
            }
        }
        return OwnerChainResolution(owners: owners)
    }

    private struct Problem: Error { var reason: String }

    /// One link: the owner `reference` names, confirmed, and the reference above it.
    private func read(
        _ reference: ControllerReference, resource: KubernetesResource, namespace: String, images: [ImageReference],
        deadline: ContinuousClock.Instant
    ) async -> Result<(owner: VerifiedOwner, next: ControllerReference?), Problem> {
        let key = CacheKey(kind: reference.kind, namespace: namespace, name: reference.name, uid: reference.uid)
        let now = ContinuousClock.now
        if let cached = cache.withLockedValue({ $0[key] }), cached.expires > now, images.allSatisfy(cached.owner.templateNames) {
            return .success((cached.owner, cached.next))
        }
        let object: KubernetesObject?
        do {
            object = try await client.get(resource, name: reference.name, namespace: namespace, deadline: deadline)
        } catch {
            return .failure(Problem(reason: "\(reference.kind) \(namespace)/\(reference.name) could not be read: \(error)"))
        }
        guard let object else {
            return .failure(Problem(reason: "\(reference.kind) \(namespace)/\(reference.name) does not exist"))
        }
        guard object.uid == reference.uid else {
            return .failure(Problem(reason:
                "\(reference.kind) \(namespace)/\(reference.name) has UID \(object.uid ?? "(none)"), not \(reference.uid) as the owner reference claims"))
        }
        let dictionary = object.dictionary
        let owner = VerifiedOwner(kind: reference.kind, name: reference.name, templateImages: Self.templateImages(of: dictionary))
        let metadata = dictionary["metadata"] as? [String: Any]
        let next = Self.controller(in: metadata?["ownerReferences"] as? [[String: Any]] ?? [])
        if cacheLifetime > .zero {
            cache.withLockedValue { entries in
                if entries.count >= cacheCapacity { entries = entries.filter { $0.value.expires > now } }
                if entries.count >= cacheCapacity { entries.removeAll() }
                entries[key] = CachedOwner(owner: owner, next: next, expires: ContinuousClock.now + cacheLifetime)
            }
        }
        return .success((owner, next))
    }

    /// The images of a controller's pod template (`spec.template`, or a CronJob's
    /// `spec.jobTemplate.spec.template`): containers, init containers and image volumes
    /// (`volumes[].image.reference`). An image that does not parse is left out (it can match
    /// nothing).
    static func templateImages(of object: [String: Any]) -> [ImageReference] {
        let spec = object["spec"] as? [String: Any]
        let jobSpec = (spec?["jobTemplate"] as? [String: Any])?["spec"] as? [String: Any]
        let template = (jobSpec?["template"] ?? spec?["template"]) as? [String: Any]
        let podSpec = template?["spec"] as? [String: Any]
        var images: [ImageReference] = []
        for field in ["containers", "initContainers"] {
            for container in podSpec?[field] as? [[String: Any]] ?? [] {
                if let image = container["image"] as? String, let reference = try? ImageReference(parsing: image) {
                    images.append(reference)
                }
            }
        }
        for volume in podSpec?["volumes"] as? [[String: Any]] ?? [] {
            if let image = (volume["image"] as? [String: Any])?["reference"] as? String,
               let reference = try? ImageReference(parsing: image) {
                images.append(reference)
            }
        }
        return images
    }

    /// The entry with `controller: true` among an object's owner references.
    static func controller(in references: [[String: Any]]) -> ControllerReference? {
        guard let entry = references.first(where: { $0["controller"] as? Bool == true }),
              let apiVersion = entry["apiVersion"] as? String, let kind = entry["kind"] as? String,
              let name = entry["name"] as? String, let uid = entry["uid"] as? String else { return nil }
        return ControllerReference(apiVersion: apiVersion, kind: kind, name: name, uid: uid)
    }
}
