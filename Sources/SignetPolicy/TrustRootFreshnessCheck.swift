/// The check, made at each decision, that a Sigstore trust root delivered through TUF may still
/// be used: that the TUF metadata it was verified under has not expired without a refresh
/// replacing it (TUF specification sections 5.4.4, 5.5.6 and 5.6.5, freeze-attack protection
/// carried past the update; see `TrustedRootFreshness` in SignetTrustRoot).
///
/// A compiled authority carries it with its trust root; the ``PolicyEvaluator`` asks it before
/// any cached verdict or verifier, so a stale root fails the authority closed at once, naming
/// the repository, the expired metadata and the refresh error, and passes again as soon as a
/// refresh succeeds. Roots not delivered through TUF carry none.
public struct TrustRootFreshnessCheck: Sendable {
    private let check: @Sendable () -> String?

    /// - Parameter staleReason: nil while the root may be used, otherwise why not.
    public init(_ staleReason: @escaping @Sendable () -> String?) {
        check = staleReason
    }

    /// Nil while the root may be used; otherwise why not, for the deny.
    public var staleReason: String? { check() }
}
