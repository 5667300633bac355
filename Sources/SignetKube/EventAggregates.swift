import Foundation

/// The aggregated Events of a ``KubernetesEventRecorder``, by key: how many occurrences each
/// stands for, the latest of them, the Event's name once created, and how many are written.
///
/// At most ``maximumKeys`` are kept: a new key beyond them ends the window that started first.
/// A window that ends (its time is up, or it was pushed out) with occurrences not yet written
/// waits for the next write (at most ``maximumKeys`` of them; beyond, the oldest are dropped
/// and counted). Not locked: its owner locks it, and one writer at a time takes what to write.
struct EventAggregates {
    static let maximumKeys = 1024

    /// One window of one key, as the writer sees it.
    struct Snapshot: Sendable {
        var key: String
        var latest: KubernetesEvent
        var count: Int
        /// When the window started: the first occurrence's time.
        var first: Date
        /// The stored Event, once created.
        var name: String?
        /// Occurrences already in the stored Event(s).
        var written = 0
    }

    private var current: [String: Snapshot] = [:]
    private var ended: [Snapshot] = []
    /// Windows dropped unwritten because too many had ended at once, since the last write.
    private var droppedWindows = 0

    /// Counts `event` for `key`, in its current window when it is younger than `window`.
    mutating func add(_ event: KubernetesEvent, key: String, window: TimeInterval) {
        if var entry = current[key], event.time.timeIntervalSince(entry.first) < window {
            entry.count += 1
            if event.time >= entry.latest.time { entry.latest = event }
            current[key] = entry
            return
        }
        if let previous = current.removeValue(forKey: key) { end(previous) }
        if current.count >= Self.maximumKeys, let oldest = current.min(by: { $0.value.first < $1.value.first })?.key {
            end(current.removeValue(forKey: oldest)!)
        }
        current[key] = Snapshot(key: key, latest: event, count: 1, first: event.time)
    }

    private mutating func end(_ window: Snapshot) {
        guard window.count > window.written else { return }
        if ended.count >= Self.maximumKeys {
            ended.removeFirst()
            droppedWindows += 1
        }
        ended.append(window)
    }

    /// What to write now: the windows that ended unwritten (taken: they are written once, and
    /// done with), then the current ones whose count grew; and how many windows were dropped
    /// unwritten since the last call.
    mutating func takeWrites() -> (windows: [Snapshot], dropped: Int) {
        defer {
            ended.removeAll()
            droppedWindows = 0
        }
        return (ended + current.values.filter { $0.count > $0.written }.sorted { $0.first < $1.first }, droppedWindows)
    }

    /// `window` could not be written: when it has ended, it waits for the next write again.
    mutating func retry(_ window: Snapshot) {
        guard current[window.key]?.first != window.first else { return }
        end(window)
    }

    /// `written` was written as `name`: the current window it is still takes the name and count.
    mutating func wrote(_ written: Snapshot, name: String?) {
        guard var entry = current[written.key], entry.first == written.first else { return }
        if let name { entry.name = name }
        entry.written = max(entry.written, written.count)
        current[written.key] = entry
    }
}
