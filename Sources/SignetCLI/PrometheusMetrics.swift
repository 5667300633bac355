import CoreMetrics
import NIOConcurrencyHelpers
import Prometheus

/// The process's Prometheus registry, behind swift-metrics: every `Counter`, `Timer` and `Gauge`
/// in signet's modules lands here and is served at `GET /metrics` in the Prometheus text
/// exposition format (version 0.0.4).
enum PrometheusMetrics {
    static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped = NIOLockedValueBox<Bool>(false)

    /// Latency buckets from 100 µs to 10 s: warm admission decisions sit in the lowest ones,
    /// cold verifications against a registry in the upper ones.
    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    /// Buckets of `signet_admission_decision_duration_seconds`: 50 µs steps up to 1 ms, where warm
    /// decisions (cached verdicts, static authorities) fall, then the general buckets for decisions
    /// that wait for a registry.
    static let decisionBuckets: [Duration] =
        [.microseconds(50)] + stride(from: 100, through: 1000, by: 50).map { .microseconds($0) }
        + [.microseconds(1500), .milliseconds(2), .microseconds(2500), .milliseconds(5)]
        + latencyBuckets.filter { $0 > .milliseconds(5) }

    /// Installs the Prometheus backend once per process.
    static func bootstrap() {
        let first = bootstrapped.withLockedValue { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = latencyBuckets
        factory.durationHistogramBuckets["signet_admission_decision_duration_seconds"] = decisionBuckets
        // From a Pod's start to the scan that found its image untrusted: seconds to a day.
        factory.valueHistogramBuckets["signet_unsigned_image_detection_seconds"] = [
            1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400,
        ]
        // A scan of every running Pod: up to the whole admission deadline per batch.
        factory.durationHistogramBuckets["signet_scan_duration_seconds"] = latencyBuckets + [.seconds(30), .seconds(60), .seconds(300)]
        MetricsSystem.bootstrap(factory)
    }

    /// The current metrics as Prometheus text.
    static func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
