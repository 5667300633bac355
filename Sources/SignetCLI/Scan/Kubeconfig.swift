import Foundation
import SignetKube
import SignetPolicy
import Yams

/// Reads the API server and credentials of a kubeconfig file (Kubernetes "Organize Cluster
/// Access Using kubeconfig Files"): the current context (or `context`), its cluster's `server`
/// and `certificate-authority` or `certificate-authority-data`, and its user's `token` or
/// `tokenFile` and `client-certificate`/`client-key` (or their `-data` forms: X.509 client
/// certificate authentication). Exec and auth-provider plugins and basic authentication are
/// refused, naming what is missing, rather than connecting without credentials.
enum Kubeconfig {
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    static func configuration(path: String, context chosen: String? = nil) throws -> KubernetesClientConfiguration {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Problem(description: "cannot read \(path)") }
        guard let node = try Parser(yaml: text).singleRoot() else { throw Problem(description: "\(path) is not a kubeconfig") }
        do {
            try YAMLExpansion.check(node)
        } catch {
            throw Problem(description: "\(path): \(error)")
        }
        guard let document = Constructor.default.any(from: node) as? [String: Any] else { throw Problem(description: "\(path) is not a kubeconfig") }
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
            configuration.caFile = try inline(data, field: "certificate-authority-data", path: path)
        }
        let userName = context["user"] as? String ?? ""
        if let token = user["token"] as? String {
            configuration.bearerToken = token
        } else if let file = user["tokenFile"] as? String {
            configuration.tokenFile = resolve(file)
        }
        let certificate = try (user["client-certificate"] as? String).map(resolve)
            ?? (user["client-certificate-data"] as? String).map { try inline($0, field: "client-certificate-data", path: path) }
        let key = try (user["client-key"] as? String).map(resolve)
            ?? (user["client-key-data"] as? String).map { try inline($0, field: "client-key-data", path: path) }
        switch (certificate, key) {
        case (let certificate?, let key?):
            configuration.clientCertificateFile = certificate
            configuration.clientKeyFile = key
        case (.some, nil):
            throw Problem(description: "\(path): user \"\(userName)\" has a client certificate but no client-key or client-key-data")
        case (nil, .some):
            throw Problem(description: "\(path): user \"\(userName)\" has a client key but no client-certificate or client-certificate-data")
        case (nil, nil):
            break
        }
        guard configuration.bearerToken == nil, configuration.tokenFile == nil, configuration.clientCertificateFile == nil else {
            return configuration
        }
        if user["exec"] != nil {
            throw Problem(description: "\(path): user \"\(userName)\" gets its credentials from an exec plugin, which signet scan does not run"
                + " (it would run a command named in a file): use a user with a token, tokenFile or client certificate")
        }
        let kinds = ["auth-provider", "username"].filter { user[$0] != nil }
        throw Problem(description: "\(path): user \"\(userName)\" has no token, tokenFile or client certificate"
            + (kinds.isEmpty ? "" : " (\(kinds.joined(separator: ", ")) is not supported)"))
    }

    /// Writes a kubeconfig's inline `…-data` field (base64 PEM) to a file of its own, since the
    /// TLS library reads certificates and keys from files: in a directory made for it that
    /// only this user may read (`mkdtemp`, mode 0700), as a private key deserves.
    static func inline(_ base64: String, field: String, path: String) throws -> String {
        guard let pem = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Problem(description: "\(path): \(field) is not base64")
        }
        var template = Array((FileManager.default.temporaryDirectory.path + "/signet-kubeconfig-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw Problem(description: "cannot make a private directory for the kubeconfig's \(field)") }
        let file = String(cString: made) + "/" + field + ".pem"
        guard FileManager.default.createFile(atPath: file, contents: pem, attributes: [.posixPermissions: 0o600]) else {
            throw Problem(description: "cannot write the kubeconfig's \(field) to \(file)")
        }
        return file
    }
}
