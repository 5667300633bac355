import ArgumentParser
import Foundation
import SignetPolicy

/// `--now`, `--max-bypass-window` and `--max-exception-window` for the offline commands
/// (`review`, `lint`): the time the expiry rules are decided at, pinned for testing policies
/// ("will this exception still cover the rollout on Friday?"), and the windows the webhook enforces.
struct ExemptionOptions: ParsableArguments {
    @Option(name: .long, help: "Decide expiry as if it were this RFC 3339 time, for testing policies. (env: SIGNET_NOW, default: the current time)")
    var now: String?

    @Option(name: .long, help: "Longest time ahead an EmergencyBypass may expire. (env: SIGNET_MAX_BYPASS_WINDOW, default 24h)")
    var maxBypassWindow: String?

    @Option(name: .long, help: "Longest a PolicyException may run after its creation. (env: SIGNET_MAX_EXCEPTION_WINDOW, default 90d)")
    var maxExceptionWindow: String?

    func configuration() throws -> ExemptionConfiguration {
        var configuration = ExemptionConfiguration()
        if let text = EnvironmentOption.string(now, "SIGNET_NOW") {
            guard let instant = KubernetesTime.parse(text) else {
                throw ValidationError("--now \(text) is not an RFC 3339 time (for example 2026-12-01T00:00:00Z)")
            }
            configuration.clock = .fixed(instant)
        }
        configuration.maximumBypassWindow = try BypassWindow.resolve(maxBypassWindow, default: configuration.maximumBypassWindow)
        configuration.maximumExceptionWindow = try BypassWindow.resolve(
            maxExceptionWindow, environment: "SIGNET_MAX_EXCEPTION_WINDOW", flag: "--max-exception-window",
            default: configuration.maximumExceptionWindow)
        return configuration
    }
}

/// The flags `signet serve` and `signet scan` share for where policies come from and how
/// exemptions, credentials and the audit trail work. Each has an environment-variable twin.
struct ResourceOptions: ParsableArguments {
    @Option(name: .long, help: "Where policies come from: directory (--policy-dir, reloaded on change) or kubernetes (list and watch the signet.dev resources with the pod's service account). (env: SIGNET_POLICY_SOURCE, default directory)")
    var policySource: String?

    @Option(name: .long, help: "Longest an EmergencyBypass may run after its creation; longer ones are refused and never in force. (env: SIGNET_MAX_BYPASS_WINDOW, default 24h)")
    var maxBypassWindow: String?

    @Option(name: .long, help: "Longest a PolicyException may run after its creation; longer ones are refused and never in force. (env: SIGNET_MAX_EXCEPTION_WINDOW, default 90d)")
    var maxExceptionWindow: String?

    @Option(name: .long, help: "Image pull secrets every verification may use, as comma-separated namespace/name. (env: SIGNET_REGISTRY_SECRETS)")
    var registrySecrets: String?

    @Option(name: .long, help: "Audit trail: stdout (one JSON line per decision) or off. (env: SIGNET_AUDIT_LOG, default stdout)")
    var auditLog: String?

    @Option(name: .long, help: "Namespace label that opts a namespace out when set to \"true\". (env: SIGNET_NAMESPACE_OPT_OUT_LABEL, default signet.dev/exclude)")
    var namespaceOptOutLabel: String?

    @Option(name: .long, help: "Group whose members may add, change or remove the opt-out label on a Namespace (signet validates Namespace create and update); without it nobody may. (env: SIGNET_NAMESPACE_OPT_OUT_GROUP)")
    var namespaceOptOutGroup: String?

    @Option(name: .long, help: "Namespace labels that ClusterImagePolicy namespace selectors read, comma-separated: only --namespace-opt-out-group may add, change or remove them, as the opt-out label (the webhook configuration must send Namespaces carrying them). (env: SIGNET_GUARDED_NAMESPACE_LABELS)")
    var guardedNamespaceLabels: String?

    @Option(name: .long, help: "Users besides kube-controller-manager's controller loops (system:serviceaccount:kube-system:replicaset-controller, ..., system:kube-controller-manager) whose objects' owner references are followed, so an exception for a controller exempts what they make; comma-separated. (env: SIGNET_OWNER_REFERENCE_WRITERS)")
    var ownerReferenceWriters: String?

    /// `--policy-source`: where policies come from.
    private func source() throws -> ResourceSettings.Source {
        let sourceText = EnvironmentOption.string(policySource, "SIGNET_POLICY_SOURCE", default: "directory")!
        guard let source = ResourceSettings.Source(rawValue: sourceText) else {
            throw ValidationError("--policy-source must be directory or kubernetes, not \(sourceText)")
        }
        return source
    }

