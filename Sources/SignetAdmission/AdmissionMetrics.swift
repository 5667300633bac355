import Metrics
import NIOConcurrencyHelpers
import SignetPolicy

/// The metrics of ``AdmissionResponder``, made once and reused (a swift-metrics handler made per
/// review asked the Prometheus registry, under its lock, every time):
/// `signet_admission_reviews_total{decision,kind,dry_run}`,
/// `signet_admission_decision_duration_seconds`, `signet_admission_image_verdicts_total{outcome}`,
/// `signet_admission_bad_requests_total`, `signet_admission_uncovered_images_total{action}` (image
/// uses no policy covers, by the no-match action that decided them: `deny`, `warn` or `allow`),
/// `signet_namespace_opt_out_admissions_total{kind,dry_run}` (admissions the namespace opt-out
/// label let in unevaluated).
final class AdmissionMetrics: Sendable {
    /// The process's metrics (made on first use, after the metrics system is bootstrapped).
    static let shared = AdmissionMetrics()

    let decisionDuration = Metrics.Timer(label: "signet_admission_decision_duration_seconds")
    let badRequests = Counter(label: "signet_admission_bad_requests_total")
    private let verdicts: [ImageOutcome: Counter]
    private let uncovered: [NoMatchAction: Counter]
    private let reviews = NIOLockedValueBox<[ReviewKey: Counter]>([:])
    private let optOuts = NIOLockedValueBox<[ReviewKey: Counter]>([:])

    private struct ReviewKey: Hashable {
        var allowed: Bool
        var kind: String
        var dryRun: Bool
    }

    private init() {
        verdicts = Dictionary(uniqueKeysWithValues: ImageOutcome.allCases.map {
            ($0, Counter(label: "signet_admission_image_verdicts_total", dimensions: [("outcome", $0.rawValue)]))
        })
        uncovered = Dictionary(uniqueKeysWithValues: NoMatchAction.allCases.map {
            ($0, Counter(label: "signet_admission_uncovered_images_total", dimensions: [("action", $0.rawValue)]))
        })
    }

    /// The counter of image uses no policy covers, decided by `action`.
    func uncovered(_ action: NoMatchAction) -> Counter { uncovered[action]! }

    /// The counter of one image verdict outcome.
    func verdicts(_ outcome: ImageOutcome) -> Counter { verdicts[outcome]! }

    /// The kinds that keep their name in the `kind` label: those whose images signet reads and
    /// signet's own (group `signet.dev`). The kind comes from the review, which any client that
    /// reaches `/validate` writes, so every other value is counted as `other`: a label may take
    /// only a bounded set of values (Prometheus, "Instrumentation: use labels with care").
    static let kindsNamedInMetrics: Set<String> = WorkloadImages.knownKinds.union([
        "ClusterImagePolicy", "PolicyException", "EmergencyBypass",
    ])

    /// The `kind` label of a review of `kind`: its name when known, else `other`.
    static func kindLabel(_ kind: String) -> String {
        kindsNamedInMetrics.contains(kind) ? kind : "other"
    }

    /// Counts one admission the namespace opt-out label let in unevaluated.
    func countOptOut(kind: String, dryRun: Bool) {
        let key = ReviewKey(allowed: true, kind: Self.kindLabel(kind), dryRun: dryRun)
        let counter = optOuts.withLockedValue { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "signet_namespace_opt_out_admissions_total", dimensions: [
                ("kind", key.kind), ("dry_run", dryRun ? "true" : "false"),
            ])
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    /// Counts one decided review.
    func countReview(allowed: Bool, kind: String, dryRun: Bool) {
        let key = ReviewKey(allowed: allowed, kind: Self.kindLabel(kind), dryRun: dryRun)
        let counter = reviews.withLockedValue { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "signet_admission_reviews_total", dimensions: [
                ("decision", allowed ? "allowed" : "denied"), ("kind", key.kind), ("dry_run", dryRun ? "true" : "false"),
            ])
            counters[key] = counter
            return counter
        }
        counter.increment()
    }
}
