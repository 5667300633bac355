import Foundation

/// Where the Kubernetes API server is and how to authenticate to it.
///
/// ``inCluster(environment:serviceAccountDirectory:)`` follows client-go's `rest.InClusterConfig`
/// ("Accessing the Kubernetes API from a Pod"): the server is `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
/// the bearer token is the projected service-account token file (re-read before every request,
/// since bound tokens rotate), the CA is the service account's `ca.crt`, and the pod's namespace
/// is in `namespace`.
public struct KubernetesClientConfiguration: Sendable, Hashable {
    /// `https://host:port`, without a trailing slash.
    public var serverURL: String
    /// A file holding the bearer token, read before every request; `nil` sends ``bearerToken``.
    public var tokenFile: String?
    /// A bearer token given inline (a kubeconfig's `user.token`), sent when ``tokenFile`` is `nil`.
    public var bearerToken: String?
    /// PEM bundle of the CAs that sign the API server's certificate.
    public var caFile: String?
    /// A PEM client certificate and its PEM key (X.509 client certificate authentication, a
    /// kubeconfig's `client-certificate`/`client-key`); both or neither.
    public var clientCertificateFile: String?
    public var clientKeyFile: String?
    /// The namespace signet runs in, when known.
    public var namespace: String?
    /// Time to connect.
    public var connectTimeout: Duration = .seconds(10)
    /// Time one list, get or patch may take.
    public var requestTimeout: Duration = .seconds(30)
    /// `timeoutSeconds` asked of the server for each watch; the server ends the watch then and
    /// the client resumes it from the last resourceVersion.
    public var watchTimeout: Duration = .seconds(300)
    /// How long past ``watchTimeout`` the client waits for the server to end a watch before it
    /// takes the connection for hung (and the watch for broken, not ended).
    public var watchEndGrace: Duration = .seconds(30)
    /// Objects asked for per list page (`limit`; API concepts, "Retrieving large results sets in
    /// chunks"); the client follows `metadata.continue` until the list is complete.
    public var listPageSize: Int = 500
    /// The largest list page read, 8 MiB: a larger page is asked again with fewer objects, down
    /// to one (and the page size grows back after). A page is parsed into a tree several times
    /// its size, and 64 MiB pages of Pods whoever may create them filled with small fields took
    /// the leader past its memory limit at every relist.
    public var maximumResponseBytes: Int = 8 * 1024 * 1024
    /// The largest single object read (a get, a watch event, a list page of one object), 32
    /// MiB: etcd stores at most 1.5 MiB of an object by default, but its JSON can be six times
    /// that (the API server writes `<`, `>` and `&` as `\u003c`), and one Pod that no page could
    /// hold stopped every later list of Pods.
    public var maximumObjectBytes: Int = 32 * 1024 * 1024

    /// The default service-account mount.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    public init(serverURL: String, tokenFile: String? = nil, caFile: String? = nil, namespace: String? = nil) {
        self.serverURL = serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL
        self.tokenFile = tokenFile
        self.caFile = caFile
        self.namespace = namespace
    }

    /// The in-cluster configuration, or an error naming what is missing.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = Self.serviceAccountDirectory
    ) throws(KubernetesError) -> KubernetesClientConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw KubernetesError(.configuration, "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
        }
        let tokenFile = "\(serviceAccountDirectory)/token"
        let caFile = "\(serviceAccountDirectory)/ca.crt"
        guard FileManager.default.isReadableFile(atPath: tokenFile) else {
            throw KubernetesError(.configuration, "the service-account token \(tokenFile) is not readable")
        }
        guard FileManager.default.isReadableFile(atPath: caFile) else {
            throw KubernetesError(.configuration, "the service-account CA \(caFile) is not readable")
        }
        let namespace = (try? String(contentsOfFile: "\(serviceAccountDirectory)/namespace", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // An IPv6 address needs brackets in a URL (RFC 3986, section 3.2.2).
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return KubernetesClientConfiguration(
            serverURL: "https://\(hostPart):\(port)", tokenFile: tokenFile, caFile: caFile,
            namespace: namespace?.isEmpty == false ? namespace : nil)
    }
}
