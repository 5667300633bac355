import Foundation

/// `signet scan` (the built binary) against the Kubernetes API double holding one running Pod:
/// the namespace, the Pod and a service-account directory (token, namespace, CA) the scan reaches
/// the double with, as the chart's CronJob reaches the API server. For tests of what a scan
/// decides; the CronJob against the real API server is the end-to-end suite's.
public final class ScanHarness: @unchecked Sendable {
    // Immutable after init except through `stop()`.
    public let apiServer: KubernetesAPIServerDouble
    private let serviceAccount = TemporaryDirectory(prefix: "signet-scan-account")

    /// Starts the double with a Pod `web` in namespace `shop` running `image`.
    public static func start(podImage image: String) async throws -> ScanHarness {
        try ScanHarness(apiServer: try await KubernetesAPIServerDouble.start(), image: image)
    }

    private init(apiServer: KubernetesAPIServerDouble, image: String) throws {
        self.apiServer = apiServer
        try apiServer.apply("namespaces", Self.object(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}"#))
        try apiServer.apply("pods", Self.object(
            #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"shop","uid":"uid-web"},"#
                + #""spec":{"containers":[{"name":"app","image":"\#(image)"}]},"#
                + #""status":{"phase":"Running","startTime":"2026-12-01T00:00:00Z"}}"#))
        try serviceAccount.write("token", apiServer.token)
        try serviceAccount.write("namespace", "signet-system")
        try FileManager.default.copyItem(atPath: apiServer.pki.caFile, toPath: serviceAccount.file("ca.crt").path)
    }

    /// Runs `signet scan --output json` with `arguments` through the service account, with
    /// `environment` added to the variables that point it at the double.
    public func scan(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await TestProcess.run(TestPaths.signetBinary.path, ["scan", "--output", "json"] + arguments, environment: [
            "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(apiServer.port)",
            "SIGNET_SERVICE_ACCOUNT_DIR": serviceAccount.path, "KUBECONFIG": "",
        ].merging(environment) { $1 })
    }

    /// The `result` of each running image in a scan's JSON output (`pass`, `fail`, ...).
    public static func results(_ output: String) -> [String] {
        ((try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [[String: Any]] ?? []).compactMap { $0["result"] as? String }
    }

    public func stop() { apiServer.stop() }

    private static func object(_ json: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
    }
}
