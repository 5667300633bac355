/// A bounded map that evicts the least recently used entry when full; lookups, insertions and
/// evictions are O(1).
///
/// Kept compact, since it holds every cached verdict: each key is stored once, in its slot
/// (an open-addressing table of 32-bit slot numbers finds it, instead of a dictionary holding a
/// second copy of every key); slots live in pages of fixed size, so the store never holds the
/// unused half of a doubled array; the use order is a list linked by slot numbers.
///
/// Keys, values and links are kept in pages of their own: marking an entry used rewrites only
/// its links (two plain integers), and a lookup compares keys without copying the value beside
/// them; a value is copied once, when a lookup returns it.
struct LRUStore<Key: Hashable, Value> {
    /// Where a slot stands in the use order.
    fileprivate struct Links {
        /// Slot of the next more recently used entry, or `none`.
        var newer: Int32
        /// Slot of the next less recently used entry, or `none`.
        var older: Int32
    }

    private static var none: Int32 { -1 }
    private static var pageSize: Int { 256 }

    let capacity: Int
    private(set) var count = 0
    /// Keys by slot: slot `s` is `keys[s / pageSize][s % pageSize]`; `nil` when free. `values`
    /// and `links` are paged the same way.
    private var keys: [[Key?]] = []
    private var values: [[Value?]] = []
    private var links: [[Links]] = []
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
        return values[page(slot)][offset(slot)]
    }

    /// Stores `value`; returns how many entries were evicted to make room (0 or 1).
    @discardableResult
    mutating func insert(_ value: Value, for key: Key) -> Int {
        if let bucket = find(key) {
            let slot = table[bucket]
            values[page(slot)][offset(slot)] = value
            moveToNewest(slot)
            return 0
        }
        var evicted = 0
        if count >= capacity, oldest != Self.none {
            remove(slot: oldest)
            evicted = 1
        }
        growTableIfNeeded(toHold: count + 1)
        let slot = allocateSlot(key: key, value: value, links: Links(newer: Self.none, older: newest))
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
            // Every slot on the use list is in use: a free one here is a broken store.
            if shouldRemove(keys[page(slot)][offset(slot)]!) { doomed.append(slot) }
            slot = self[slot].newer
        }
        doomed.forEach { remove(slot: $0) }
        return doomed.count
    }

    // MARK: - Slots

    private func page(_ slot: Int32) -> Int { Int(slot) / Self.pageSize }
    private func offset(_ slot: Int32) -> Int { Int(slot) % Self.pageSize }

    /// The links of `slot`, read and changed in place.
    private subscript(slot: Int32) -> Links {
        get { links[page(slot)][offset(slot)] }
        set { links[page(slot)][offset(slot)] = newValue }
    }

    /// Whether `slot` (which must be in use) holds `key`.
    private func holds(_ slot: Int32, _ key: Key) -> Bool {
        keys[page(slot)][offset(slot)] == key
    }

    private mutating func allocateSlot(key: Key, value: Value, links entry: Links) -> Int32 {
        if let slot = freeSlots.popLast() {
            keys[page(slot)][offset(slot)] = key
            values[page(slot)][offset(slot)] = value
            links[page(slot)][offset(slot)] = entry
            return slot
        }
        if keys.last.map({ $0.count == Self.pageSize }) ?? true {
            keys.append(Self.emptyPage())
            values.append(Self.emptyPage())
            links.append(Self.emptyPage())
        }
        let last = keys.count - 1
        let slot = Int32(last * Self.pageSize + keys[last].count)
        keys[last].append(key)
        values[last].append(value)
        links[last].append(entry)
        return slot
    }

    private static func emptyPage<Element>() -> [Element] {
        var page: [Element] = []
        page.reserveCapacity(pageSize)
        return page
    }

    private mutating func remove(slot: Int32) {
        // Only a slot in use is removed; freeing one twice would hand it to two keys.
        guard let key = keys[page(slot)][offset(slot)] else { preconditionFailure("LRUStore: slot \(slot) removed while free") }
        unlink(slot)
        if let bucket = find(key) { erase(bucket: bucket) }
        keys[page(slot)][offset(slot)] = nil
        values[page(slot)][offset(slot)] = nil
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
            if holds(table[bucket], key) { return bucket }
            bucket = (bucket + 1) & mask
        }
        return nil
    }

    /// The hash of the key in `slot` (which must be in use).
    private func hashValue(of slot: Int32) -> Int {
        keys[page(slot)][offset(slot)]!.hashValue
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
            let wanted = home(hashValue(of: table[next]))
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
            place(slot, hash: hashValue(of: slot))
            slot = self[slot].newer
        }
    }
}

extension LRUStore: Sendable where Key: Sendable, Value: Sendable {}

