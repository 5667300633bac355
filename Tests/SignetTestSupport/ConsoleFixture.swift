import Foundation

/// `signet serve --console-port` on 127.0.0.1 with a ``KubernetesAPIServerDouble`` reviewing
/// its tokens: three users (`reader` may read, `verifier` may read and verify, `outsider` may do
/// neither), each with its token, and signet's own service-account token for the reviews.
/// When helm is installed, the double allows signet only what the chart grants with the console on.
public final class ConsoleFixture: @unchecked Sendable {
    // Immutable after init.
    public let apiServer: KubernetesAPIServerDouble
    public let server: SignetServerFixture
    public let consolePort: Int
    private let serviceAccount: TemporaryDirectory

    public static let readerToken = "reader-token-0123456789"
    public static let verifierToken = "verifier-token-0123456789"
    public static let outsiderToken = "outsider-token-0123456789"

    /// `https://127.0.0.1:<console port>`.
    public var url: String { "https://127.0.0.1:\(consolePort)" }

    public static func start(policyDirectory: String, arguments: [String] = [], environment: [String: String] = [:]) async throws -> ConsoleFixture {
        let apiServer = try await KubernetesAPIServerDouble.start()
        return try await offThePool {
            try ConsoleFixture(apiServer: apiServer, policyDirectory: policyDirectory, arguments: arguments, environment: environment)
        }
    }

    public init(apiServer: KubernetesAPIServerDouble, policyDirectory: String, arguments: [String], environment: [String: String] = [:]) throws {
        self.apiServer = apiServer
        try apiServer.addUser(token: Self.readerToken, username: "reader", groups: ["team-readers"])
        try apiServer.addUser(token: Self.verifierToken, username: "verifier", groups: ["team-verifiers"])
        try apiServer.addUser(token: Self.outsiderToken, username: "outsider", groups: ["elsewhere"])
        try apiServer.grant("team-readers", verb: "get", group: "signet.dev", resource: "clusterimagepolicies")
        try apiServer.grant("verifier", verb: "get", group: "signet.dev", resource: "clusterimagepolicies")
        try apiServer.grant("team-verifiers", verb: "create", group: "console.signet.dev", resource: "verifications")
        // A verification in a namespace also takes the right to create Pods there (the double
        // does not scope grants by namespace; the end-to-end suite checks that on a real server).
        try apiServer.grant("team-verifiers", verb: "create", group: "", resource: "pods")
        if ChartRBAC.helm != nil { try apiServer.restrict(to: try ChartRBAC.serviceAccountRules(values: ["console.enabled=true"])) }
        serviceAccount = TemporaryDirectory(prefix: "signet-console-sa")
        try serviceAccount.write("token", apiServer.token)
        try serviceAccount.write("namespace", "signet-system")
        try FileManager.default.copyItem(atPath: apiServer.pki.caFile, toPath: serviceAccount.file("ca.crt").path)
        consolePort = FreePort.make()
        server = try SignetServerFixture(
            policyDirectory: policyDirectory, arguments: ["--console-port", "\(consolePort)"] + arguments,
            environment: [
                "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(apiServer.port)",
                "SIGNET_SERVICE_ACCOUNT_DIR": serviceAccount.path,
            ].merging(environment) { _, given in given })
        guard FreePort.waitUntilListening(consolePort) else {
            throw TestProcessError(message: "the console did not listen on \(consolePort): \(server.process.stderr)")
        }
    }

    /// A console request with curl: status, headers and body.
    public func request(
        _ path: String, token: String? = nil, method: String = "GET", body: String? = nil, contentType: String? = nil,
        cookie: String? = nil
    ) async throws -> (status: Int, headers: String, body: String) {
        var arguments = ["-sS", "-X", method, "-D", "-", "-o", "-", "--max-time", "60"]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if let cookie { arguments += ["-H", "Cookie: \(cookie)"] }
        if let contentType { arguments += ["-H", "Content-Type: \(contentType)"] }
        if let body { arguments += ["--data-binary", body] }
        let result = try await server.curl(arguments + [url + path])
        guard result.status == 0 else { throw TestProcessError(message: "curl \(path) failed: \(result.stderr)") }
        let split = result.stdout.components(separatedBy: "\r\n\r\n")
        let head = split.first ?? ""
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, head, split.dropFirst().joined(separator: "\r\n\r\n"))
    }

    public func stop() {
        server.stop()
        apiServer.stop()
    }
}
