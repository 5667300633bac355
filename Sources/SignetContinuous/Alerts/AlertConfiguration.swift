import Foundation

/// How alerts are delivered, with defaults that keep a flood or a dead receiver from costing
/// more than a bounded queue.
public struct AlertConfiguration: Sendable {
    /// Webhook URLs each alert is POSTed to.
    public var urls: [String]
    public var format: AlertFormat = .json
    /// Alerts with the same ``Alert/deduplicationKey`` within this window are sent once.
    public var deduplicationWindow: Duration = .seconds(600)
    /// Alerts waiting to be sent in each of the dispatcher's two queues (denials; bypass uses and
    /// untrusted images running); more are dropped (and counted) rather than wait.
    public var queueCapacity = 1000
    /// Deny alerts one namespace may queue at once (a burst), and then one per
    /// ``denyAlertInterval``: anyone who may create Pods in a namespace causes denials at will
    /// (dry runs are not alerted, denied creates are), and one namespace's flood must not fill
    /// the deny queue and the receiver's rate for every other namespace's denials.
    public var denyAlertBurstPerNamespace = 20
    public var denyAlertInterval: Duration = .seconds(30)
    /// Attempts per URL (the first included).
    public var maximumAttempts = 5
    /// Wait before the second attempt; doubled each time, up to ``maximumBackoff``.
    public var initialBackoff: Duration = .milliseconds(500)
    public var maximumBackoff: Duration = .seconds(30)
    /// Time one POST may take.
    public var requestTimeout: Duration = .seconds(10)
    /// PEM CA bundle for HTTPS receivers; the system store when `nil`.
    public var caBundlePath: String?

    public init(urls: [String]) {
        self.urls = urls
    }
}
