import Foundation
import SignetKube
import Yams

/// Reads the API server and credentials of a kubeconfig file (Kubernetes "Organize Cluster
/// Access Using kubeconfig Files"): the current context (or `context`), its cluster's `server`
/// and `certificate-authority` or `certificate-authority-data`, and its user's `token` or
/// `tokenFile`. Client certificates and exec or auth-provider plugins are refused, naming what
/// is missing, rather than connecting without credentials.
enum Kubeconfig {
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    static func configuration(path: String, context chosen: String? = nil) throws -> KubernetesClientConfiguration {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Problem(description: "cannot read \(path)") }
        guard let document = try Yams.load(yaml: text) as? [String: Any] else { throw Problem(description: "\(path) is not a kubeconfig") }
        func named(_ list: String, _ name: String?, _ field: String) throws -> [String: Any] {
            let entries = document[list] as? [[String: Any]] ?? []
            guard let name, let entry = entries.first(where: { $0["name"] as? String == name })?[field] as? [String: Any] else {
                throw Problem(description: "\(path): no \(field) \(name.map { "\"\($0)\"" } ?? "named") in \(list)")
            }
            return entry
        }
        let contextName = chosen ?? document["current-context"] as? String
        let context = try named("contexts", contextName, "context")
        let cluster = try named("clusters", context["cluster"] as? String, "cluster")
        let user = try named("users", context["user"] as? String, "user")
        guard let server = cluster["server"] as? String, server.hasPrefix("https://") || server.hasPrefix("http://") else {
            throw Problem(description: "\(path): the cluster has no server URL")
        }
        let directory = (path as NSString).deletingLastPathComponent
        func resolve(_ file: String) -> String { file.hasPrefix("/") ? file : (directory as NSString).appendingPathComponent(file) }
        var configuration = KubernetesClientConfiguration(serverURL: server, namespace: context["namespace"] as? String)
        if let file = cluster["certificate-authority"] as? String {
            configuration.caFile = resolve(file)
        } else if let data = cluster["certificate-authority-data"] as? String {
            guard let pem = Data(base64Encoded: data) else { throw Problem(description: "\(path): certificate-authority-data is not base64") }
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("signet-kubeconfig-ca-\(UUID().uuidString).pem")
            guard FileManager.default.createFile(atPath: file.path, contents: pem, attributes: [.posixPermissions: 0o600]) else {
                throw Problem(description: "cannot write the kubeconfig's CA to \(file.path)")
            }
            configuration.caFile = file.path
        }
        if let token = user["token"] as? String {
            configuration.bearerToken = token
        } else if let file = user["tokenFile"] as? String {
            configuration.tokenFile = resolve(file)
        } else {
            let kinds = ["client-certificate", "client-certificate-data", "exec", "auth-provider", "username"].filter { user[$0] != nil }
            throw Problem(description: "\(path): user \"\(context["user"] ?? "")\" has no token or tokenFile"
                + (kinds.isEmpty ? "" : " (\(kinds.joined(separator: ", ")) is not supported: use a service-account token)"))
        }
        return configuration
    }
}
