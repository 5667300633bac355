/// A bounded map that evicts the least recently used entry when full: a dictionary into an
/// array of nodes linked in use order, so lookups, insertions and evictions are O(1).
struct LRUStore<Key: Hashable, Value> {
    private struct Node {
        var key: Key
        var value: Value
        var newer: Int?
        var older: Int?
    }

    let capacity: Int
    private var index: [Key: Int] = [:]
    private var nodes: [Node?] = []
    private var free: [Int] = []
    private var newest: Int?
    private var oldest: Int?

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { index.count }

    /// The value for `key`, marking it most recently used.
    mutating func value(for key: Key) -> Value? {
        guard let slot = index[key] else { return nil }
        moveToNewest(slot)
        return nodes[slot]!.value
    }

    /// Stores `value`; returns how many entries were evicted to make room (0 or 1).
    @discardableResult
    mutating func insert(_ value: Value, for key: Key) -> Int {
        if let slot = index[key] {
            nodes[slot]!.value = value
            moveToNewest(slot)
            return 0
        }
        var evicted = 0
        if index.count >= capacity, let victim = oldest {
            remove(slot: victim)
            evicted = 1
        }
        let node = Node(key: key, value: value, newer: nil, older: newest)
        let slot: Int
        if let reused = free.popLast() {
            nodes[reused] = node
            slot = reused
        } else {
            nodes.append(node)
            slot = nodes.count - 1
        }
        if let previous = newest { nodes[previous]!.newer = slot }
        newest = slot
        if oldest == nil { oldest = slot }
        index[key] = slot
        return evicted
    }

    /// Removes `key`'s entry.
    mutating func removeValue(for key: Key) {
        if let slot = index[key] { remove(slot: slot) }
    }

    /// Removes every entry whose key matches; returns how many.
    @discardableResult
    mutating func removeAll(where shouldRemove: (Key) -> Bool) -> Int {
        let doomed = index.filter { shouldRemove($0.key) }.map(\.value)
        doomed.forEach { remove(slot: $0) }
        return doomed.count
    }

    private mutating func unlink(_ slot: Int) {
        let node = nodes[slot]!
        if let newer = node.newer { nodes[newer]!.older = node.older } else { newest = node.older }
        if let older = node.older { nodes[older]!.newer = node.newer } else { oldest = node.newer }
        nodes[slot]!.newer = nil
        nodes[slot]!.older = nil
    }

    private mutating func moveToNewest(_ slot: Int) {
        guard newest != slot else { return }
        unlink(slot)
        nodes[slot]!.older = newest
        if let previous = newest { nodes[previous]!.newer = slot }
        newest = slot
        if oldest == nil { oldest = slot }
    }

    private mutating func remove(slot: Int) {
        unlink(slot)
        index[nodes[slot]!.key] = nil
        nodes[slot] = nil
        free.append(slot)
    }
}
