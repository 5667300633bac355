/// Host name lookups that transfers left unfinished, and the ceiling on them.
///
/// curl resolves a host name on a thread of its own (its threaded resolver, over the system's
/// `getaddrinfo`). A transfer ended while its lookup runs (its deadline came, or curl's connect
/// timeout) leaves that thread to finish alone (``CurlTransfer`` sets `CURLOPT_QUICK_EXIT`, so the
/// driver thread does not wait for it), and nothing tells when it does: a name under a domain
/// whose name server never answers keeps it for the system resolver's whole timeout (its
/// `timeout` × `attempts`, per name server and per search domain). Anyone who writes an image
/// name chooses the host, so without a ceiling, reviews naming new such hosts would add threads
/// until the process reaches its pids limit.
///
/// Each transfer ended mid-lookup holds a place here for ``allowance``, an estimate of how long
/// its thread may go on; while ``limit`` places are held, new lookups are refused (the transfer
/// fails at once, naming why) and names already resolved are unaffected (curl's DNS cache). The
/// threads left are then at most about ``limit`` times the resolver's timeout over the
/// allowance. Used by the driver thread alone.
final class UnfinishedLookups {
    /// How many lookups left unfinished may be held at once.
    let limit: Int
    /// How long each is held.
    let allowance: Duration
    /// When each held place is given back, oldest first.
    private var releases: [ContinuousClock.Instant] = []

    init(limit: Int, allowance: Duration) {
        self.limit = limit
        self.allowance = allowance
    }

    /// The lookups held now.
    func count(now: ContinuousClock.Instant = .now) -> Int {
        releases.removeAll { $0 <= now }
        return releases.count
    }

    /// Whether a new lookup may start.
    func admit(now: ContinuousClock.Instant = .now) -> Bool {
        count(now: now) < limit
    }

    /// A transfer ended while its lookup ran.
    func leave(now: ContinuousClock.Instant = .now) {
        releases.append(now + allowance)
    }
}
