import Foundation
import NIOConcurrencyHelpers
import SignetTUF

/// Whether the Sigstore trusted root a TUF repository delivered may still be used: freeze-attack
/// protection carried past the update into every decision (TUF specification sections 5.3.10,
/// 5.4.4, 5.5.6 and 5.6.5 refuse expired root, timestamp, snapshot and targets metadata; a
/// target is only as trustworthy as the metadata that vouched for it).
///
/// The updater records each refresh here: a success sets ``State-swift.struct/validUntil`` to
/// the metadata that expires first, a failure records why. ``staleReason(at:)`` is asked at
/// each decision with the updater's clock; once that metadata has expired and no refresh has
/// replaced it (the mirror is blocked, frozen or serving old files), every verification that
/// depends on the root fails closed with the reason. Before the first TUF root is in force
/// (the embedded root of the Sigstore repository) there is no metadata to expire: that root is
/// used until a refresh (or a load of stored metadata that is there but unusable) has failed,
/// and is stale from then until one succeeds. It is as old as the build, and a mirror that
/// cannot be reached must not bring back, at every restart, keys and logs Sigstore has since
/// retired (a freeze turned into a rollback).
public final class TrustedRootFreshness: Sendable {
    /// What the refreshes so far established.
    public struct State: Sendable, Equatable {
        /// The metadata the root in force was verified under that expires first; nil while no
        /// root from TUF is in force.
        public var validUntil: MetadataExpiry?
        /// Why the last refresh failed; nil after a success.
        public var lastRefreshError: String?
        /// Refreshes that failed since the last success.
        public var consecutiveFailures = 0

        public init(validUntil: MetadataExpiry? = nil, lastRefreshError: String? = nil, consecutiveFailures: Int = 0) {
            self.validUntil = validUntil
            self.lastRefreshError = lastRefreshError
            self.consecutiveFailures = consecutiveFailures
        }
    }

    /// The repository the root comes from (metadata at `<mirrorURL>/`).
    public let mirrorURL: String
    private let now: @Sendable () -> Date
    private let state = NIOLockedValueBox(State())

    /// - Parameter now: the clock expiry is judged by (the updater's).
    public init(mirrorURL: String, now: @escaping @Sendable () -> Date) {
        self.mirrorURL = mirrorURL
        self.now = now
    }

    /// The state now.
    public var current: State { state.withLockedValue { $0 } }

    /// A refresh (or a load of the stored metadata) put a root verified under metadata valid
    /// until `validUntil` in force.
    public func recordSuccess(validUntil: MetadataExpiry) {
        state.withLockedValue { $0 = State(validUntil: validUntil, lastRefreshError: nil, consecutiveFailures: 0) }
    }

    /// A refresh failed; the root in force stays, as long as its metadata has not expired.
    public func recordFailure(_ error: TUFError) {
        state.withLockedValue { state in
            state.lastRefreshError = error.description
            state.consecutiveFailures += 1
        }
    }

    /// Whether the root in force is past the expiry of its metadata at `date` (the clock's time
    /// when nil).
    public func isStale(at date: Date? = nil) -> Bool {
        let state = current
        guard let validUntil = state.validUntil else { return state.consecutiveFailures > 0 }
        return validUntil.expires <= (date ?? now())
    }

    /// Nil while the root in force may be used; once its metadata has expired, why not:
    /// `Sigstore trust root is stale: TUF timestamp metadata of https://mirror expired at
    /// 2026-08-28T00:00:00Z; refresh failing: fetch failed: …`.
    public func staleReason(at date: Date? = nil) -> String? {
        let state = current
        guard let validUntil = state.validUntil else {
            guard state.consecutiveFailures > 0 else { return nil }
            // The Sigstore repository's root starts out as the one built into signet; a policy's
            // own repository has none until a refresh succeeds: the words fit both.
            return "Sigstore trust root is not current: no TUF refresh from \(mirrorURL) has succeeded since signet started, and no "
                + "root that did not come through it is trusted once one has failed\(state.lastRefreshError.map { "; refresh failing: \($0)" } ?? "")"
        }
        guard validUntil.expires <= (date ?? now()) else { return nil }
        let refresh = state.lastRefreshError.map { "refresh failing: \($0)" } ?? "no refresh has succeeded since"
        return "Sigstore trust root is stale: TUF \(validUntil.role) metadata (version \(validUntil.version)) of \(mirrorURL) "
            + "expired at \(validUntil.expires.formatted(.iso8601)); \(refresh)"
    }
}
