import Metrics

/// A bounded LRU cache whose entries expire, with single flight: concurrent lookups of a key
/// that is being computed wait for that one computation instead of starting their own.
///
/// Errors are never stored (a registry that was down must be asked again); each stored value
/// carries its own time to live, so positive and negative verdicts can live for different
/// times. Expiry reads the injected ``VerificationClock``.
///
/// Metrics (swift-metrics), with the dimension `cache` set to ``name``:
/// `signet_verification_cache_hits_total`, `signet_verification_cache_misses_total`,
/// `signet_verification_cache_single_flight_waits_total`,
/// `signet_verification_cache_evictions_total` (capacity evictions; expired entries are
/// replaced, not counted).
actor ExpiringCache<Key: Hashable & Sendable, Value: Sendable> {
    private struct Entry {
        var value: Value
        var expires: ContinuousClock.Instant
    }

    nonisolated let name: String
    private let clock: VerificationClock
    private var store: LRUStore<Key, Entry>
    private var inFlight: [Key: Task<(Value, Duration), any Error>] = [:]
    private let hits: Counter
    private let misses: Counter
    private let waits: Counter
    private let evictions: Counter

    init(name: String, capacity: Int, clock: VerificationClock) {
        self.name = name
        self.clock = clock
        self.store = LRUStore(capacity: capacity)
        let dimensions = [("cache", name)]
        hits = Counter(label: "signet_verification_cache_hits_total", dimensions: dimensions)
        misses = Counter(label: "signet_verification_cache_misses_total", dimensions: dimensions)
        waits = Counter(label: "signet_verification_cache_single_flight_waits_total", dimensions: dimensions)
        evictions = Counter(label: "signet_verification_cache_evictions_total", dimensions: dimensions)
    }

    /// Entries stored (fresh or not yet noticed to be stale).
    var count: Int { store.count }

    /// The fresh value for `key`, or the result of `compute`, shared with every concurrent
    /// caller for the same key. `compute` returns the value and how long it may be kept (zero:
    /// not at all).
    func value(
        for key: Key, compute: @escaping @Sendable () async throws -> (Value, Duration)
    ) async throws -> (value: Value, outcome: CacheOutcome) {
        if let entry = store.value(for: key) {
            if clock.now < entry.expires {
                hits.increment()
                return (entry.value, .hit)
            }
            store.removeValue(for: key)
        }
        if let running = inFlight[key] {
            waits.increment()
            return (try await running.value.0, .joined)
        }
        misses.increment()
        let task = Task { try await compute() }
        inFlight[key] = task
        defer { inFlight[key] = nil }
        let (value, lifetime) = try await task.value
        if lifetime > .zero {
            let evicted = store.insert(Entry(value: value, expires: clock.now + lifetime), for: key)
            if evicted > 0 { evictions.increment(by: evicted) }
        }
        return (value, .miss)
    }

    /// Drops every entry whose key matches (for example the entries of a changed policy).
    @discardableResult
    func removeAll(where shouldRemove: @Sendable (Key) -> Bool) -> Int {
        store.removeAll(where: shouldRemove)
    }
}
