import Foundation

extension PolicyLoader {
    /// The stand-in for a ``ClusterImagePolicy`` that does not compile (a `secretRef` signet
    /// cannot read, a malformed key, ...): it covers the images the broken policy's globs cover,
    /// in every namespace and for every kind, and fails each of them with a static authority
    /// that names the policy and the error. Without it, the images a broken policy was written
    /// to protect would fall to a broader policy or to the no-match action: fail closed instead.
    ///
    /// A glob that does not compile is left out, so one typo among a policy's globs does not take
    /// the others out of force with it. `nil` when none compiles (then what the policy covers is
    /// unknown).
    public func failClosedPolicy(
        name: String, images: [ClusterImagePolicy.ImagePattern], error: String, source: PolicySourceLocation
    ) -> CompiledPolicy? {
        let compiling = images.filter { (try? ImageGlob($0.glob, tags: $0.tags)) != nil }
        guard !compiling.isEmpty else { return nil }
        let message = "ClusterImagePolicy \"\(name)\" is invalid, so it denies every image it covers until it is fixed: \(error)"
        let stand = ClusterImagePolicy(
            name: name,
            spec: ClusterImagePolicy.Spec(
                images: compiling,
                authorities: [ClusterImagePolicy.Authority(name: "invalid-policy", static: .init(action: .fail, message: message))]))
        return try? compile(stand, source: source)
    }
}
