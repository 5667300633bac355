import Foundation

/// Builds the Policy WG's reports (`wgpolicyk8s.io/v1alpha2`, the format Kyverno and Policy
/// Reporter use) from a scan's findings: one `PolicyReport` per namespace named
/// ``reportName``, with a result per running image, and one `ClusterPolicyReport` of the same
/// name summarising every namespace.
///
/// Each result carries `policy` (the covering policies, comma-separated, or `signet` when none),
/// `rule` (`image-signature`), `result` (`pass`, `fail`, `warn`, `skip`, or `error` when
/// verification could not finish), `message` (admission's reason), `source` `signet`,
/// `category`, `severity` (`high` for a fail, `medium` for an error, else `info`),
/// `timestamp` (`seconds`, `nanos`), `scored`, `resources` (the Pod) and `properties`
/// (`container`, or `imageVolume` for an image volume's image, `image`, and `exception` when a
/// PolicyException or EmergencyBypass applies).
///
/// A report is one object in etcd, which refuses any larger than its request limit (1.5 MiB by
/// default), and one that cannot be written stays stale. So the results of a report are kept
/// within ``maximumResultBytes``: when a namespace's results do not fit, the failures come first,
/// then errors, warnings, skips and passes, and the rest are left out; the `summary` still counts
/// every result, and the annotation ``omittedResultsAnnotation`` says how many were left out.
public struct PolicyReportBuilder: Sendable {
    /// The name of every report signet writes.
    public static let reportName = "signet-image-signatures"
    public static let apiVersion = "wgpolicyk8s.io/v1alpha2"
    /// The label on every report signet writes.
    public static let managedByLabel = ("app.kubernetes.io/managed-by", "signet")
    /// The annotation on a report whose results did not all fit: how many were left out.
    public static let omittedResultsAnnotation = "signet.dev/omitted-results"
    /// The most bytes of encoded results one report holds: two thirds of etcd's default request
    /// limit, leaving room for the rest of the object and the API server's managed fields.
    public static let defaultMaximumResultBytes = 1_000_000

    /// The time written in each result.
    public var time: Date
    /// The most bytes of encoded results one report holds.
    public var maximumResultBytes: Int

    public init(time: Date, maximumResultBytes: Int = Self.defaultMaximumResultBytes) {
        self.time = time
        self.maximumResultBytes = maximumResultBytes
    }

    /// The `PolicyReport` of `namespace` holding `findings` (the findings of that namespace).
    public func namespaceReport(_ namespace: String, findings: [ImageFinding]) -> [String: Any] {
        let (results, omitted) = bounded(findings.map { (finding: $0.result, result: result($0)) })
        return [
            "apiVersion": Self.apiVersion, "kind": "PolicyReport",
            "metadata": metadata(namespace: namespace, omitted: omitted),
            "summary": Self.summary(findings),
            "results": results,
        ]
    }

    /// The `ClusterPolicyReport`: the summary over every namespace and one result per
    /// namespace, pointing at its `PolicyReport`: `fail` when it holds a fail, else `error` when
    /// it holds an image that could not be verified, else `warn` when it holds a warning, else
    /// `pass`.
    public func clusterReport(_ findings: [ImageFinding]) -> [String: Any] {
        let byNamespace = Dictionary(grouping: findings, by: \.namespace)
        let ranked: [(finding: ImageFinding.Result, result: [String: Any])] = byNamespace.keys.sorted().map { namespace in
            let summary = Self.summary(byNamespace[namespace] ?? [])
            let failing = summary["fail", default: 0], warning = summary["warn", default: 0]
            let unverifiable = summary["error", default: 0]
            let outcome: ImageFinding.Result = failing > 0 ? .fail : unverifiable > 0 ? .error : warning > 0 ? .warn : .pass
            let counted = unverifiable > 0 ? "\(failing) untrusted, \(unverifiable) not verifiable now and \(warning) warned" : "\(failing) untrusted and \(warning) warned"
            return (outcome, [
                "policy": "signet", "rule": "image-signature", "result": outcome.rawValue, "source": "signet",
                "category": "Image signatures", "severity": Self.severityLabel(outcome), "scored": true,
                "message": "\(counted) of \((byNamespace[namespace] ?? []).count) running images in namespace \(namespace)",
                "timestamp": timestamp,
                "resources": [["apiVersion": "v1", "kind": "Namespace", "name": namespace]],
            ])
        }
        let (results, omitted) = bounded(ranked)
        return [
            "apiVersion": Self.apiVersion, "kind": "ClusterPolicyReport",
            "metadata": metadata(namespace: nil, omitted: omitted),
            "summary": Self.summary(findings),
            "results": results,
        ]
    }

    private func metadata(namespace: String?, omitted: Int) -> [String: Any] {
        var metadata: [String: Any] = ["name": Self.reportName, "labels": [Self.managedByLabel.0: Self.managedByLabel.1]]
        if let namespace { metadata["namespace"] = namespace }
        if omitted > 0 { metadata["annotations"] = [Self.omittedResultsAnnotation: String(omitted)] }
        return metadata
    }

    /// The results that fit ``maximumResultBytes``, in their order when all fit, else the most
    /// severe first (fail, error, warn, skip, pass; in their order within each), and how many
    /// were left out.
    func bounded(_ results: [(finding: ImageFinding.Result, result: [String: Any])]) -> (results: [[String: Any]], omitted: Int) {
        let sizes = results.map { PolicyReportWriter.encode($0.result).count + 1 }
        if sizes.reduce(0, +) <= maximumResultBytes { return (results.map(\.result), 0) }
        let order = results.indices.sorted { (Self.severity(results[$0].finding), $0) < (Self.severity(results[$1].finding), $1) }
        var kept: [[String: Any]] = []
        var bytes = 0
        for index in order {
            guard bytes + sizes[index] <= maximumResultBytes else { break }
            bytes += sizes[index]
            kept.append(results[index].result)
        }
        return (kept, results.count - kept.count)
    }

    /// The order results are kept in when not all fit: what needs someone's attention first.
    private static func severity(_ result: ImageFinding.Result) -> Int {
        switch result {
        case .fail: 0
        case .error: 1
        case .warn: 2
        case .skip: 3
        case .pass: 4
        }
    }

    /// A result's `severity`: `high` for a fail, `medium` for an image that could not be
    /// verified, `info` for the rest.
    private static func severityLabel(_ result: ImageFinding.Result) -> String {
        switch result {
        case .fail: "high"
        case .error: "medium"
        case .warn, .skip, .pass: "info"
        }
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
            "source": "signet", "category": "Image signatures", "severity": Self.severityLabel(finding.result),
            "scored": true, "timestamp": timestamp, "resources": [resource], "properties": properties,
        ]
    }
}
