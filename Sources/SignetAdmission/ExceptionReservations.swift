import NIOConcurrencyHelpers
import SignetPolicy

/// The PolicyExceptions this replica admitted that its policy source may not count yet, held
/// against their namespace's budget for ``lifetime``.
///
/// The webhook judges a new exception by the policy source's last view of the namespace, which
/// lags the API server by a watch event and a compilation (up to a second or two). Without
/// these reservations, exceptions created at the same moment were each judged against the view
/// without the others: a burst of a thousand creates of a megabyte each was admitted whole,
/// stored in etcd, and kept by every replica's reflector. With them, one replica admits at
/// most its namespace's budget in any burst; the API server spreads requests over replicas, so
/// a burst across all of them is bounded by the budget times the replicas.
///
/// Past ``maximumEntries`` held, a namespace still gets room while it holds fewer than its share
/// (``maximumEntries`` over the namespaces holding any, itself counted), so those with exception
/// rights in many namespaces cannot fill the table and refuse everyone else's exceptions for the
/// lifetime (16 namespaces of 256 each filled it before); the table never holds more than twice
/// ``maximumEntries``. A namespace refused grows again as its reservations lapse. Dry runs
/// reserve nothing.
public final class ExceptionReservations: Sendable {
    /// How long an admitted exception is held against its namespace without the source.
    public let lifetime: Duration
    static let maximumEntries = 4096

    private struct Reservation {
        var name: String
        var bytes: Int
        var until: ContinuousClock.Instant
    }

    private let state = NIOLockedValueBox<(byNamespace: [String: [Reservation]], count: Int)>(([:], 0))

    public init(lifetime: Duration = .seconds(30)) {
        self.lifetime = lifetime
    }

    /// `usage` (the source's view of `namespace`) with the exceptions admitted here that still
    /// hold: one the view does not count is added, one it counts at fewer bytes (an UPDATE that
    /// grew it) counts at the admitted size. Nil when the table is full and `namespace` holds
    /// its share of it.
    func usage(_ usage: ExemptionLimits.NamespaceUsage, namespace: String, now: ContinuousClock.Instant = .now) -> ExemptionLimits.NamespaceUsage? {
        state.withLockedValue { state -> ExemptionLimits.NamespaceUsage? in
            Self.prune(&state, namespace: namespace, now: now)
            var usage = usage
            for reservation in state.byNamespace[namespace] ?? [] {
                if let counted = usage.sizes[reservation.name] {
                    guard counted < reservation.bytes else { continue }
                    usage.remove(reservation.name)
                }
                usage.add(reservation.name, bytes: reservation.bytes)
            }
            guard state.count >= Self.maximumEntries else { return usage }
            let held = state.byNamespace[namespace]?.count ?? 0
            let holders = state.byNamespace.count + (held == 0 ? 1 : 0)
            return held < Self.maximumEntries / holders && state.count < 2 * Self.maximumEntries ? usage : nil
        }
    }

    /// Holds `bytes` for the exception `name` of `namespace`, admitted at `now`.
    func reserve(namespace: String, name: String, bytes: Int, now: ContinuousClock.Instant = .now) {
        state.withLockedValue { state in
            var held = state.byNamespace[namespace] ?? []
            if let index = held.firstIndex(where: { $0.name == name }) {
                held[index] = Reservation(name: name, bytes: max(bytes, held[index].bytes), until: now + lifetime)
            } else {
                held.append(Reservation(name: name, bytes: bytes, until: now + lifetime))
                state.count += 1
            }
            state.byNamespace[namespace] = held
        }
    }

    /// Drops the lapsed reservations of `namespace`, and of every namespace when the table is full.
    private static func prune(_ state: inout (byNamespace: [String: [Reservation]], count: Int), namespace: String, now: ContinuousClock.Instant) {
        for key in state.count >= maximumEntries ? Array(state.byNamespace.keys) : [namespace] {
            guard let held = state.byNamespace[key] else { continue }
            let kept = held.filter { $0.until > now }
            state.count -= held.count - kept.count
            state.byNamespace[key] = kept.isEmpty ? nil : kept
        }
    }
}
