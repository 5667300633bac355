import Foundation
import Metrics
import NIOConcurrencyHelpers

/// The runbook metrics of continuous verification, with bounded labels (result; never an
/// image, pod or namespace). The verification totals themselves
/// (`signet_image_signature_verification_total{result,format,source="scan"}` and the success
/// total) are counted where each image is decided, by ``SignatureVerificationMetrics``.
///
/// - `signet_unsigned_images_detected_total`: running images found untrusted (`fail`), each
///   container of each Pod counted once per process;
/// - `signet_signature_policy_violations_total{result}`: running images a policy found at fault
///   (`fail`, or `warn` for `Warn`/`Audit` policies and uncovered images under `warn`);
/// - `signet_emergency_bypass_running_images`: running images admitted by an EmergencyBypass at
///   the last scan (gauge);
/// - `signet_unverifiable_running_images`: running images whose verification could not finish
///   (`error`: a registry, log or CRL that did not answer) at the last scan (gauge);
/// - `signet_last_full_scan_timestamp_seconds`: when the last scan of every Pod ended, or when
///   this replica began scanning (took the lead) until its first does (gauge; a value that
///   stops moving means scans stall, on a registry that hangs, say, or a first list of Pods
///   that never completes);
/// - `signet_pod_watch_last_contact_timestamp_seconds`: when the API server last answered the
///   scanning replica's list or watch of Pods (gauge; 0 before the first list and on a replica
///   that does not scan): Pods created while it does not move are not seen;
/// - `signet_unsigned_image_detection_seconds`: from a Pod's start (`status.startTime`) to the
///   scan that first found one of its images untrusted (histogram);
/// - `signet_scans_total` and `signet_scan_duration_seconds`.
public final class ScanMetrics: Sendable {
    public static let shared = ScanMetrics()
    /// The untrusted containers already counted (`container image`), by ``ImageFinding/podKey``;
    /// a Pod's entry goes with the Pod (``forgetPods(except:)``).
    private let detected = NIOLockedValueBox<[String: Set<String>]>([:])
    /// Whether a run started, and whether the latest one ended a full scan (``recordScanningStarted(now:)``).
    private let runs = NIOLockedValueBox((started: false, fullScanInRun: false))

    /// Counts one scan's findings; `now` is the time of the scan. `bypassedRunning` and
    /// `unverifiableRunning` are how many running images an emergency bypass admits now, and
    /// how many could not be verified, over every Pod (a scan of the new Pods alone sees only
    /// theirs); nil: those of `findings` (a scan of every Pod). `fullScan`: every Pod was decided.
    /// `runningGauges`: the counts cover every running Pod, and the gauges take them.
    public func record(
        _ findings: [ImageFinding], duration: Duration, now: Date, bypassedRunning: Int? = nil, unverifiableRunning: Int? = nil,
        fullScan: Bool = true, runningGauges: Bool = true
    ) {
        Counter(label: "signet_scans_total").increment()
        Timer(label: "signet_scan_duration_seconds").recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        // The runbook's total exists from the first scan on, at zero until something counts.
        let detections = Counter(label: "signet_unsigned_images_detected_total")
        detections.increment(by: 0)
        var bypassed = 0
        for finding in findings {
            if finding.result == .fail || finding.result == .warn {
                Counter(label: "signet_signature_policy_violations_total", dimensions: [("result", finding.result.rawValue)]).increment()
            }
            if finding.bypassed { bypassed += 1 }
            guard finding.result == .fail else { continue }
            let container = "\(finding.container) \(finding.image)"
            guard detected.withLockedValue({ $0[finding.podKey, default: []].insert(container).inserted }) else { continue }
            detections.increment()
            if let started = finding.podStartTime {
                Recorder(label: "signet_unsigned_image_detection_seconds").record(max(0, now.timeIntervalSince(started)))
            }
        }
        guard runningGauges else { return }
        Gauge(label: "signet_emergency_bypass_running_images").record(bypassedRunning ?? bypassed)
        Gauge(label: "signet_unverifiable_running_images").record(unverifiableRunning ?? findings.filter(\.isUnverifiable).count)
        if fullScan {
            Gauge(label: "signet_last_full_scan_timestamp_seconds").record(now.timeIntervalSince1970)
            runs.withLockedValue { $0.fullScanInRun = true }
        }
    }

    /// Sets the gauges of running images to 0: this process no longer scans (it lost the lead).
    public func clearRunningImageGauges() {
        Gauge(label: "signet_emergency_bypass_running_images").record(0)
        Gauge(label: "signet_unverifiable_running_images").record(0)
        recordPodWatchContact(nil)
    }

    /// This replica begins scanning at `now`: the stall clock starts, so a first list or scan
    /// that never ends is seen stalling (without a value, the alert had no series to read). A
    /// lead taken again after a run that ended no full scan keeps the clock where it was, so a
    /// leader that keeps losing the lead and never ends one shows a stall too.
    public func recordScanningStarted(now: Date) {
        let restart = runs.withLockedValue { runs in
            defer { runs = (started: true, fullScanInRun: false) }
            return !runs.started || runs.fullScanInRun
        }
        if restart { Gauge(label: "signet_last_full_scan_timestamp_seconds").record(now.timeIntervalSince1970) }
        recordPodWatchContact(nil)
    }

    /// When the API server last answered about Pods (nil: not yet, or not scanning).
    public func recordPodWatchContact(_ contact: Date?) {
        Gauge(label: "signet_pod_watch_last_contact_timestamp_seconds").record(contact?.timeIntervalSince1970 ?? 0)
    }

    /// Forgets the untrusted containers of every Pod but those of `running` (Pod keys).
    public func forgetPods(except running: Set<String>) {
        detected.withLockedValue { detected in detected = detected.filter { running.contains($0.key) } }
    }

    /// How many Pods have untrusted containers remembered (for tests of the bound).
    var rememberedPods: Int { detected.withLockedValue { $0.count } }
}
