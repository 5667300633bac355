import ArgumentParser
import Foundation
import SignetContinuous

/// The alert flags of `serve` and `scan`: where alerts go (webhook URLs read from a file, such
/// as a mounted Secret, so the URLs' tokens never show in a command line) and how they are written.
struct AlertOptions: ParsableArguments {
    @Option(name: .long, help: "File of webhook URLs, one per line (a mounted Secret); alerts are POSTed to each. (env: SIGNET_ALERT_WEBHOOK_URLS_FILE, default: no alerts)")
    var alertWebhookUrlsFile: String?

    @Option(name: .long, help: "Alert body: json or slack (Slack-compatible incoming webhooks). (env: SIGNET_ALERT_FORMAT, default json)")
    var alertFormat: String?

    @Option(name: .long, help: "The same alert is sent once within this window. (env: SIGNET_ALERT_DEDUP_WINDOW, default 10m)")
    var alertDedupWindow: String?

    @Option(name: .long, help: "PEM CA bundle for HTTPS alert receivers. (env: SIGNET_ALERT_CA_BUNDLE, default: the system store)")
    var alertCABundle: String?

    /// The configuration, or `nil` when no URL file is named.
    func resolve() throws -> AlertConfiguration? {
        guard let file = EnvironmentOption.string(alertWebhookUrlsFile, "SIGNET_ALERT_WEBHOOK_URLS_FILE") else { return nil }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ValidationError("--alert-webhook-urls-file: cannot read \(file)")
        }
        let urls = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        for url in urls where !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
            throw ValidationError("--alert-webhook-urls-file: \(file) holds a line that is not an http(s) URL")
        }
        guard !urls.isEmpty else { throw ValidationError("--alert-webhook-urls-file: \(file) holds no URL") }
        var configuration = AlertConfiguration(urls: urls)
        let formatText = EnvironmentOption.string(alertFormat, "SIGNET_ALERT_FORMAT", default: "json")!
        guard let format = AlertFormat(rawValue: formatText) else { throw ValidationError("--alert-format must be json or slack, not \(formatText)") }
        configuration.format = format
        configuration.deduplicationWindow = try EnvironmentOption.duration(
            alertDedupWindow, "SIGNET_ALERT_DEDUP_WINDOW", default: configuration.deduplicationWindow)
        configuration.caBundlePath = EnvironmentOption.string(alertCABundle, "SIGNET_ALERT_CA_BUNDLE")
        return configuration
    }
}
