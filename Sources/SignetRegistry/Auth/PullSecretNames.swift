/// The image pull secrets of a pod that signet reads (`core/v1` `PodSpec.imagePullSecrets`):
/// its distinct names, in order, at most ``maximum``. Kubernetes limits the list only by the
/// request's size; each name costs an API read per verification and bytes in every cache keyed
/// by who a request is made for (the credentials' identity), so a pod naming thousands must not
/// cost thousands.
public enum PullSecretNames {
    /// The most pull secrets read for one pod.
    public static let maximum = 32

    /// The distinct names of `names`, in order, at most ``maximum``, and how many distinct names
    /// were left out.
    public static func bounded(_ names: [String]) -> (names: [String], leftOut: Int) {
        var kept: [String] = []
        var seen = Set<String>()
        var leftOut = 0
        for name in names where seen.insert(name).inserted {
            if kept.count < maximum { kept.append(name) } else { leftOut += 1 }
        }
        return (kept, leftOut)
    }
}
