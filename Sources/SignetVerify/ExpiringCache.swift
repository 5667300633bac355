import Metrics
import NIOConcurrencyHelpers
import SignetRegistry

/// A bounded LRU cache whose entries expire, with single flight: concurrent lookups of a key
/// that is being computed wait for that one computation instead of starting their own.
///
/// Errors are never stored (a registry that was down must be asked again); each stored value
/// carries its own time to live, so positive and negative verdicts can live for different
/// times. Expiry reads the injected ``VerificationClock``.
///
/// A lock-protected store, not an actor: a lookup that finds a fresh value returns on the
/// caller's thread without leaving it (an actor hop there and back cost more than the decision
/// it served), and ``cachedValue(for:)`` answers without suspending at all. The computation of
/// a miss runs in its own task, so it completes and is stored for the others even when the
/// caller that started it is cancelled; a cancelled caller stops waiting at once.
///
/// Values everyone may take and values kept for one caller (failures, see `sharesValue`) are
/// stored apart, the second in a quarter of the room: whoever may create pods can make signet
/// keep a failure per made-up digest, and those must push out each other, never the passes
/// every review of a running deployment is answered from.
///
/// Metrics (swift-metrics), with the dimension `cache` set to ``name``:
/// `signet_verification_cache_hits_total`, `signet_verification_cache_misses_total`,
/// `signet_verification_cache_single_flight_waits_total`,
/// `signet_verification_cache_evictions_total` (capacity evictions; expired entries are
/// replaced, not counted).
final class ExpiringCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry: Sendable {
        var value: Value
        var expires: ContinuousClock.Instant
        /// Whose credentials found a value not shared with others (see `sharesValue` of
        /// ``value(for:caller:dependsOnCaller:deadline:dependsOnDeadline:sharesValue:compute:)``);
        /// nil for a value everyone may take.
        var owner: RequestCredentials.Identity?

