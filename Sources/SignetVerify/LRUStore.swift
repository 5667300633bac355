/// A bounded map that evicts the least recently used entry when full; lookups, insertions and
/// evictions are O(1).
///
/// Kept compact, since it holds every cached verdict: each key is stored once, in its entry
/// (an open-addressing table of 32-bit slot numbers finds it, instead of a dictionary holding a
/// second copy of every key); entries live in pages of fixed size, so the store never holds the
/// unused half of a doubled array; the use order is a list linked by slot numbers.
struct LRUStore<Key: Hashable, Value> {
    fileprivate struct Node {
        var key: Key
        var value: Value
        /// Slot of the next more recently used entry, or `none`.
        var newer: Int32
        /// Slot of the next less recently used entry, or `none`.
        var older: Int32
    }

    private static var none: Int32 { -1 }
    private static var pageSize: Int { 256 }

    let capacity: Int
    private(set) var count = 0
    /// Entries by slot: slot `s` is `pages[s / pageSize][s % pageSize]`; `nil` when free.
    private var pages: [[Node?]] = []
    private var freeSlots: [Int32] = []
    /// Open addressing, linear probing: a slot number, or `none` for an empty bucket.
    private var table: [Int32] = []
    private var newest = LRUStore.none
    private var oldest = LRUStore.none

    init(capacity: Int) {
        self.capacity = max(1, min(capacity, Int(Int32.max) / 2))
    }

    /// The value for `key`, marking it most recently used.
    mutating func value(for key: Key) -> Value? {
        guard let bucket = find(key) else { return nil }
        let slot = table[bucket]
        moveToNewest(slot)
        return self[slot].value
    }

    /// Stores `value`; returns how many entries were evicted to make room (0 or 1).
    @discardableResult
    mutating func insert(_ value: Value, for key: Key) -> Int {
        if let bucket = find(key) {
            let slot = table[bucket]
            self[slot].value = value
            moveToNewest(slot)
            return 0
        }
        var evicted = 0
        if count >= capacity, oldest != Self.none {
            remove(slot: oldest)
            evicted = 1
        }
        growTableIfNeeded(toHold: count + 1)
        let slot = allocateSlot(Node(key: key, value: value, newer: Self.none, older: newest))
        if newest != Self.none { self[newest].newer = slot }
        newest = slot
        if oldest == Self.none { oldest = slot }
        count += 1
        place(slot, hash: key.hashValue)
        return evicted
    }

    /// Removes `key`'s entry.
    mutating func removeValue(for key: Key) {
        if let bucket = find(key) { remove(slot: table[bucket]) }
    }

    /// Removes every entry whose key matches; returns how many.
    @discardableResult
    mutating func removeAll(where shouldRemove: (Key) -> Bool) -> Int {
        var doomed: [Int32] = []
        var slot = oldest
        while slot != Self.none {
            let node = self[slot]
            if shouldRemove(node.key) { doomed.append(slot) }
            slot = node.newer
        }
        doomed.forEach { remove(slot: $0) }
        return doomed.count
    }

    // MARK: - Slots

    /// The entry in `slot` (which must be in use), read and changed in place.
    private subscript(slot: Int32) -> Node {
        _read { yield pages[Int(slot) / Self.pageSize][Int(slot) % Self.pageSize]! }
        _modify { yield &pages[Int(slot) / Self.pageSize][Int(slot) % Self.pageSize]! }
    }

    private mutating func allocateSlot(_ node: Node) -> Int32 {
        if let slot = freeSlots.popLast() {
            pages[Int(slot) / Self.pageSize][Int(slot) % Self.pageSize] = node
            return slot
        }
        if pages.last.map({ $0.count == Self.pageSize }) ?? true {
            var page: [Node?] = []
            page.reserveCapacity(Self.pageSize)
            pages.append(page)
        }
        let slot = Int32((pages.count - 1) * Self.pageSize + pages[pages.count - 1].count)
        pages[pages.count - 1].append(node)
        return slot
    }

    private mutating func remove(slot: Int32) {
        unlink(slot)
        if let bucket = find(self[slot].key) { erase(bucket: bucket) }
        pages[Int(slot) / Self.pageSize][Int(slot) % Self.pageSize] = nil
        freeSlots.append(slot)
        count -= 1
    }

    private mutating func unlink(_ slot: Int32) {
        let (newer, older) = (self[slot].newer, self[slot].older)
        if newer != Self.none { self[newer].older = older } else { newest = older }
        if older != Self.none { self[older].newer = newer } else { oldest = newer }
        self[slot].newer = Self.none
        self[slot].older = Self.none
    }

    private mutating func moveToNewest(_ slot: Int32) {
        guard newest != slot else { return }
        unlink(slot)
        self[slot].older = newest
        if newest != Self.none { self[newest].newer = slot }
        newest = slot
        if oldest == Self.none { oldest = slot }
    }

    // MARK: - Table

    private var mask: Int { table.count - 1 }

    private func home(_ hash: Int) -> Int { hash & mask }

    /// The bucket holding `key`'s slot.
    private func find(_ key: Key) -> Int? {
        guard !table.isEmpty else { return nil }
        var bucket = home(key.hashValue)
        while table[bucket] != Self.none {
            if self[table[bucket]].key == key { return bucket }
            bucket = (bucket + 1) & mask
        }
        return nil
    }

    private mutating func place(_ slot: Int32, hash: Int) {
        var bucket = home(hash)
        while table[bucket] != Self.none { bucket = (bucket + 1) & mask }
        table[bucket] = slot
    }

    /// Empties `bucket` and moves later entries of its probe run back, so lookups need no
    /// tombstones (backward-shift deletion).
    private mutating func erase(bucket: Int) {
        var hole = bucket
        var next = (hole + 1) & mask
        while table[next] != Self.none {
            let wanted = home(self[table[next]].key.hashValue)
            // Move the entry into the hole unless its home lies cyclically in (hole, next].
            let distanceToNext = (next - wanted) & mask
            let distanceToHole = (hole - wanted) & mask
            if distanceToHole < distanceToNext {
                table[hole] = table[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        table[hole] = Self.none
    }

    /// Keeps the table at most three quarters full once it holds `entries`, doubling it (and
    /// placing every entry again).
    private mutating func growTableIfNeeded(toHold entries: Int) {
        guard entries * 4 > table.count * 3 else { return }
        var size = max(16, table.count)
        while entries * 4 > size * 3 { size *= 2 }
        table = [Int32](repeating: Self.none, count: size)
        var slot = oldest
        while slot != Self.none {
            place(slot, hash: self[slot].key.hashValue)
            slot = self[slot].newer
        }
    }
}

extension LRUStore: Sendable where Key: Sendable, Value: Sendable {}

extension LRUStore.Node: Sendable where Key: Sendable, Value: Sendable {}
