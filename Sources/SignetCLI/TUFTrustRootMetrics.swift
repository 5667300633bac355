import Foundation
import Metrics
import NIOConcurrencyHelpers
import SignetTrustRoot

/// Prometheus series for trust roots delivered through TUF (TUF specification section 5;
/// freeze-attack protection), with one bounded label, `repository`: `sigstore` for the Sigstore
/// root `--sigstore-tuf` keeps current, `policy` for every repository policies name
/// (`trustRoot.tuf`) taken together.
///
/// - `signet_tuf_metadata_expiry_timestamp_seconds`: when the metadata the roots in force were
///   verified under expires first (Unix seconds; 0 while no root from TUF is in force). Alert
///   on `signet_tuf_metadata_expiry_timestamp_seconds - time() < 86400` with failures rising.
/// - `signet_tuf_trust_roots_stale`: how many roots are past that expiry, so that verification
///   depending on them is denied (updated after every refresh attempt).
/// - `signet_tuf_refreshes_total{result="success"|"failure"}`: refresh attempts.
final class TUFTrustRootMetrics: Sendable {
    private let expiry: Gauge
    private let stale: Gauge
    private let successes: Counter
    private let failures: Counter
    private let tracked = NIOLockedValueBox<[ObjectIdentifier: TrustedRootFreshness]>([:])

    init(repository: String) {
        expiry = Gauge(label: "signet_tuf_metadata_expiry_timestamp_seconds", dimensions: [("repository", repository)])
        stale = Gauge(label: "signet_tuf_trust_roots_stale", dimensions: [("repository", repository)])
        successes = Counter(label: "signet_tuf_refreshes_total", dimensions: [("repository", repository), ("result", "success")])
        failures = Counter(label: "signet_tuf_refreshes_total", dimensions: [("repository", repository), ("result", "failure")])
        expiry.record(0)
        stale.record(0)
    }

    /// Counts `freshness` (one repository client's) in the series.
    func track(_ freshness: TrustedRootFreshness) {
        tracked.withLockedValue { $0[ObjectIdentifier(freshness)] = freshness }
        update()
    }

    /// Stops counting `freshness` (its client stopped: no policy names the repository any longer).
    func untrack(_ freshness: TrustedRootFreshness) {
        _ = tracked.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(freshness)) }
        update()
    }

    func refreshed() {
        successes.increment()
        update()
    }

    func failed() {
        failures.increment()
        update()
    }

    private func update() {
        let all = tracked.withLockedValue { Array($0.values) }
        let expiries = all.compactMap { $0.current.validUntil?.expires.timeIntervalSince1970 }
        expiry.record(expiries.min() ?? 0)
        stale.record(all.filter { $0.isStale() }.count)
    }
}
