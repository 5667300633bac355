/// A map with a size cap whose entries expire, for what signet remembers about servers on behalf
/// of whoever asked (bearer tokens per server, scope and credential; Notary v1 collections per
/// server, GUN and credential identity): a lookup never returns an expired entry, and the table
/// never holds more than ``capacity`` entries, however many distinct keys requests name.
///
/// An insertion into a full table first drops the expired entries and, when that frees no room,
/// the quarter of the entries stored longest ago, so the cost of making room is spread over many
/// insertions (amortised O(log n) each). Not the soonest to expire: whoever answers decides how
/// long an entry lives (a token server's `expires_in`), and a server that answered "ten years"
/// would keep its entries while every other server's short-lived ones made room for each other.
public struct ExpiringTable<Key: Hashable, Value, Moment: Comparable> {
    /// The most entries held.
    public let capacity: Int
    private var entries: [Key: (value: Value, expires: Moment, stored: UInt64)] = [:]
    /// Counts insertions: the order entries were stored in.
    private var insertions: UInt64 = 0

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// How many entries are held, expired ones not yet dropped included.
    public var count: Int { entries.count }

    /// The value for `key` while it has not expired at `now`.
    public func value(for key: Key, now: Moment) -> Value? {
        guard let entry = entries[key], entry.expires > now else { return nil }
        return entry.value
    }

    /// Stores `value` for `key` until `expires`, making room first when the table is full.
    /// Returns how many entries were dropped to make room.
    @discardableResult
    public mutating func insert(_ value: Value, for key: Key, expires: Moment, now: Moment) -> Int {
        var dropped = 0
        if entries[key] == nil, entries.count >= capacity {
            let before = entries.count
            entries = entries.filter { $0.value.expires > now }
            if entries.count >= capacity {
                let oldest = entries.sorted { $0.value.stored < $1.value.stored }.prefix(max(1, capacity / 4))
                for (doomed, _) in oldest { entries[doomed] = nil }
            }
            dropped = before - entries.count
        }
        insertions &+= 1
        entries[key] = (value, expires, insertions)
        return dropped
    }

    /// Forgets `key`.
    public mutating func removeValue(for key: Key) {
        entries[key] = nil
    }
}

extension ExpiringTable: Sendable where Key: Sendable, Value: Sendable, Moment: Sendable {}