    /// The settings; `writeStatus` is whether the policy source keeps the resources' status
    /// (``StatusOptions``: `signet serve` only; a scan reads the resources and never writes them).
    func resolve(writeStatus: Bool) throws -> ResourceSettings {
        let source = try source()
        var exemptions = ExemptionConfiguration()
        exemptions.maximumBypassWindow = try BypassWindow.resolve(maxBypassWindow, default: exemptions.maximumBypassWindow)
        exemptions.maximumExceptionWindow = try BypassWindow.resolve(
            maxExceptionWindow, environment: "SIGNET_MAX_EXCEPTION_WINDOW", flag: "--max-exception-window",
            default: exemptions.maximumExceptionWindow)
        exemptions.namespaceOptOutLabel = EnvironmentOption.string(
            namespaceOptOutLabel, "SIGNET_NAMESPACE_OPT_OUT_LABEL", default: exemptions.namespaceOptOutLabel)!
        let auditText = EnvironmentOption.string(auditLog, "SIGNET_AUDIT_LOG", default: "stdout")!
        guard auditText == "stdout" || auditText == "off" else { throw ValidationError("--audit-log must be stdout or off") }
        let secrets = (EnvironmentOption.string(registrySecrets, "SIGNET_REGISTRY_SECRETS") ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for secret in secrets where secret.split(separator: "/").count != 2 {
            throw ValidationError("--registry-secrets entries are namespace/name, not \(secret)")
        }
        let optOutGroup = EnvironmentOption.string(namespaceOptOutGroup, "SIGNET_NAMESPACE_OPT_OUT_GROUP")
        // A group everyone (or every service account) is in would hand the opt-out to all.
        let everyone: Set<String> = ["system:authenticated", "system:unauthenticated", "system:serviceaccounts"]
        if let optOutGroup, optOutGroup.trimmingCharacters(in: .whitespaces).isEmpty || everyone.contains(optOutGroup)
            || optOutGroup.hasPrefix("system:serviceaccounts:") {
            throw ValidationError("--namespace-opt-out-group \"\(optOutGroup)\" would let everyone (or every service account) opt namespaces out; name a group of the people who approve opt-outs")
        }
        let guarded = (EnvironmentOption.string(guardedNamespaceLabels, "SIGNET_GUARDED_NAMESPACE_LABELS") ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for label in guarded where label.contains(where: { $0.isWhitespace || $0 == "=" }) || label.hasPrefix("/") || label.hasSuffix("/") {
            throw ValidationError("--guarded-namespace-labels: \"\(label)\" is not a label key (such as environment or example.com/tier)")
        }
        let writers = (EnvironmentOption.string(ownerReferenceWriters, "SIGNET_OWNER_REFERENCE_WRITERS") ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        // A group is not a user; and a name every workload could act as would vouch for anyone.
        for writer in writers where writer.hasPrefix("system:serviceaccounts") || writer == "system:anonymous" || everyone.contains(writer) {
            throw ValidationError("--owner-reference-writers: \"\(writer)\" is not the user one controller acts as; name each controller's user")
        }
        var settings = ResourceSettings(
            source: source, exemptions: exemptions, writeStatus: writeStatus, registrySecrets: secrets,
            auditToStandardOutput: auditText == "stdout", namespaceOptOutGroup: optOutGroup)
        settings.guardedNamespaceLabels = guarded
        settings.ownerReferenceWriters = writers
        return settings
    }
}

/// `signet serve --write-status`: whether the webhook keeps the status of the signet resources
/// (`PolicyException`, `EmergencyBypass`, `ClusterImagePolicy`) true, when its service account
/// may patch it. `signet scan` has no such flag: the status is the webhook's to keep, and a scan
/// CronJob that kept it too raced the webhook's writes (or, without the permission, logged a
/// refusal per resource at every run).
struct StatusOptions: ParsableArguments {
    @Option(name: .long, help: "Keep the status of signet resources up to date when permitted: true or false. (env: SIGNET_WRITE_STATUS, default true)")
    var writeStatus: String?

    func resolve() throws -> Bool {
        let text = EnvironmentOption.string(writeStatus, "SIGNET_WRITE_STATUS", default: "true")!
        guard let status = Bool(text) else { throw ValidationError("--write-status must be true or false") }
        return status
    }
}

/// The resolved ``ResourceOptions``.
struct ResourceSettings: Sendable {
    enum Source: String, Sendable {
        case directory
        case kubernetes
    }

    var source: Source
    var exemptions: ExemptionConfiguration
    var writeStatus: Bool
    var registrySecrets: [String]
    var auditToStandardOutput: Bool
    /// `--namespace-opt-out-group`: who may change the opt-out label; `nil`: nobody.
    var namespaceOptOutGroup: String?
    /// `--guarded-namespace-labels`: labels under the same rule as the opt-out label.
    var guardedNamespaceLabels: [String] = []
    /// `--owner-reference-writers` (``AdmissionResponder/ownerReferenceWriters``).
    var ownerReferenceWriters: [String] = []
}

/// `--max-bypass-window` / `SIGNET_MAX_BYPASS_WINDOW` and `--max-exception-window` /
/// `SIGNET_MAX_EXCEPTION_WINDOW`: a Go-style duration of whole hours, minutes and seconds
/// (`24h`, `90m`, `1h30m`, `2160h`), or days (`90d`), positive, with no upper cap.
enum BypassWindow {
    static func resolve(
        _ value: String?, environment: String = "SIGNET_MAX_BYPASS_WINDOW", flag: String = "--max-bypass-window",
        default fallback: Duration
    ) throws -> Duration {
        guard let text = EnvironmentOption.string(value, environment) else { return fallback }
        guard let window = parse(text), window > .zero else {
            throw ValidationError("\(flag) \(text) is not a positive duration (examples: 24h, 90m, 1h30m, 90d)")
        }
        return window
    }

    static func parse(_ text: String) -> Duration? {
        var remaining = Substring(text)
        var seconds: Int64 = 0
        guard !remaining.isEmpty else { return nil }
        while !remaining.isEmpty {
            let digits = remaining.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let value = Int64(digits), let unit = remaining.dropFirst(digits.count).first else { return nil }
            remaining = remaining.dropFirst(digits.count + 1)
            switch unit {
            case "d": seconds += value * 86400
            case "h": seconds += value * 3600
            case "m": seconds += value * 60
            case "s": seconds += value
            default: return nil
            }
        }
        return .seconds(seconds)
    }
}
