import ArgumentParser
import Foundation
import Logging
import SignetContinuous
import SignetKube
import SignetPolicy

/// The parts of `signet scan` that are not flags.
enum ScanSetup {
    static func noMatchAction(_ value: String?) throws -> NoMatchAction {
        let text = EnvironmentOption.string(value, "SIGNET_NO_MATCH_ACTION", default: "deny")!
        guard let action = NoMatchAction(rawValue: text) else {
            throw ValidationError("--no-match-action must be deny, warn or allow, not \(text)")
        }
        return action
    }

    /// The API client `signet scan` uses: a kubeconfig when one is named (`--kubeconfig`, else
    /// `$KUBECONFIG`), else the in-cluster service account, else `~/.kube/config` when it exists.
    static func kubernetesClient(kubeconfig flag: String?, context: String?) throws -> KubernetesClient {
        let environment = ProcessInfo.processInfo.environment
        let named = flag ?? environment["KUBECONFIG"].flatMap { $0.split(separator: ":").first.map(String.init) }
        if let named {
            return try KubernetesClient(configuration: try Kubeconfig.configuration(path: named, context: context), logger: Logger(label: "signet.kube"))
        }
        do {
            return try PolicySourceRuntime.makeKubernetesClient()
        } catch {
            let home = (environment["HOME"] ?? "") + "/.kube/config"
            guard environment["KUBERNETES_SERVICE_HOST"] == nil, FileManager.default.fileExists(atPath: home) else { throw error }
            return try KubernetesClient(configuration: try Kubeconfig.configuration(path: home, context: context), logger: Logger(label: "signet.kube"))
        }
    }

    /// `--key-secrets-source`: the mounted `directory` or the `api`.
    static func keySecrets(_ value: String?, directory: String) throws -> KeySecretsSource {
        switch EnvironmentOption.string(value, "SIGNET_KEY_SECRETS_SOURCE", default: "directory")! {
        case "directory": return .directory(directory)
        case "api": return .api
        case let other: throw ValidationError("--key-secrets-source must be directory or api, not \(other)")
        }
    }

    /// Waits (bounded by `limit`) until the responder decides with the first full policy set.
    static func waitUntilReady(_ readiness: ReadinessState, limit: Duration) async -> Bool {
        let end = ContinuousClock.now + limit
        while readiness.notReadyReason != nil {
            guard ContinuousClock.now < end else { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    /// The authority kinds of each policy of `policies`, by policy name.
    static func formats(of policies: PolicySet) -> @Sendable (String) -> [String] {
        var byName: [String: [String]] = [:]
        for policy in policies.policies { byName[policy.name] = policy.authorities.map(\.kind.fieldName) }
        let table = byName
        return { table[$0] ?? [] }
    }

    /// Sends one alert per untrusted finding (an image in a namespace, whatever its replicas)
    /// and waits until they are delivered or given up.
    static func sendAlerts(_ findings: [ImageFinding], settings: AlertConfiguration) async {
        do {
            try await AlertDispatcher.sendOnce(findings, configuration: settings)
        } catch {
            Logger(label: "signet.alerts").error("cannot start the alert client", metadata: ["error": "\(error)"])
        }
    }
}
