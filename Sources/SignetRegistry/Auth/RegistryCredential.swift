import Foundation

/// A user name and password (or personal access token) for one registry, sent as HTTP Basic
/// credentials (RFC 7617) or to the token endpoint of the Docker registry token authentication
/// specification.
public struct RegistryCredential: Sendable, Hashable, CustomStringConvertible {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// The value of an `Authorization: Basic` field (RFC 7617 section 2).
    var basicAuthorization: String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    /// Names the user, never the password.
    public var description: String { "RegistryCredential(username: \(username))" }
}

/// Credentials by registry, read from a docker `config.json` or a Kubernetes image pull secret.
///
/// Formats: docker's `config.json` (`{"auths": {"<registry>": {"auth": base64("user:pass")}}}` or
/// `"username"`/`"password"` fields), and Kubernetes secrets of type
/// `kubernetes.io/dockerconfigjson` whose `.dockerconfigjson` data key holds that same document
/// in base64. Registry keys are matched the way the kubelet matches a pull secret's keys
/// (`k8s.io/kubernetes/pkg/credentialprovider`, `BasicDockerKeyring`): `https://index.docker.io/v1/`,
/// `index.docker.io`, `registry-1.docker.io` and `docker.io` all mean Docker Hub, a scheme and a
/// leading `/v1/` or `/v2/` are ignored, and a key with a path (`registry.example.com/team-a`)
/// serves only the repositories whose path starts with it (`team-a/app`); where several keys of
/// one document serve a repository, the longest path wins. Stores merged keep their order
/// (``merging(_:)``): the first that has a key serving a repository answers for it, as the pod's
/// own pull secrets come before its service account's. Credential helpers (`credsStore`,
/// `credHelpers`) and identity tokens are not supported.
public struct RegistryCredentialStore: Sendable {
    /// By key (the normalised registry, then the key's path, `/team-a`, or nothing), one table
    /// per document merged, the one asked first first.
    private var layers: [[String: RegistryCredential]]
    /// Why some credentials that may belong here were not read, when some were not (in signet:
    /// the pod's namespace had spent its share of API reads for pull secrets). A registry that
    /// then refuses a request for want of credentials is reported with it, so the refusal does
    /// not read as a missing secret. Kept by ``merging(_:)``.
    public var withheld: String?

    /// No credentials: every registry is accessed anonymously.
    public init() {
        layers = []
    }

    /// Credentials given directly, keyed by registry as in an image reference.
    public init(_ credentials: [String: RegistryCredential]) {
        var entries: [String: RegistryCredential] = [:]
        for (registry, credential) in credentials {
            entries[Self.normalizedKey(registry)] = credential
        }
        layers = [entries]
    }

    /// Reads a docker `config.json` document.
    public init(dockerConfigJSON bytes: some Sequence<UInt8>) throws(RegistryError) {
        let document: DockerConfigDocument
        do {
            document = try JSONDecoder().decode(DockerConfigDocument.self, from: Data(bytes))
        } catch {
            throw RegistryError(.invalidConfiguration("docker config.json does not parse: \(error)"))
        }
        var entries: [String: RegistryCredential] = [:]
        for (key, entry) in document.auths ?? [:] {
            if let credential = try Self.credential(from: entry, key: key) {
                entries[Self.normalizedKey(key)] = credential
            }
        }
        layers = [entries]
    }

    /// Reads the data of a `kubernetes.io/dockerconfigjson` secret as the API returns it (each
    /// value base64-encoded); the `.dockerconfigjson` key holds a docker `config.json`.
    public init(kubernetesSecretData data: [String: String]) throws(RegistryError) {
        guard let encoded = data[".dockerconfigjson"] else {
            throw RegistryError(.invalidConfiguration("image pull secret has no .dockerconfigjson key"))
        }
        guard let decoded = Data(base64Encoded: encoded.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw RegistryError(.invalidConfiguration(".dockerconfigjson is not base64"))
        }
        try self.init(dockerConfigJSON: decoded)
    }

