import Foundation
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
/// (``maximumEntries`` over the callers holding any, then over the namespaces its caller holds,
/// each counting the asker), so those with exception rights in many namespaces cannot fill the
/// table and refuse everyone else's exceptions for the lifetime (16 namespaces of 256 each filled
/// it before). A namespace refused grows again as its reservations lapse. Dry runs reserve
/// nothing.
///
/// Reservations are kept per caller (``caller(of:)``), and a review counts only its caller's:
/// `/validate` answers whoever reaches the port when no client certificate is required (the
/// chart's default), and a review sent by anyone but the API server creates nothing, so its
/// reservation must not count against the exceptions the API server sends. Callers with a
/// verified client certificate share theirs (the API server's instances); others are told apart
/// by address (an IPv6 one by its /64), so a flood of made-up reviews holds room only against
/// itself. A review signet knows not to come from the API server (``AdmissionClient/fromAPIServer``:
/// a client CA, or `--reserved-peers`, is configured and the review came from elsewhere) has no
/// caller: it reserves nothing and is judged by the policy source's view alone, so such
/// reviews from many addresses cannot take callers' shares of the table from the API server. Once the table is full, a caller holds at most an equal share of twice
/// ``maximumEntries`` (all of it alone), and the table at most three times it: whatever one caller
/// made up, the API server finds room, and made-up namespaces shrink only their sender's share.
public final class ExceptionReservations: Sendable {
    /// How long an admitted exception is held against its namespace without the source.
    public let lifetime: Duration
    /// Reservations held before the shares apply (``defaultMaximumEntries``).
    let maximumEntries: Int
    public static let defaultMaximumEntries = 4096

    private struct Reservation {
        var name: String
        var bytes: Int
        var until: ContinuousClock.Instant
    }

    /// Whose reservations of which namespace.
    private struct Holder: Hashable {
        var caller: String
        var namespace: String
    }

    private let state = NIOLockedValueBox<(byHolder: [Holder: [Reservation]], count: Int)>(([:], 0))

    /// Who a review's reservations belong to: every caller with a verified client certificate
    /// alike, others by the address they connect from (the port left out; an IPv6 address by
    /// its /64, which one host commonly holds whole); "" when neither is known (a review decided
    /// inside signet); nil for a review known not to come from the API server, which holds none.
    public static func caller(of client: AdmissionClient) -> String? {
        guard client.fromAPIServer else { return nil }
        if client.certificateSubject != nil { return "" }
        guard let address = client.address, let colon = address.lastIndex(of: ":") else { return client.address ?? "" }
        let host = address[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]"), let network = ipv6Network(String(host.dropFirst().dropLast())) {
            return "peer " + network
        }
        return "peer " + host
    }

    /// The /64 of an IPv6 address (`fd00:0:0:1::/64`); an IPv4-mapped one's IPv4 address; nil
    /// when `text` is not an IPv6 address.
    static func ipv6Network(_ text: String) -> String? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        var bytes = withUnsafeBytes(of: &address) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        for index in 8..<16 { bytes[index] = 0 }
        var network = in6_addr()
        withUnsafeMutableBytes(of: &network) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &network, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/64"
    }

    public init(lifetime: Duration = .seconds(30), maximumEntries: Int = defaultMaximumEntries) {
        self.lifetime = lifetime
        self.maximumEntries = maximumEntries
    }

    /// `usage` (the source's view of `namespace`) with the exceptions admitted here for
    /// `caller` that still hold: one the view does not count is added, one it counts at fewer
    /// bytes (an UPDATE that grew it) counts at the admitted size. Nil when the table is full
    /// and the caller holds its share of it in `namespace`.
    func usage(
        _ usage: ExemptionLimits.NamespaceUsage, namespace: String, caller: String = "", now: ContinuousClock.Instant = .now
    ) -> ExemptionLimits.NamespaceUsage? {
        let holder = Holder(caller: caller, namespace: namespace)
        return state.withLockedValue { state -> ExemptionLimits.NamespaceUsage? in
            prune(&state, holder: holder, now: now)
            var usage = usage
            for reservation in state.byHolder[holder] ?? [] {
                if let counted = usage.sizes[reservation.name] {
                    guard counted < reservation.bytes else { continue }
                    usage.remove(reservation.name)
                }
                usage.add(reservation.name, bytes: reservation.bytes)
            }
            guard state.count >= maximumEntries else { return usage }
            guard state.count < 3 * maximumEntries else { return nil }
            // Full: each caller may hold an equal share of twice the table (all of it alone),
            // and each namespace it holds an equal share of the table's by-caller part, so
            // namespaces a caller makes up (each review names its own) widen only its own
            // share, and whatever one caller took, the third beyond leaves room for others.
            var heldByCaller: [String: Int] = [:]
            var namespacesOfCaller = 0
            for (key, held) in state.byHolder {
                heldByCaller[key.caller, default: 0] += held.count
                if key.caller == caller { namespacesOfCaller += 1 }
            }
            let callerHeld = heldByCaller[caller] ?? 0
            let callers = heldByCaller.count + (callerHeld == 0 ? 1 : 0)
            let held = state.byHolder[holder]?.count ?? 0
            let namespaceShare = max(1, maximumEntries / callers / (namespacesOfCaller + (held == 0 ? 1 : 0)))
            return callerHeld < max(1, 2 * maximumEntries / callers) && held < namespaceShare ? usage : nil
        }
    }

    /// Holds `bytes` for the exception `name` of `namespace`, admitted at `now` for `caller`.
    func reserve(namespace: String, name: String, bytes: Int, caller: String = "", now: ContinuousClock.Instant = .now) {
        let holder = Holder(caller: caller, namespace: namespace)
        state.withLockedValue { state in
            var held = state.byHolder[holder] ?? []
            if let index = held.firstIndex(where: { $0.name == name }) {
                held[index] = Reservation(name: name, bytes: max(bytes, held[index].bytes), until: now + lifetime)
            } else {
                held.append(Reservation(name: name, bytes: bytes, until: now + lifetime))
                state.count += 1
            }
            state.byHolder[holder] = held
        }
    }

    /// Drops the lapsed reservations of `holder`, and of every holder when the table is full.
    private func prune(_ state: inout (byHolder: [Holder: [Reservation]], count: Int), holder: Holder, now: ContinuousClock.Instant) {
        for key in state.count >= maximumEntries ? Array(state.byHolder.keys) : [holder] {
            guard let held = state.byHolder[key] else { continue }
            let kept = held.filter { $0.until > now }
            state.count -= held.count - kept.count
            state.byHolder[key] = kept.isEmpty ? nil : kept
        }
    }
}
