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

    /// The authority that decided `verdict`: the first one consulted that passed, else the first
    /// one consulted; `nil` when none was (no policy covers the image, an exemption applied, or
    /// the reference did not parse). Its kind is the verdict's signature format in metrics.
    public func decidingAuthority(of verdict: ImageVerdict) -> CompiledAuthority? {
        var first: (policy: String, authority: String)?
        for result in verdict.results {
            for authority in result.authorities {
                if authority.status == .passed { return self.authority(authority.authority, of: result.policy) }
                if first == nil { first = (result.policy, authority.authority) }
            }
        }
        return first.flatMap { authority($0.authority, of: $0.policy) }
    }

    private func authority(_ name: String, of policy: String) -> CompiledAuthority? {
        self.policy(named: policy)?.authorities.first { $0.name == name }
    }
}
