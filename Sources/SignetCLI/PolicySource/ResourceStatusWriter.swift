import Foundation
import Logging
import SignetKube
import SignetPolicy

/// Keeps the `status` of signet resources true (Kubernetes API conventions, "Spec and Status";
/// written through the `status` subresource with a JSON merge patch, RFC 7386):
///
/// - `PolicyException`: `state` `Active`, `Expired` or `Refused` (beyond the maximum window
///   after its creation), `validUntil`, `message`;
/// - `EmergencyBypass`: `state` `Active`, `Expired` or `Refused` (beyond the maximum window),
///   `expiresAt`, `message`;
/// - `ClusterImagePolicy`: `state` `Ready` (the message adds a warning for each Notation trust
///   policy statement that does not check who signed, ``NotationStatementWarning``), or `Invalid`
///   while a key it names cannot be read (the authority fails closed; the message names the key);
/// - any of them that does not compile: `state` `Invalid` with the reason.
///
/// A status is patched when the one the watch shows differs from it in a field signet writes (a
/// status someone else wrote, or one lost with the object's re-creation, is put right within an
/// interval), or, for an object the watch has not shown yet, from the one last written. When the
/// service account may not patch status (403), writing stops with one warning.
actor ResourceStatusWriter {
    private let client: KubernetesClient
    private let exemptions: ExemptionConfiguration
    private let logger: Logger
    private var written: [String: [String: String]] = [:]
    private var forbidden = false

    init(client: KubernetesClient, exemptions: ExemptionConfiguration, logger: Logger) {
        self.client = client
        self.exemptions = exemptions
        self.logger = logger
    }

    /// The status each object should have at `now`, by `Kind key`.
    static func desiredStatuses(_ set: PolicySet, rejected: [String: String], exemptions: ExemptionConfiguration, now: Date)
        -> [String: (resource: KubernetesResource, name: String, namespace: String?, status: [String: String])] {
        var result: [String: (KubernetesResource, String, String?, [String: String])] = [:]
        for policy in set.policies {
            let unresolved = policy.authorities.compactMap { authority in authority.unresolvedReason.map { "authority \"\(authority.name)\": \($0)" } }
            // At most three, each cut: a status is read by people, and a trust policy may hold
            // many statements.
            let all = policy.notationStatementWarnings
            var warnings = all.prefix(3).map { "warning: authority \"\($0.authority)\": " + String($0.message.prefix(400)) }
            if all.count > 3 { warnings.append("and \(all.count - 3) more such statements (signet's log names them)") }
            result["ClusterImagePolicy \(policy.name)"] = (
                .clusterImagePolicies, policy.name, nil,
                unresolved.isEmpty
                    ? ["state": "Ready", "message": (["in force"] + warnings).joined(separator: "; ")]
                    : ["state": "Invalid", "message": unresolved.joined(separator: "; ")])
        }
        for exception in set.exceptions {
            let until = KubernetesTime.format(exception.validUntil)
            let window = exemptions.maximumExceptionWindow
            let state: String
            let message: String
            if now >= exception.validUntil {
                (state, message) = ("Expired", "expired at \(until); no longer applies")
            } else if exception.exceedsWindow(window, now: now) {
                (state, message) = ("Refused", "validUntil is more than the maximum exception window (\(SignetResourceValidator.describe(window))) after creation; not applied")
            } else {
                (state, message) = ("Active", "exempts matching workloads until \(until)")
            }
            result["PolicyException \(exception.qualifiedName)"] = (.policyExceptions, exception.name, exception.namespace, [
                "state": state, "validUntil": until, "message": message,
            ])
        }
        for bypass in set.bypasses {
            let until = KubernetesTime.format(bypass.expiresAt)
            let state: String
            let message: String
            if now >= bypass.expiresAt {
                (state, message) = ("Expired", "expired at \(until); no longer applies")
            } else if !bypass.isActive(at: now, maximumWindow: exemptions.maximumBypassWindow) {
                (state, message) = ("Refused", "expiresAt is more than the maximum bypass window (\(SignetResourceValidator.describe(exemptions.maximumBypassWindow))) after creation; not applied")
            } else {
                (state, message) = ("Active", "bypasses verification until \(until)")
            }
            result["EmergencyBypass \(bypass.name)"] = (.emergencyBypasses, bypass.name, nil, ["state": state, "expiresAt": until, "message": message])
        }
        for (label, reason) in rejected {
            let parts = label.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let resource: KubernetesResource
            switch parts[0] {
            case "PolicyException": resource = .policyExceptions
            case "EmergencyBypass": resource = .emergencyBypasses
            default: resource = .clusterImagePolicies
            }
            let key = parts[1].split(separator: "/").map(String.init)
            let message = resource == .clusterImagePolicies ? "\(reason); until it is fixed, it denies every image its globs cover" : reason
            result[label] = (resource, key.last ?? parts[1], key.count == 2 ? key[0] : nil, ["state": "Invalid", "message": message])
        }
        return result
    }

    /// Whether `current` has every field of `status` with its value (fields signet does not
    /// write are not its concern: a merge patch would never remove them).
    static func holds(_ current: [String: String]?, _ status: [String: String]) -> Bool {
        guard let current else { return false }
        return status.allSatisfy { current[$0.key] == $0.value }
    }

    /// Writes each status that differs from what it should be. `observed` is the status each
    /// object has in the watch (by `Kind key`; absent for one the watch has not shown).
    func reconcile(_ set: PolicySet, rejected: [String: String], observed: [String: [String: String]] = [:]) async {
        guard !forbidden else { return }
        let desired = Self.desiredStatuses(set, rejected: rejected, exemptions: exemptions, now: exemptions.clock.now())
        // Forget objects that are gone, so a re-created one gets its status again.
        written = written.filter { desired[$0.key] != nil }
        for (label, entry) in desired.sorted(by: { $0.key < $1.key }) where !Self.holds(observed[label] ?? written[label], entry.status) {
            guard let patch = try? JSONSerialization.data(withJSONObject: ["status": entry.status], options: [.sortedKeys]) else { continue }
            do {
                try await client.patchStatus(entry.resource, name: entry.name, namespace: entry.namespace, patch: Array(patch))
                written[label] = entry.status
            } catch {
                if error.isForbidden {
                    forbidden = true
                    logger.warning("no permission to write the status of signet resources; status stays unwritten", metadata: ["error": "\(error)"])
                    return
                }
                // Deleted since the set was built: nothing to write.
                if error.isNotFound { continue }
                logger.warning("cannot write status", metadata: ["object": "\(label)", "error": "\(error)"])
            }
        }
    }
}
