import NIOConcurrencyHelpers
import Synchronization

/// What `GET /readyz` reports: ready once policies are loaded and a certificate is serving, and
/// not ready again as soon as a graceful shutdown starts (so endpoints stop routing to the pod).
final class ReadinessState: Sendable {
    private let flags = NIOLockedValueBox<(policiesLoaded: Bool, certificateServing: Bool, draining: Bool)>((false, false, false))
    /// ``policiesLoaded`` for the review path, read on every review by every event loop: a load,
    /// not a lock they would take in turn.
    private let loaded = Atomic<Bool>(false)

    func markPoliciesLoaded() {
        flags.withLockedValue { $0.policiesLoaded = true }
        loaded.store(true, ordering: .releasing)
    }
    func markCertificateServing() { flags.withLockedValue { $0.certificateServing = true } }
    func markDraining() { flags.withLockedValue { $0.draining = true } }

    /// Whether the policies have been loaded (reviews are decided only then).
    var policiesLoaded: Bool { loaded.load(ordering: .acquiring) }

    /// Nil when ready, otherwise the reason it is not.
    var notReadyReason: String? {
        flags.withLockedValue { flags in
            if flags.draining { return "shutting down" }
            if !flags.policiesLoaded { return "policies not loaded" }
            if !flags.certificateServing { return "no serving certificate" }
            return nil
        }
    }
}
