import Foundation

/// Builds the Policy WG's reports (`wgpolicyk8s.io/v1alpha2`, the format Kyverno and Policy
/// Reporter use) from a scan's findings: one `PolicyReport` per namespace named
/// ``reportName``, with a result per running image, and one `ClusterPolicyReport` of the same
/// name summarising every namespace.
///
/// Each result carries `policy` (the covering policies, comma-separated, or `signet` when none),
/// `rule` (`image-signature`), `result` (`pass`, `fail`, `warn`, `skip`), `message` (admission's
/// reason), `source` `signet`, `category`, `severity` (`high` for a fail, else `info`),
/// `timestamp` (`seconds`, `nanos`), `scored`, `resources` (the Pod) and `properties`
/// (`container`, or `imageVolume` for an image volume's image, `image`, and `exception` when a
/// PolicyException or EmergencyBypass applies).
public struct PolicyReportBuilder: Sendable {
    /// The name of every report signet writes.
    public static let reportName = "signet-image-signatures"
    public static let apiVersion = "wgpolicyk8s.io/v1alpha2"
    /// The label on every report signet writes.
    public static let managedByLabel = ("app.kubernetes.io/managed-by", "signet")

    /// The time written in each result.
    public var time: Date

    public init(time: Date) {
        self.time = time
    }

    /// The `PolicyReport` of `namespace` holding `findings` (the findings of that namespace).
    public func namespaceReport(_ namespace: String, findings: [ImageFinding]) -> [String: Any] {
        [
            "apiVersion": Self.apiVersion, "kind": "PolicyReport",
            "metadata": ["name": Self.reportName, "namespace": namespace, "labels": [Self.managedByLabel.0: Self.managedByLabel.1]],
            "summary": Self.summary(findings),
            "results": findings.map(result),
        ]
    }

    /// The `ClusterPolicyReport`: the summary over every namespace and one result per
    /// namespace that holds a fail or warn, pointing at its `PolicyReport`.
    public func clusterReport(_ findings: [ImageFinding]) -> [String: Any] {
        let byNamespace = Dictionary(grouping: findings, by: \.namespace)
        let results: [[String: Any]] = byNamespace.keys.sorted().map { namespace in
            let summary = Self.summary(byNamespace[namespace] ?? [])
            let failing = summary["fail", default: 0], warning = summary["warn", default: 0]
            let outcome = failing > 0 ? "fail" : warning > 0 ? "warn" : "pass"
            return [
                "policy": "signet", "rule": "image-signature", "result": outcome, "source": "signet",
                "category": "Image signatures", "severity": failing > 0 ? "high" : "info", "scored": true,
                "message": "\(failing) untrusted and \(warning) warned of \((byNamespace[namespace] ?? []).count) running images in namespace \(namespace)",
                "timestamp": timestamp,
                "resources": [["apiVersion": "v1", "kind": "Namespace", "name": namespace]],
            ]
        }
        return [
            "apiVersion": Self.apiVersion, "kind": "ClusterPolicyReport",
            "metadata": ["name": Self.reportName, "labels": [Self.managedByLabel.0: Self.managedByLabel.1]],
            "summary": Self.summary(findings),
            "results": results,
        ]
    }

    /// `pass`, `fail`, `warn`, `error` and `skip` counts.
    static func summary(_ findings: [ImageFinding]) -> [String: Int] {
        var counts = ["pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0]
        for finding in findings { counts[finding.result.rawValue, default: 0] += 1 }
        return counts
    }

    private var timestamp: [String: Any] {
        let seconds = time.timeIntervalSince1970.rounded(.down)
        return ["seconds": Int64(seconds), "nanos": Int32((time.timeIntervalSince1970 - seconds) * 1e9)]
    }

    private func result(_ finding: ImageFinding) -> [String: Any] {
        var properties = [finding.isImageVolume ? "imageVolume" : "container": finding.container, "image": finding.image]
        if let exemption = finding.exemption { properties["exception"] = exemption }
        var resource: [String: Any] = ["apiVersion": "v1", "kind": "Pod", "name": finding.pod, "namespace": finding.namespace]
        if let uid = finding.podUID { resource["uid"] = uid }
        return [
            "policy": finding.policies.isEmpty ? "signet" : finding.policies.joined(separator: ","),
            "rule": "image-signature", "result": finding.result.rawValue, "message": finding.reason,
            "source": "signet", "category": "Image signatures", "severity": finding.result == .fail ? "high" : "info",
            "scored": true, "timestamp": timestamp, "resources": [resource], "properties": properties,
        ]
    }
}
