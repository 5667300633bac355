import Foundation

/// The aggregated Events of a ``KubernetesEventRecorder``, by key: how many occurrences each
/// stands for, the latest of them, the Event's name once created, and how many are written.
/// At most ``maximumKeys`` are kept; a new key beyond them replaces the one whose window
/// started first. Not locked: its owner locks it.
struct EventAggregates {
    static let maximumKeys = 1024

    struct Snapshot: Sendable {
        var latest: KubernetesEvent
        var count: Int
        /// When the window started: the first occurrence's time.
        var first: Date
        var name: String?
    }

    private struct Aggregate {
        var snapshot: Snapshot
        /// Occurrences already in the stored Event.
        var written = 0
        /// Whether a write of it waits in the queue.
        var queued = false
    }

    private var entries: [String: Aggregate] = [:]
    /// Windows that ended with occurrences not yet written, by key, oldest first: written with
    /// the key's next write. At most ``maximumKeys`` in all.
    private var ended: [String: [Snapshot]] = [:]
    private var endedCount = 0

    /// Counts `event` for `key`; true when it starts a window (its Event is to be created).
    mutating func add(_ event: KubernetesEvent, key: String, window: TimeInterval) -> Bool {
        if var entry = entries[key], event.time.timeIntervalSince(entry.snapshot.first) < window {
            entry.snapshot.count += 1
            if event.time >= entry.snapshot.latest.time { entry.snapshot.latest = event }
            entries[key] = entry
            return false
        }
        if let previous = entries[key], previous.snapshot.count > previous.written, endedCount < Self.maximumKeys {
            ended[key, default: []].append(previous.snapshot)
            endedCount += 1
        }
        if entries[key] == nil, entries.count >= Self.maximumKeys,
           let oldest = entries.min(by: { $0.value.snapshot.first < $1.value.snapshot.first })?.key {
            entries[oldest] = nil
        }
        entries[key] = Aggregate(snapshot: Snapshot(latest: event, count: 1, first: event.time), queued: true)
        return true
    }

    /// What to write for `key` now: the windows that ended unwritten, then the current one
    /// (nil when it was forgotten).
    mutating func snapshots(_ key: String) -> (ended: [Snapshot], current: Snapshot?) {
        let closed = ended.removeValue(forKey: key) ?? []
        endedCount -= closed.count
        entries[key]?.queued = false
        return (closed, entries[key]?.snapshot)
    }

    /// The keys whose Event exists and whose count grew since it was written, marked queued.
    mutating func takeGrown() -> [String] {
        var keys: [String] = []
        for (key, entry) in entries where !entry.queued && entry.snapshot.count > entry.written && (entry.snapshot.name != nil || entry.written == 0) {
            entries[key]?.queued = true
            keys.append(key)
        }
        return keys
    }

    /// The Event of `key`'s window starting at `window` was created as `name`.
    mutating func created(_ key: String, window: Date, name: String?) {
        guard entries[key]?.snapshot.first == window else { return }
        entries[key]?.snapshot.name = name
    }

    /// The Event of `key`'s window starting at `window` holds `count` occurrences.
    mutating func written(_ key: String, window: Date, count: Int) {
        guard let entry = entries[key], entry.snapshot.first == window else { return }
        entries[key]?.written = max(entry.written, count)
    }
}
