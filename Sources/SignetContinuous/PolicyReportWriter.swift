import Foundation
import Logging
import Metrics
import SignetKube

/// Writes a scan's reports through the Kubernetes API, in place: each report is read, then
/// replaced at the version read (`PUT`), or created when absent, so a namespace has one signet
/// report however often it is scanned. A namespace whose pods are all gone keeps its report,
/// emptied; one whose report is gone (deleted with its namespace, or by hand) gets none, so a
/// namespace deleted with its pods costs nothing after its last scan.
///
/// A namespace whose report cannot be written (forbidden there, a quota, the API server
/// failing) does not stop the others: each failure is logged naming the namespace, counted in
/// `signet_policy_report_write_failures_total{kind}` (`PolicyReport` or `ClusterPolicyReport`)
/// and returned in ``Outcome/failures``.
public struct PolicyReportWriter: Sendable {
    let client: KubernetesClient
    let logger: Logger

    public init(client: KubernetesClient, logger: Logger = Logger(label: "signet.reports")) {
        self.client = client
        self.logger = logger
    }

    /// What one ``write(_:builder:emptiedNamespaces:)`` did.
    public struct Outcome: Sendable {
        /// The namespaces whose report was written, sorted.
        public var written: [String] = []
        /// What each report stored now holds, timestamps aside, by namespace (`""` for the
        /// ClusterPolicyReport): those written and those left as they were. The next write is
        /// given it, so a report whose results did not change is not written again.
        public var contents: [String: [UInt8]] = [:]
        /// Why each report that was not written failed, by namespace (`nil` for the
        /// ClusterPolicyReport).
        public var failures: [(namespace: String?, error: KubernetesError)] = []

        /// The namespaces whose report failed.
        public var failedNamespaces: Set<String> { Set(failures.compactMap { $0.namespace }) }

        /// One line per failure, for people.
        public var summary: String {
            failures.map { "\($0.namespace.map { "PolicyReport in \($0)" } ?? "ClusterPolicyReport"): \($0.error)" }.joined(separator: "; ")
        }
    }

    /// Writes one `PolicyReport` per namespace of `findings` (and an empty one for each of
    /// `emptiedNamespaces` that has one), then, with `clusterReport`, the `ClusterPolicyReport`
    /// (a scan of one namespace leaves it to the scans of every namespace), going on past any
    /// that fails. A
    /// report whose content, timestamps aside, is what `stored` says it already holds (an
    /// earlier ``Outcome/contents``) is left as it is: a Pod that comes and goes in one namespace
    /// does not rewrite every namespace's report.
    @discardableResult
    public func write(
        _ findings: [ImageFinding], builder: PolicyReportBuilder, emptiedNamespaces: Set<String> = [], stored: [String: [UInt8]] = [:],
        clusterReport: Bool = true
    ) async -> Outcome {
        let byNamespace = Dictionary(grouping: findings, by: \.namespace)
        var outcome = Outcome()
        func write(_ resource: KubernetesResource, namespace: String?, report: [String: Any], createIfAbsent: Bool = true) async {
            let key = namespace ?? ""
            let content = Self.content(of: report)
            if stored[key] == content {
                outcome.contents[key] = content
                return
            }
            do {
                guard try await upsert(resource, namespace: namespace, report: report, createIfAbsent: createIfAbsent) else { return }
                outcome.contents[key] = content
                if let namespace { outcome.written.append(namespace) }
            } catch {
                failed(&outcome, namespace: namespace, error)
            }
        }
        for namespace in Set(byNamespace.keys).union(emptiedNamespaces).sorted() {
            let findings = byNamespace[namespace] ?? []
            await write(.policyReports, namespace: namespace, report: builder.namespaceReport(namespace, findings: findings), createIfAbsent: !findings.isEmpty)
        }
        if clusterReport { await write(.clusterPolicyReports, namespace: nil, report: builder.clusterReport(findings)) }
        return outcome
    }

    /// `report` as canonical JSON without its results' timestamps: what decides whether it
    /// changed.
    static func content(of report: [String: Any]) -> [UInt8] {
        var report = report
        if let results = report["results"] as? [[String: Any]] {
            report["results"] = results.map { result in
                var result = result
                result["timestamp"] = nil
                return result
            }
        }
        return encode(report)
    }

    private func failed(_ outcome: inout Outcome, namespace: String?, _ error: KubernetesError) {
        outcome.failures.append((namespace, error))
        let kind = namespace == nil ? "ClusterPolicyReport" : "PolicyReport"
        Counter(label: "signet_policy_report_write_failures_total", dimensions: [("kind", kind)]).increment()
        logger.error("cannot write the policy report", metadata: [
            "kind": "\(kind)", "namespace": "\(namespace ?? "")", "error": "\(error)",
        ])
    }

    /// The namespaces holding a report signet wrote.
    public func reportedNamespaces() async throws(KubernetesError) -> Set<String> {
        let list = try await client.list(.policyReports, scope: KubernetesListScope(fieldSelector: "metadata.name=\(PolicyReportBuilder.reportName)"))
        return Set(list.items.compactMap(\.namespace))
    }

    /// Replaces the report, or creates it when absent and `createIfAbsent`; whether it was written.
    private func upsert(_ resource: KubernetesResource, namespace: String?, report: [String: Any], createIfAbsent: Bool) async throws(KubernetesError) -> Bool {
        var report = report
        let name = PolicyReportBuilder.reportName
        for attempt in 1...3 {
            if let existing = try await client.get(resource, name: name, namespace: namespace) {
                var metadata = report["metadata"] as? [String: Any] ?? [:]
                metadata["resourceVersion"] = existing.resourceVersion
                report["metadata"] = metadata
                do {
                    try await client.replace(resource, name: name, namespace: namespace, object: Self.encode(report))
                    return true
                } catch where error.statusCode == 409 && attempt < 3 {
                    continue
                } catch where error.statusCode == 404 && !createIfAbsent {
                    return false
                }
            }
            guard createIfAbsent else { return false }
            do {
                if let namespace {
                    try await client.create(resource, namespace: namespace, object: Self.encode(report))
                } else {
                    try await client.createClusterScoped(resource, object: Self.encode(report))
                }
                return true
            } catch where error.statusCode == 409 && attempt < 3 {
                continue
            }
        }
        return false
    }

    static func encode(_ object: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
    }
}