    /// The credential for `repository` (as in ``ImageReference/repository``) of `registry` (as
    /// in ``ImageReference/registry``), if any: from the first document merged that has a key
    /// serving it, the key with the longest path it starts with, or the registry's key without a
    /// path. Without `repository` (a server that is not a registry), only a key without a path.
    public func credential(for registry: String, repository: String? = nil) -> RegistryCredential? {
        let host = Self.normalizedRegistry(registry)
        for entries in layers {
            if let found = Self.credential(in: entries, host: host, repository: repository) { return found }
        }
        return nil
    }

    private static func credential(in entries: [String: RegistryCredential], host: String, repository: String?) -> RegistryCredential? {
        var found = entries[host]
        guard let repository else { return found }
        // Compared by bytes (a key is whatever a secret holds; a repository is ASCII).
        let target = Array(("/" + repository).utf8)
        let prefix = Array((host + "/").utf8)
        var longest = 0
        for (key, credential) in entries where key.utf8.count > host.utf8.count + longest && key.utf8.starts(with: prefix) {
            let path = key.utf8.dropFirst(host.utf8.count)
            if target.starts(with: path) {
                found = credential
                longest = path.count
            }
        }
        return found
    }

    /// The keys that have credentials, normalised: the registry, and the path when there is one.
    public var registries: [String] { Set(layers.flatMap(\.keys)).sorted() }

    /// This store with `other`'s documents asked first: `other` answers for every repository it
    /// has a key serving.
    public func merging(_ other: RegistryCredentialStore) -> RegistryCredentialStore {
        var result = self
        result.layers = other.layers + layers
        result.withheld = other.withheld ?? withheld
        return result
    }

    /// The registry of `key` (``normalizedRegistry(_:)``) and its path, as the kubelet reads a
    /// pull secret's key: `https://registry.example.com/v2/team-a` → `registry.example.com/team-a`;
    /// `https://index.docker.io/v1/` → `docker.io`.
    static func normalizedKey(_ key: String) -> String {
        var text = Substring(key.trimmingCharacters(in: .whitespaces))
        if let range = text.range(of: "://") { text = text[range.upperBound...] }
        guard let slash = text.firstIndex(of: "/") else { return normalizedRegistry(String(text)) }
        var path = text[slash...]
        for api in ["/v1", "/v2"] where path == api || path.hasPrefix(api + "/") { path = path.dropFirst(3) }
        let registry = normalizedRegistry(String(text[..<slash]))
        return path.isEmpty || path == "/" ? registry : registry + path
    }

    /// `https://index.docker.io/v1/` → `docker.io`; `https://ghcr.io/` → `ghcr.io`.
    static func normalizedRegistry(_ key: String) -> String {
        var text = Substring(key.trimmingCharacters(in: .whitespaces))
        if let range = text.range(of: "://") { text = text[range.upperBound...] }
        if let slash = text.firstIndex(of: "/") { text = text[..<slash] }
        let host = text.lowercased()
        return host == "registry.hub.docker.com" ? ImageReference.dockerHubRegistry : ImageReference.canonicalRegistry(host)
    }

    private static func credential(from entry: DockerConfigDocument.Entry, key: String) throws(RegistryError) -> RegistryCredential? {
        if let auth = entry.auth, !auth.isEmpty {
            guard let decoded = Data(base64Encoded: auth), let text = String(data: decoded, encoding: .utf8),
                  let colon = text.firstIndex(of: ":") else {
                throw RegistryError(.invalidConfiguration("the auth entry for \(key) is not base64 of user:password"))
            }
            return RegistryCredential(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        }
        if let username = entry.username, let password = entry.password {
            return RegistryCredential(username: username, password: password)
        }
        return nil
    }
}

/// The parts of docker's `config.json` that hold credentials.
private struct DockerConfigDocument: Decodable {
    struct Entry: Decodable {
        var auth: String?
        var username: String?
        var password: String?
    }

    var auths: [String: Entry]?
}
