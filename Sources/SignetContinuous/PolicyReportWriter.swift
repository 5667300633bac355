import Foundation
import Logging
import SignetKube

/// Writes a scan's reports through the Kubernetes API, in place: each report is read, then
/// replaced at the version read (`PUT`), or created when absent, so a namespace has one signet
/// report however often it is scanned. A namespace whose pods are all gone keeps its report,
/// emptied.
public struct PolicyReportWriter: Sendable {
    let client: KubernetesClient
    let logger: Logger

    public init(client: KubernetesClient, logger: Logger = Logger(label: "signet.reports")) {
        self.client = client
        self.logger = logger
    }

    /// Writes one `PolicyReport` per namespace of `findings` (and an empty one for each of
    /// `emptiedNamespaces`), then the `ClusterPolicyReport`. Returns the namespaces written.
    @discardableResult
    public func write(
        _ findings: [ImageFinding], builder: PolicyReportBuilder, emptiedNamespaces: Set<String> = []
    ) async throws(KubernetesError) -> [String] {
        let byNamespace = Dictionary(grouping: findings, by: \.namespace)
        let namespaces = Set(byNamespace.keys).union(emptiedNamespaces).sorted()
        for namespace in namespaces {
            try await upsert(.policyReports, namespace: namespace, report: builder.namespaceReport(namespace, findings: byNamespace[namespace] ?? []))
        }
        try await upsert(.clusterPolicyReports, namespace: nil, report: builder.clusterReport(findings))
        return namespaces
    }

    /// The namespaces holding a report signet wrote.
    public func reportedNamespaces() async throws(KubernetesError) -> Set<String> {
        let list = try await client.list(.policyReports, scope: KubernetesListScope(fieldSelector: "metadata.name=\(PolicyReportBuilder.reportName)"))
        return Set(list.items.compactMap(\.namespace))
    }

    private func upsert(_ resource: KubernetesResource, namespace: String?, report: [String: Any]) async throws(KubernetesError) {
        var report = report
        let name = PolicyReportBuilder.reportName
        for attempt in 1...3 {
            if let existing = try await client.get(resource, name: name, namespace: namespace) {
                var metadata = report["metadata"] as? [String: Any] ?? [:]
                metadata["resourceVersion"] = existing.resourceVersion
                report["metadata"] = metadata
                do {
                    try await client.replace(resource, name: name, namespace: namespace, object: Self.encode(report))
                    return
                } catch where error.statusCode == 409 && attempt < 3 {
                    continue
                }
            }
            do {
                if let namespace {
                    try await client.create(resource, namespace: namespace, object: Self.encode(report))
                } else {
                    try await client.createClusterScoped(resource, object: Self.encode(report))
                }
                return
            } catch where error.statusCode == 409 && attempt < 3 {
                continue
            }
        }
    }

    static func encode(_ object: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
    }
}
