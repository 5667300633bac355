import ArgumentParser
import Foundation
import Logging
import SignetConsole
import SignetKube

/// Who may read `/metrics` on the webhook's port (`signet serve --metrics-auth`): `none`, anyone
/// who reaches the port (the metrics name policies, exceptions and bypasses); `kubernetes`, a
/// bearer token whose user the API server authenticates (TokenReview) and may `get` the
/// non-resource URL `/metrics` (SubjectAccessReview; RBAC `nonResourceURLs`), as Kubernetes
/// components guard their own metrics. Probes stay open.
struct MetricsAccessOptions: ParsableArguments {
    @Option(name: .customLong("metrics-auth"), help: "Who may read /metrics: none (anyone who reaches the port) or kubernetes (a bearer token whose user may get the non-resource URL /metrics, checked with a TokenReview and a SubjectAccessReview through the in-cluster API). (env: SIGNET_METRICS_AUTH, default none)")
    var metricsAuth: String?

    /// Whether scrapes need a reviewed token; a wrong value is a usage error.
    func required() throws -> Bool {
        let text = EnvironmentOption.string(metricsAuth, "SIGNET_METRICS_AUTH", default: "none")!
        switch text {
        case "none": return false
        case "kubernetes": return true
        default: throw ValidationError("--metrics-auth must be none or kubernetes, not \(text)")
        }
    }

    /// Reviews a scrape's token through the in-cluster API (the service account's token and CA,
    /// `SIGNET_SERVICE_ACCOUNT_DIR` to read them elsewhere); answers are kept 10 s per token.
    static func access(logger: Logger) throws -> @Sendable (_ token: String, _ peer: String) async -> ConsoleAccessDecision {
        let client: KubernetesClient
        do {
            client = try PolicySourceRuntime.makeKubernetesClient(label: "signet.metrics.kube")
        } catch {
            logger.critical("--metrics-auth kubernetes needs the Kubernetes API to review tokens", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        let authorizer = KubernetesConsoleAuthorizer(
            client: client, rules: ConsoleAccessRules(), cacheTTL: .seconds(10), cacheCapacity: 256, logger: Logger(label: "signet.metrics"))
        return { token, peer in await authorizer.decideScrape(token: token, path: "/metrics", peer: peer) }
    }
}
