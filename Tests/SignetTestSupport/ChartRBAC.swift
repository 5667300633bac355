import Foundation

/// The RBAC rules the Helm chart grants signet's ServiceAccount, read from `helm template` of
/// `charts/signet`: the rules of every ClusterRole a ClusterRoleBinding gives it, and of every
/// Role a RoleBinding gives it (each rule then carries the Role's `namespace`), in the form
/// ``KubernetesAPIServerDouble/restrict(to:)`` takes.
public enum ChartRBAC {
    /// The Helm 4 binary: `$HELM`, else the one `make tools` installs under `.tools/bin`.
    public static var helm: String? {
        if let path = ProcessInfo.processInfo.environment["HELM"], !path.isEmpty {
            return path.hasPrefix("/") ? path : TestPaths.packageRoot.appendingPathComponent(path).path
        }
        let installed = TestPaths.packageRoot.appendingPathComponent(".tools/bin/helm").path
        return FileManager.default.isExecutableFile(atPath: installed) ? installed : nil
    }

    /// The rules for release `signet` in namespace `signet-system` with `--set` `values`.
    public static func serviceAccountRules(values: [String] = []) throws -> [[String: Any]] {
        guard let helm else { throw TestProcessError(message: "helm is not installed: run `make tools` or set HELM") }
        let directory = TemporaryDirectory(prefix: "signet-chart-rbac")
        let script = try directory.write("rules.py", extractor)
        var arguments = ["template", "signet", TestPaths.packageRoot.appendingPathComponent("charts/signet").path, "--namespace", "signet-system"]
        for value in values { arguments += ["--set", value] }
        let rendered = try TestProcess.run(helm, arguments)
        guard rendered.status == 0 else { throw TestProcessError(message: "helm template failed: \(rendered.stderr)") }
        let manifests = try directory.write("chart.yaml", rendered.stdout)
        let extracted = try TestProcess.run("python3", [script.path, manifests.path])
        guard extracted.status == 0,
              let rules = (try? JSONSerialization.jsonObject(with: Data(extracted.stdout.utf8))) as? [[String: Any]] else {
            throw TestProcessError(message: "reading the chart's RBAC failed: \(extracted.stderr)")
        }
        return rules
    }

    private static let extractor = #"""
import json, sys, yaml
documents = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
accounts = {(d["metadata"].get("namespace"), d["metadata"]["name"]) for d in documents if d["kind"] == "ServiceAccount"}
if len(accounts) != 1:
    sys.exit(f"expected one ServiceAccount, found {sorted(accounts)}")
namespace, account = next(iter(accounts))
roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in documents if d["kind"] in ("ClusterRole", "Role")}
rules = []
for binding in documents:
    if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
        continue
    if not any(s.get("kind") == "ServiceAccount" and s.get("name") == account and s.get("namespace") == namespace
               for s in binding.get("subjects") or []):
        continue
    ref = binding["roleRef"]
    scope = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
    role = roles.get((ref["kind"], scope if ref["kind"] == "Role" else None, ref["name"]))
    if role is None:
        sys.exit(f"{binding['kind']} {binding['metadata']['name']} refers to {ref['kind']} {ref['name']}, not in the chart")
    for rule in role.get("rules") or []:
        rule = dict(rule)
        if scope is not None:
            rule["namespace"] = scope
        rules.append(rule)
print(json.dumps(rules))
"""#
}
