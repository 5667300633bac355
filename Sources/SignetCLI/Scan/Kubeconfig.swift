import CSignetSystem
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
        // Every user signet scan accepts carries a token or a client certificate (below): over
        // plain HTTP the token would go to whoever is on the path.
        guard server.hasPrefix("https://") else {
            throw Problem(description: "\(path): the cluster's server \(server) is plain HTTP: signet scan sends credentials over HTTPS only")
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

    /// Holds a kubeconfig's inline `…-data` field (base64 PEM) in a file that lives in memory
    /// only (`memfd_create`, never on a disk, gone when the process ends however it ends) and
    /// returns the path the TLS library opens it by (`/proc/self/fd/N`), since it reads
    /// certificates and keys from files at each connection. Written to a temporary directory
    /// instead, a client key stayed there after the scan, for whoever next shared the directory
    /// and the user (a CI runner's next job).
    static func inline(_ base64: String, field: String, path: String) throws -> String {
        guard let pem = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Problem(description: "\(path): \(field) is not base64")
        }
        let descriptor = signet_memfd_create("signet-kubeconfig-" + field)
        guard descriptor >= 0 else {
            throw Problem(description: "cannot hold the kubeconfig's \(field) in memory: \(String(cString: strerror(errno)))")
        }
        var written = 0
        let complete = pem.withUnsafeBytes { bytes -> Bool in
            while written < bytes.count {
                let count = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                written += count
            }
            return true
        }
        guard complete else {
            close(descriptor)
            throw Problem(description: "cannot hold the kubeconfig's \(field) in memory: \(String(cString: strerror(errno)))")
        }
        // The descriptor stays open for the life of the process: the client opens the path again
        // for each connection.
        return "/proc/self/fd/\(descriptor)"
    }
}
