import Logging
import SignetPolicy

/// Where `signet serve` gets the policies, exceptions, bypasses and namespace labels in force:
/// a directory (``DirectoryPolicySource``) or the cluster (``KubernetesPolicySource``). The
/// same ``PolicyEvaluator`` decides for both.
protocol PolicySource: Sendable {
    /// The set in force.
    func current() async -> PolicySet
    /// The labels of `namespace`, when the source knows namespaces.
    func namespaceLabels(_ namespace: String) -> [String: String]?
    /// What the PolicyExceptions of `namespace` take, when the source is where they are made
    /// (the cluster), to refuse one beyond the namespace's budget at admission.
    func exceptionUsage(_ namespace: String) -> ExemptionLimits.NamespaceUsage?
    /// Keeps the set up to date until the task is cancelled.
    func run() async
    /// Returns once the first full set is loaded (then `/readyz` may report ready).
    func waitUntilLoaded() async throws
}

/// Policies from a directory, reloaded on change; no namespace information.
struct DirectoryPolicySource: PolicySource {
    let watcher: PolicyDirectoryWatcher

    func current() async -> PolicySet { await watcher.current }
    func namespaceLabels(_ namespace: String) -> [String: String]? { nil }
    func exceptionUsage(_ namespace: String) -> ExemptionLimits.NamespaceUsage? { nil }
    func run() async { await watcher.run() }
    func waitUntilLoaded() async throws { try await watcher.loadInitial() }
}
