extension PolicySet {
    /// The policy named `name` (the policies are sorted by name: a binary search).
    public func policy(named name: String) -> CompiledPolicy? {
        var low = 0, high = policies.count
        while low < high {
            let middle = (low + high) / 2
            if policies[middle].name < name { low = middle + 1 } else { high = middle }
        }
        return low < policies.count && policies[low].name == name ? policies[low] : nil
    }

    /// The authority that decided a verdict whose policies' results are `results`
    /// (``ImageVerdict/results``): the first one consulted that passed, else the first one
    /// consulted; `nil` when none was (no policy covers the image, an exemption applied, or the
    /// reference did not parse). Its kind is the verdict's signature format in metrics.
    public func decidingAuthority(of results: [PolicyResult]) -> CompiledAuthority? {
        // By index: results and authority results (with their steps) are read in place, not copied.
        var first: (policy: Int, authority: Int)?
        for policy in results.indices {
            for authority in results[policy].authorities.indices {
                if results[policy].authorities[authority].status == .passed {
                    return self.authority(results[policy].authorities[authority].authority, of: results[policy].policy)
                }
                if first == nil { first = (policy, authority) }
            }
        }
        return first.flatMap { authority(results[$0.policy].authorities[$0.authority].authority, of: results[$0.policy].policy) }
    }

    private func authority(_ name: String, of policy: String) -> CompiledAuthority? {
        guard let authorities = self.policy(named: policy)?.authorities,
              let index = authorities.firstIndex(where: { $0.name == name })
        else { return nil }
        return authorities[index]
    }
}
