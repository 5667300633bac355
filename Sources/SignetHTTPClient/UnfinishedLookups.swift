/// Host name lookups under way, those that ended transfers left running, and the ceiling on them.
///
/// curl resolves a host name on a thread of its own (its threaded resolver, over the system's
/// `getaddrinfo`). A transfer ended while its lookup runs (its deadline came, it was cancelled,
/// or curl's connect timeout fired) leaves that thread to finish alone (``CurlTransfer`` sets
/// `CURLOPT_QUICK_EXIT`, so the driver thread does not wait for it), and nothing tells when it
/// does: a name under a domain whose name server never answers keeps it for the system
/// resolver's whole timeout (its `timeout` × `attempts`, per name server and per search domain).
/// Anyone who writes an image name chooses the host, so without a ceiling, reviews naming new
/// such hosts would add threads until the process reaches its pids limit.
///
/// A lookup holds a place from when curl starts it until it is seen to finish (curl's lookup time
/// moves) or its transfer ends; one its transfer left running holds its place for ``allowance``
/// more, an estimate of how long its thread may go on. While ``limit`` places are held, or
/// ``groupLimit`` by one group (the namespace of the admission a transfer serves, so one
/// namespace cannot take every place), new lookups are refused: the transfer fails at once,
/// naming why. Toward a group's share, a lookup under way counts only once it has run for
/// ``slowLookup`` (a healthy one takes milliseconds): a burst of new images in one namespace is
/// not refused for lookups that are about to finish, while all of them count toward ``limit``.
/// Young or not, a group starts a lookup only while the places it holds are fewer than half of
/// the places still free, so each group leaves at least twice what it holds to the others, and a
/// group holding none gets a place while any is free. Without it, a namespace whose Pods named
/// hosts under a domain that never answers took three quarters of the places within a second,
/// a second namespace the rest, and every namespace's lookups were refused for the allowance;
/// now each namespace that does so takes about a third of what is free, so it takes about ten
/// of them to fill 64 places. Names already resolved (curl's DNS cache) and IP addresses need
/// no lookup and are unaffected. Used by the driver thread alone.
final class UnfinishedLookups {
    /// How many places may be held at once, and by one group.
    let limit: Int
    let groupLimit: Int
    /// How long a lookup left running keeps its place after its transfer ended.
    let allowance: Duration
    /// How long a lookup under way runs before it counts toward its group's share.
    static let slowLookup: Duration = .seconds(1)
    /// Lookups under way, by transfer, with their group and when they started.
    private var running: [ObjectIdentifier: (transfer: CurlTransfer, group: String, started: ContinuousClock.Instant)] = [:]
    /// Lookups left running: when each place is given back, and its group; oldest first.
    private var left: [(release: ContinuousClock.Instant, group: String)] = []

    init(limit: Int, allowance: Duration) {
        self.limit = limit
        self.groupLimit = max(min(limit, 4), limit / 4)
        self.allowance = allowance
    }

    /// The places held now, in all and by `group` (its lookups under way counted once they are
    /// slow, or all of them with `young`).
    func held(group: String? = nil, young: Bool = false, now: ContinuousClock.Instant = .now) -> Int {
        left.removeAll { $0.release <= now }
        guard let group else { return running.count + left.count }
        return running.values.count { $0.group == group && (young || now - $0.started >= Self.slowLookup) } + left.count { $0.group == group }
    }

    /// Why a new lookup for `group` may not start; nil when it may.
    func refusal(group: String, now: ContinuousClock.Instant = .now) -> String? {
        let all = held(now: now)
        if all >= limit { return "\(all) host name lookups are running or were left running by ended requests" }
        let own = held(group: group, now: now)
        if own >= groupLimit {
            return "\(own) host name lookups for namespace \"\(group)\" have run for over a second or were left running by ended requests (its share is \(groupLimit))"
        }
        let burst = held(group: group, young: true, now: now)
        let free = limit - all
        if 2 * burst >= free {
            return "\(burst) host name lookups for namespace \"\(group)\" are running or were left running by ended requests, and \(free) of the \(limit) places are free (one namespace holds fewer than half of the places left free, so the others keep some)"
        }
        return nil
    }

    /// `transfer` started a lookup.
    func start(_ transfer: CurlTransfer, group: String, now: ContinuousClock.Instant = .now) {
        running[ObjectIdentifier(transfer)] = (transfer, group, now)
    }

    /// The transfers whose lookup is under way.
    var resolving: [CurlTransfer] { running.values.map(\.transfer) }

    /// `transfer`'s lookup finished.
    func finish(_ transfer: CurlTransfer) {
        running.removeValue(forKey: ObjectIdentifier(transfer))
    }

    /// `transfer` ended while its lookup ran: the lookup keeps its place for the allowance.
    func leave(_ transfer: CurlTransfer, now: ContinuousClock.Instant = .now) {
        guard let entry = running.removeValue(forKey: ObjectIdentifier(transfer)) else { return }
        left.append((now + allowance, entry.group))
    }
}
