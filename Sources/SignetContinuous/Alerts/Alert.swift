import Foundation
import SignetRegistry

/// One thing operators are told about: a deny at admission, an emergency-bypass use, an
/// untrusted image found running, or a running image that could not be verified for longer
/// than continuous verification's grace. ``deduplicationKey`` says which alerts are the same
/// event for the ``AlertDispatcher``'s deduplication window.
public struct Alert: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case deny
        case bypass
        case untrustedRunning = "untrusted-running"
        /// A running image admission would deny now only because its verification cannot finish
        /// (a registry, log or CRL that does not answer), for longer than a passing outage.
        case unverifiableRunning = "unverifiable-running"
    }

    public var kind: Kind
    /// One line for people.
    public var summary: String
    public var namespace: String?
    /// `Kind/name` of the object (a Pod, a Deployment, ...).
    public var object: String?
    public var images: [String]
    public var policies: [String]
    public var reason: String
    /// RFC 3339.
    public var time: String
    /// The EmergencyBypass or PolicyException involved.
    public var exemption: String?
    /// Of an admission's alert: `ip:port` of the connection the review came on, and the RFC 2253
    /// subject of the client certificate it came with, when any.
    public var peer: String?
    public var clientCertificate: String?

    public init(
        kind: Kind, summary: String, namespace: String?, object: String?, images: [String], policies: [String] = [],
        reason: String, time: String, exemption: String? = nil, peer: String? = nil, clientCertificate: String? = nil
    ) {
        self.peer = peer
        self.clientCertificate = clientCertificate
        self.kind = kind
        self.summary = summary
        self.namespace = namespace
        self.object = object
        self.images = images
        self.policies = policies
        self.reason = reason
        self.time = time
        self.exemption = exemption
    }

    /// The most images (and policies) an alert names; the rest are counted in one last item.
    public static let maximumListItems = 20
    /// The longest text an alert carries, in Unicode scalars (a reason, a summary, an image).
    public static let maximumTextScalars = 4096

    /// The alert cut to what a receiver can use and a queue should hold: at most
    /// ``maximumListItems`` images and policies (the last one then `… and N more`), every text
    /// at most ``maximumTextScalars`` (with its note of how much was cut). Kubernetes limits neither the number of containers of a Pod nor
    /// the length of an image, only the request (3 MiB by default): a deny of a Pod of ten
    /// thousand containers would otherwise make an alert of megabytes, and a queue of them
    /// gigabytes.
    public func bounded() -> Alert {
        // A cut text or list stays within the bound with its note, so cutting again changes nothing.
        func clipped(_ text: String) -> String {
            let count = text.unicodeScalars.count
            guard count > Self.maximumTextScalars else { return text }
            let keep = Self.maximumTextScalars - 64
            var kept = String.UnicodeScalarView()
            kept.append(contentsOf: text.unicodeScalars.prefix(keep))
            return String(kept) + "… (\(count - keep) more characters)"
        }
        func clipped(_ items: [String]) -> [String] {
            guard items.count > Self.maximumListItems else { return items.map(clipped) }
            let keep = Self.maximumListItems - 1
            return items.prefix(keep).map(clipped) + ["… and \(items.count - keep) more"]
        }
        return Alert(
            kind: kind, summary: clipped(summary), namespace: namespace.map(clipped), object: object.map(clipped),
            images: clipped(images), policies: clipped(policies), reason: clipped(reason), time: clipped(time),
            exemption: exemption.map(clipped), peer: peer.map(clipped), clientCertificate: clientCertificate.map(clipped))
    }

    /// Alerts with the same key within the window are sent once: kind, namespace, object,
    /// images and exemption (not the time or the wording). An untrusted (or unverifiable)
    /// running image is the same finding whichever Pods run it, so its object is not part of
    /// the key.
    public var deduplicationKey: String {
        let object = kind == .untrustedRunning || kind == .unverifiableRunning ? "" : self.object ?? ""
        return [kind.rawValue, namespace ?? "", object, images.joined(separator: ","), exemption ?? ""].joined(separator: "|")
    }
}

/// How an alert is written in the POST body.
public enum AlertFormat: String, Sendable, Hashable, CaseIterable {
    /// The ``Alert`` as a JSON object (`kind`, `summary`, `namespace`, `object`, `images`,
    /// `policies`, `reason`, `time`, `exemption`, `peer`, `clientCertificate`), with
    /// `source: "signet"`.
    case json
    /// A Slack incoming-webhook message (`{"text": …}`, Slack "Sending messages using incoming
    /// webhooks"), which Mattermost, Rocket.Chat and Teams' Slack-compatible endpoints accept.
    case slack

    /// The request body for `alert`.
    public func body(_ alert: Alert) -> [UInt8] {
        let object: [String: Any]
        switch self {
        case .json:
            var fields: [String: Any] = [
                "source": "signet", "kind": alert.kind.rawValue, "summary": alert.summary, "images": alert.images,
                "policies": alert.policies, "reason": alert.reason, "time": alert.time,
            ]
            fields["namespace"] = alert.namespace
            fields["object"] = alert.object
            fields["exemption"] = alert.exemption
            fields["peer"] = alert.peer
            fields["clientCertificate"] = alert.clientCertificate
            object = fields
        case .slack:
            let escape = Self.slackEscaped
            // Every line that carries what a Pod's author wrote (object, namespace and user names in
            // the summary; images in the reason) is a code span: a receiver makes a bare URL or
            // host name outside one a link (one the author chose).
            // A backtick in the text would end the span early.
            func code(_ text: String) -> String {
                let escaped = escape(text).replacingOccurrences(of: "`", with: "'")
                return escaped.isEmpty ? "" : "`\(escaped)`"
            }
            var lines = [":rotating_light: *signet*: \(code(alert.summary))"]
            if !alert.images.isEmpty { lines.append("images: " + alert.images.map(code).joined(separator: ", ")) }
            lines.append("reason: \(code(alert.reason))")
            object = ["text": lines.joined(separator: "\n")]
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }

    /// `text` with the three characters Slack's mrkdwn gives meaning escaped (`&` as `&amp;`,
    /// `<` as `&lt;`, `>` as `&gt;`; Slack "Formatting text for app surfaces", escaping text),
    /// so that an image name, a reason or an object name (which anyone who can create a Pod
    /// writes) cannot become a link, a user or channel mention, or `<!channel>`. The receivers
    /// that take the same message read Markdown and `@` mentions (Mattermost, Rocket.Chat): a
    /// zero-width space after `]` and `@` keeps `[text](url)` from hiding a link and
    /// `@channel` or `@all` from notifying everyone, and reads the same. Control characters,
    /// line breaks and bidirectional marks are written as escapes (``UntrustedText/escaped(_:)``):
    /// an object name or a user name with a line break would otherwise add a line of its own to
    /// the message (`reason: approved`).
    /// Read one Unicode scalar at a time (``UntrustedText/replacingScalars(_:_:)``): `<`
    /// followed by a combining mark is one Swift `Character` that is not equal to `<`.
    static func slackEscaped(_ text: String) -> String {
        UntrustedText.replacingScalars(text) { scalar in
            switch scalar {
            case "&": "&amp;"
            case "<": "&lt;"
            case ">": "&gt;"
            case "]": "]\u{200B}"
            case "@": "@\u{200B}"
            default: UntrustedText.isShown(scalar) ? nil : UntrustedText.visibleEscape(scalar)
            }
        }
    }
}
