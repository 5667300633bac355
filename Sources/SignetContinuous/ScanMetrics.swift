import Foundation
import Metrics
import Synchronization

/// The runbook metrics of continuous verification, with bounded labels (result, format, mode;
/// never an image, pod or namespace):
///
/// - `signet_image_signature_verification_total{result,format}`: running images decided, by
///   result (`pass`, `fail`, `warn`, `skip`) and signature format (`key`, `keyless`, `notation`,
///   `notaryV1`, `attestations`, `static`, or `none` when no policy covers the image);
/// - `signet_image_signature_verification_success_total`: those that passed;
/// - `signet_unsigned_images_detected_total`: running images found untrusted (`fail`), each
///   container of each Pod counted once per process;
/// - `signet_signature_policy_violations_total{result}`: running images a policy found at fault
///   (`fail`, or `warn` for `Warn`/`Audit` policies and uncovered images under `warn`);
/// - `signet_emergency_bypass_running_images`: running images admitted by an EmergencyBypass at
///   the last scan (gauge);
/// - `signet_unsigned_image_detection_seconds`: from a Pod's start (`status.startTime`) to the
///   scan that first found one of its images untrusted (histogram);
/// - `signet_scans_total` and `signet_scan_duration_seconds`.
public final class ScanMetrics: Sendable {
    public static let shared = ScanMetrics()
    /// `podUID/container` of the untrusted images already counted.
    private let detected = Mutex<Set<String>>([])
    static let formats: Set<String> = ["key", "keyless", "notation", "notaryV1", "attestations", "static"]

    /// Counts one scan's findings; `now` is the time of the scan.
    public func record(_ findings: [ImageFinding], duration: Duration, now: Date) {
        Counter(label: "signet_scans_total").increment()
        Timer(label: "signet_scan_duration_seconds").recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        // The runbook's totals exist from the first scan on, at zero until something counts.
        Counter(label: "signet_image_signature_verification_success_total").increment(by: Int64(findings.filter { $0.result == .pass }.count))
        let detections = Counter(label: "signet_unsigned_images_detected_total")
        detections.increment(by: 0)
        var bypassed = 0
        for finding in findings {
            let format = finding.formats.first.flatMap { Self.formats.contains($0) ? $0 : nil } ?? "none"
            Counter(label: "signet_image_signature_verification_total", dimensions: [
                ("result", finding.result.rawValue), ("format", format),
            ]).increment()
            if finding.result == .fail || finding.result == .warn {
                Counter(label: "signet_signature_policy_violations_total", dimensions: [("result", finding.result.rawValue)]).increment()
            }
            if finding.bypassed { bypassed += 1 }
            guard finding.result == .fail else { continue }
            let key = "\(finding.podUID ?? finding.namespace + "/" + finding.pod)/\(finding.container)"
            guard detected.withLock({ $0.insert(key).inserted }) else { continue }
            detections.increment()
            if let started = finding.podStartTime {
                Recorder(label: "signet_unsigned_image_detection_seconds").record(max(0, now.timeIntervalSince(started)))
            }
        }
        Gauge(label: "signet_emergency_bypass_running_images").record(bypassed)
    }
}