        /// Whether `caller` may take the value.
        func isFor(_ caller: @autoclosure () -> RequestCredentials.Identity) -> Bool {
            owner.map { $0 == caller() } ?? true
        }
    }

    private struct State: Sendable {
        /// Values everyone may take.
        var store: LRUStore<Key, Entry>
        /// Values kept for one caller.
        var owned: LRUStore<Key, Entry>
        var inFlight: [Key: Flight] = [:]

        /// The fresh entry for `key` `caller` may take; stale ones are dropped on the way.
        mutating func fresh(_ key: Key, for caller: () -> RequestCredentials.Identity, now: ContinuousClock.Instant) -> Entry? {
            if let entry = store.value(for: key) {
                if now < entry.expires { return entry }
                store.removeValue(for: key)
            }
            if let entry = owned.value(for: key) {
                if now < entry.expires { return entry.isFor(caller()) ? entry : nil }
                owned.removeValue(for: key)
            }
            return nil
        }
    }

    /// One computation under way and the callers waiting for it.
    ///
    /// `@unchecked Sendable`: every mutable field is read and written only under the cache's lock.
    private final class Flight: @unchecked Sendable {
        /// Whose credentials the computation runs with.
        let caller: RequestCredentials.Identity
        /// The deadline the computation runs under (its starter's), when it has one.
        let deadline: ContinuousClock.Instant?
        var waiters: [Int: CheckedContinuation<Value, any Error>] = [:]
        /// Callers cancelled before they started waiting.
        var cancelled: Set<Int> = []
        var nextWaiter = 0
        var result: Result<Value, any Error>?

        init(caller: RequestCredentials.Identity, deadline: ContinuousClock.Instant?) {
            self.caller = caller
            self.deadline = deadline
        }

        func makeWaiter() -> Int {
            defer { nextWaiter += 1 }
            return nextWaiter
        }
    }

    /// What a lookup found.
    private enum Lookup {
        case hit(Value)
        case join(Flight, waiter: Int)
        case start(Flight, waiter: Int)
    }

    let name: String
    private let clock: VerificationClock
    private let state: NIOLockedValueBox<State>
    private let hits: Counter
    private let misses: Counter
    private let waits: Counter
    private let evictions: Counter

    init(name: String, capacity: Int, clock: VerificationClock) {
        self.name = name
        self.clock = clock
        self.state = NIOLockedValueBox(State(store: LRUStore(capacity: capacity), owned: LRUStore(capacity: max(1, capacity / 4))))
        let dimensions = [("cache", name)]
        hits = Counter(label: "signet_verification_cache_hits_total", dimensions: dimensions)
        misses = Counter(label: "signet_verification_cache_misses_total", dimensions: dimensions)
        waits = Counter(label: "signet_verification_cache_single_flight_waits_total", dimensions: dimensions)
        evictions = Counter(label: "signet_verification_cache_evictions_total", dimensions: dimensions)
    }

    /// Entries stored (fresh or not yet noticed to be stale).
    var count: Int { state.withLockedValue { $0.store.count + $0.owned.count } }

    /// The fresh value for `key`, if one is stored for `caller`, without waiting and without
    /// counting a hit (a caller that uses it counts it with ``countHit()``). A stale entry is dropped.
    func cachedValue(for key: Key, caller: @autoclosure () -> RequestCredentials.Identity = .client) -> Value? {
        let now = clock.now
        return state.withLockedValue { state -> Value? in
            state.fresh(key, for: caller, now: now)?.value
        }
    }

    /// Counts a hit answered through ``cachedValue(for:)``.
    func countHit() { hits.increment() }

    /// The fresh value for `key`, or the result of `compute`, shared with every concurrent
    /// caller for the same key. `compute` returns the value and how long it may be kept (zero:
    /// not at all).
    ///
    /// `caller` is whose registry credentials `compute` runs with. A caller that joined the
    /// computation of another caller, which then failed with an error `dependsOnCaller` accepts
    /// (a registry that refused those credentials), runs its own `compute` instead of taking
    /// that error; callers with the same credentials share the failure.
    ///
    /// `deadline` is the one `compute` runs under. A caller that joined a computation started
    /// under an earlier deadline, which then failed because that deadline passed
    /// (`dependsOnDeadline`), runs its own `compute` in the time it has left: whoever starts a
    /// computation with a short deadline (a review posted with `timeout=300ms`, again and again)
    /// must not make it fail for the callers that joined it.
    ///
    /// A value `sharesValue` refuses (a failed verification: a registry may answer "not found"
    /// to credentials that may not see a repository) is given, and kept, only for callers with
    /// the credentials that found it; others compute their own. Otherwise whoever names an
    /// image with credentials of their own could have everyone's reviews of it denied.
    func value(
        for key: Key, caller: RequestCredentials.Identity = .client,
        dependsOnCaller: @Sendable (any Error) -> Bool = { _ in false },
        deadline: ContinuousClock.Instant? = nil,
        dependsOnDeadline: @Sendable (any Error) -> Bool = { _ in false },
        sharesValue: @escaping @Sendable (Value) -> Bool = { _ in true },
        compute: @escaping @Sendable () async throws -> (Value, Duration)
    ) async throws -> (value: Value, outcome: CacheOutcome) {
        let now = clock.now
        let lookup = state.withLockedValue { state -> Lookup in
            if let entry = state.fresh(key, for: { caller }, now: now) { return .hit(entry.value) }
            if let running = state.inFlight[key] {
                return .join(running, waiter: running.makeWaiter())
            }
            let flight = Flight(caller: caller, deadline: deadline)
            state.inFlight[key] = flight
            return .start(flight, waiter: flight.makeWaiter())
        }
        switch lookup {
        case .hit(let value):
            hits.increment()
            return (value, .hit)
        case .join(let flight, let waiter):
            waits.increment()
            let value: Value
            do {
                value = try await wait(for: flight, as: waiter)
            } catch where (flight.caller != caller && dependsOnCaller(error)) || (Self.later(deadline, than: flight.deadline) && dependsOnDeadline(error)) {
                return try await computeAlone(compute, for: key, caller: caller, sharesValue: sharesValue)
            }
            if flight.caller != caller && !sharesValue(value) {
                return try await computeAlone(compute, for: key, caller: caller, sharesValue: sharesValue)
            }
            return (value, .joined)
        case .start(let flight, let waiter):
            misses.increment()
            Task { await self.run(compute, for: key, in: flight, sharesValue: sharesValue) }
            return (try await wait(for: flight, as: waiter), .miss)
        }
    }

    /// A caller's own computation, after the shared one could not serve it; stored for it (and
    /// for everyone, when shared).
    private func computeAlone(
        _ compute: @Sendable () async throws -> (Value, Duration), for key: Key, caller: RequestCredentials.Identity,
        sharesValue: @Sendable (Value) -> Bool
    ) async throws -> (value: Value, outcome: CacheOutcome) {
        misses.increment()
        let (value, lifetime) = try await compute()
        if lifetime > .zero {
            let now = clock.now
            let entry = Entry(value: value, expires: now + lifetime, owner: sharesValue(value) ? nil : caller)
            let evicted = state.withLockedValue { Self.store(entry, for: key, in: &$0, now: now) }
            if evicted > 0 { evictions.increment(by: evicted) }
        }
        return (value, .miss)
    }

    /// Stores `entry`, unless it is kept for one caller and a fresh entry everyone may take is
    /// there: one admission's failure does not push out what is true for all. The evicted count.
    private static func store(_ entry: Entry, for key: Key, in state: inout State, now: ContinuousClock.Instant) -> Int {
        guard entry.owner != nil else {
            state.owned.removeValue(for: key)
            return state.store.insert(entry, for: key)
        }
        if let present = state.store.value(for: key) {
            if now < present.expires { return 0 }
            state.store.removeValue(for: key)
        }
        return state.owned.insert(entry, for: key)
    }

    /// Whether `deadline` is later than `other` (both known).
    private static func later(_ deadline: ContinuousClock.Instant?, than other: ContinuousClock.Instant?) -> Bool {
        guard let deadline, let other else { return false }
        return other < deadline
    }

    /// Drops every entry whose key matches (for example the entries of a changed policy).
    @discardableResult
    func removeAll(where shouldRemove: @Sendable (Key) -> Bool) -> Int {
        state.withLockedValue { $0.store.removeAll(where: shouldRemove) + $0.owned.removeAll(where: shouldRemove) }
    }

    // MARK: - Single flight

    /// Computes, stores a value that may be kept, and hands the outcome to every waiter, in one
    /// step under the lock, so no lookup sees neither the flight nor the stored value.
    private func run(
        _ compute: @Sendable () async throws -> (Value, Duration), for key: Key, in flight: Flight, sharesValue: @Sendable (Value) -> Bool
    ) async {
        let outcome: Result<(Value, Duration), any Error>
        do {
            outcome = .success(try await compute())
        } catch {
            outcome = .failure(error)
        }
        let now = clock.now
        let (waiters, result, evicted) = state.withLockedValue { state in
            if state.inFlight[key] === flight { state.inFlight[key] = nil }
            var evicted = 0
            if case .success(let (value, lifetime)) = outcome, lifetime > .zero {
                let entry = Entry(value: value, expires: now + lifetime, owner: sharesValue(value) ? nil : flight.caller)
                evicted = Self.store(entry, for: key, in: &state, now: now)
            }
            let result = outcome.map(\.0)
            flight.result = result
            let waiters = Array(flight.waiters.values)
            flight.waiters = [:]
            flight.cancelled = []
            return (waiters, result, evicted)
        }
        if evicted > 0 { evictions.increment(by: evicted) }
        for waiter in waiters { waiter.resume(with: result) }
    }

    /// Waits for `flight`'s outcome; throws `CancellationError` as soon as the caller is cancelled
    /// (the computation goes on for the others).
    private func wait(for flight: Flight, as waiter: Int) async throws -> Value {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                let ready = state.withLockedValue { _ -> Result<Value, any Error>? in
                    if let result = flight.result { return result }
                    if flight.cancelled.remove(waiter) != nil { return .failure(CancellationError()) }
                    flight.waiters[waiter] = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let continuation = state.withLockedValue { _ -> CheckedContinuation<Value, any Error>? in
                if let continuation = flight.waiters.removeValue(forKey: waiter) { return continuation }
                if flight.result == nil { flight.cancelled.insert(waiter) }
                return nil
            }
            continuation?.resume(throwing: CancellationError())
        }
    }
}
