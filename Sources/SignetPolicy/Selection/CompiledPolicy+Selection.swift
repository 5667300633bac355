/// Namespace and kind selection of a ``ClusterImagePolicy`` (`spec.namespaceSelector`,
/// `spec.kinds`).
extension CompiledPolicy {
    /// Whether the policy applies to objects like `subject`.
    ///
    /// A `namespaceSelector` is matched against the namespace's labels when they are known; when
    /// they are not (a directory source, `signet review`), the policy applies, so that missing
    /// information never exempts an image. A cluster-scoped object is in no namespace: only a
    /// policy without a selector applies to it.
    public func applies(to subject: AdmissionSubject) -> Bool {
        if let kinds = definition.spec.kinds, !kinds.isEmpty, !kinds.contains(subject.kind) {
            return false
        }
        if let selector = definition.spec.namespaceSelector {
            guard subject.namespace != nil else { return selector == LabelSelector() }
            if let labels = subject.namespaceLabels, !selector.matches(labels) {
                return false
            }
        }
        return true
    }
}

extension PolicyLoader {
    /// Checks `spec.namespaceSelector` and `spec.kinds`.
    static func checkSelection(_ spec: ClusterImagePolicy.Spec, invalid: (String, String) -> PolicyLoadError) throws(PolicyLoadError) {
        if let problem = spec.namespaceSelector?.problem {
            throw invalid("spec.namespaceSelector", problem)
        }
        for (index, kind) in (spec.kinds ?? []).enumerated() where kind.isEmpty || kind.first?.isUppercase != true {
            throw invalid("spec.kinds[\(index)]", "\"\(kind)\" is not a kind (expected a name such as Pod or Deployment)")
        }
    }
}

extension CompiledPolicy {
    /// The labels the `namespaceSelector` of this policy, when it is `Enforce`, reads that are
    /// not in `guarded` (`--guarded-namespace-labels`) and that the API server does not set
    /// itself: whoever may update a Namespace may change them and take the namespace out of the
    /// policy. Sorted, each once.
    public func unguardedSelectorLabels(guarded: Set<String>) -> [String] {
        guard mode == .enforce, let selector = definition.spec.namespaceSelector else { return [] }
        var labels = Set((selector.matchLabels ?? [:]).keys)
        for requirement in selector.matchExpressions ?? [] { labels.insert(requirement.key) }
        return labels.filter { !guarded.contains($0) && $0 != "kubernetes.io/metadata.name" }.sorted()
    }
}

extension PolicySet {
    /// ``CompiledPolicy/unguardedSelectorLabels(guarded:)`` of every policy, in policy order.
    public func unguardedSelectorLabels(guarded: Set<String>) -> [(policy: String, label: String)] {
        policies.flatMap { policy in policy.unguardedSelectorLabels(guarded: guarded).map { (policy.name, $0) } }
    }
}
