import Foundation
import SignetPolicy

/// The ClusterImagePolicies, PolicyExceptions and EmergencyBypasses the admission evaluator
/// holds now, with the time left before each exemption expires and the `kubectl` commands that
/// would change them (the console itself writes nothing to the cluster). What `/policies` shows
/// and `/api/policies` returns.
public struct PoliciesInForce: Sendable, Codable {
    public struct Policy: Sendable, Codable {
        public var name: String
        public var mode: String
        public var images: [String]
        public var authorities: [String]
        public var requiredPasses: Int
        public var source: String
        public var commands: [String]
    }

    public struct Exception: Sendable, Codable {
        public var namespace: String
        public var name: String
        public var policies: [String]?
        public var images: [String]
        public var reason: String
        public var approvedBy: String
        public var validUntil: Date
        /// Seconds left at the time of the answer; negative once expired.
        public var secondsLeft: Double
        public var active: Bool
        public var commands: [String]
    }

    public struct Bypass: Sendable, Codable {
        public var name: String
        public var namespaces: [String]?
        public var images: [String]
        public var reason: String
        public var requestedBy: String
        public var expiresAt: Date
        public var secondsLeft: Double
        public var active: Bool
        public var commands: [String]
    }

    public var revision: String
    public var now: Date
    public var policies: [Policy]
    public var exceptions: [Exception]
    public var bypasses: [Bypass]

    public init(_ set: PolicySet, now: Date) {
        revision = set.revision
        self.now = now
        policies = set.policies.map { policy in
            Policy(
                name: policy.name, mode: policy.mode.rawValue, images: policy.images.map(\.pattern),
                authorities: policy.authorities.map { "\($0.name) (\($0.kind.fieldName))" }, requiredPasses: policy.requiredPasses,
                source: policy.source.description,
                commands: [
                    "kubectl get clusterimagepolicy \(policy.name) -o yaml",
                    "kubectl edit clusterimagepolicy \(policy.name)",
                ])
        }
        exceptions = set.exceptions.map { exception in
            let left = exception.validUntil.timeIntervalSince(now)
            let ns = exception.namespace
            return Exception(
                namespace: ns, name: exception.name, policies: exception.policies.map { $0.sorted() },
                images: exception.images.map(\.pattern), reason: exception.reason, approvedBy: exception.approvedBy,
                validUntil: exception.validUntil, secondsLeft: left, active: left > 0,
                commands: [
                    "kubectl -n \(ns) get policyexception \(exception.name) -o yaml",
                    "kubectl -n \(ns) patch policyexception \(exception.name) --type merge -p '{\"spec\":{\"validUntil\":\"\(Self.timestamp(now.addingTimeInterval(7 * 86_400)))\"}}'",
                    "kubectl -n \(ns) delete policyexception \(exception.name)",
                ])
        }
        bypasses = set.bypasses.map { bypass in
            let left = bypass.expiresAt.timeIntervalSince(now)
            return Bypass(
                name: bypass.name, namespaces: bypass.namespaces.map { $0.sorted() }, images: bypass.images.map(\.pattern),
                reason: bypass.reason, requestedBy: bypass.requestedBy, expiresAt: bypass.expiresAt, secondsLeft: left,
                active: left > 0,
                commands: [
                    "kubectl get emergencybypass \(bypass.name) -o yaml",
                    "kubectl delete emergencybypass \(bypass.name)",
                ])
        }
    }

    /// RFC 3339 in UTC, seconds precision.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// `3d 4h`, `2h 5m`, `40s`; `expired 5m ago` once past.
    static func timeLeft(_ seconds: Double) -> String {
        let past = seconds <= 0
        let total = Int(abs(seconds))
        let days = total / 86_400, hours = total % 86_400 / 3600, minutes = total % 3600 / 60
        let text = days > 0 ? "\(days)d \(hours)h" : hours > 0 ? "\(hours)h \(minutes)m" : minutes > 0 ? "\(minutes)m \(total % 60)s" : "\(total)s"
        return past ? "expired \(text) ago" : text
    }

    /// The Policies page's body.
    var html: String {
        func list(_ items: [String]) -> String { items.map { "<code>\(HTML.escape($0))</code>" }.joined(separator: "<br>") }
        func commands(_ items: [String]) -> String { "<pre class=\"commands\">" + items.map(HTML.escape).joined(separator: "\n") + "</pre>" }
        var out = "<p>Policy revision <code>\(HTML.escape(revision))</code> at \(HTML.escape(Self.timestamp(now))). "
        out += "The console changes nothing in the cluster: the commands below are for you to run with your own rights.</p>"
        out += "<h2 id=\"policies\">ClusterImagePolicies (\(policies.count))</h2>"
        out += HTML.table(["Name", "Mode", "Images", "Authorities", "Must pass", "Change it"], policies.map { policy in
            [HTML.escape(policy.name), HTML.badge(policy.mode.lowercased()), list(policy.images), list(policy.authorities),
             "\(policy.requiredPasses)", commands(policy.commands)]
        }, id: "policies-table", empty: "no ClusterImagePolicy: every image is decided by the no-match action")
        out += "<h2 id=\"exceptions\">PolicyExceptions (\(exceptions.count))</h2>"
        out += HTML.table(["Namespace/name", "Policies", "Images", "Why, approved by", "Valid until", "Time left", "Change it"], exceptions.map { exception in
            ["\(HTML.escape(exception.namespace))/\(HTML.escape(exception.name))", list(exception.policies ?? ["all"]),
             list(exception.images.isEmpty ? ["all"] : exception.images),
             "\(HTML.escape(exception.reason))<br><small>\(HTML.escape(exception.approvedBy))</small>",
             HTML.escape(Self.timestamp(exception.validUntil)),
             "<span class=\"\(exception.active ? "left" : "expired")\">\(HTML.escape(Self.timeLeft(exception.secondsLeft)))</span>",
             commands(exception.commands)]
        }, id: "exceptions-table", empty: "no PolicyException")
        out += "<h2 id=\"bypasses\">EmergencyBypasses (\(bypasses.count))</h2>"
        out += HTML.table(["Name", "Namespaces", "Images", "Why, requested by", "Expires", "Time left", "Change it"], bypasses.map { bypass in
            [HTML.escape(bypass.name), list(bypass.namespaces ?? ["all"]), list(bypass.images.isEmpty ? ["all"] : bypass.images),
             "\(HTML.escape(bypass.reason))<br><small>\(HTML.escape(bypass.requestedBy))</small>",
             HTML.escape(Self.timestamp(bypass.expiresAt)),
             "<span class=\"\(bypass.active ? "left" : "expired")\">\(HTML.escape(Self.timeLeft(bypass.secondsLeft)))</span>",
             commands(bypass.commands)]
        }, id: "bypasses-table", empty: "no EmergencyBypass")
        return out
    }
}
