import Testing

@testable import SignetVerify

/// The compact LRU store against a plain model (a dictionary and a use order), over a long
/// deterministic run of lookups, insertions, replacements, removals and evictions.
@Suite("LRU store")
struct LRUStoreTests {
    /// What the store must do, written the obvious way.
    struct Model {
        let capacity: Int
        var values: [Int: String] = [:]
        /// Least recently used first.
        var order: [Int] = []

        mutating func touch(_ key: Int) {
            order.removeAll { $0 == key }
            order.append(key)
        }

        mutating func value(for key: Int) -> String? {
            guard let value = values[key] else { return nil }
            touch(key)
            return value
        }

        mutating func insert(_ value: String, for key: Int) -> Int {
            if values[key] != nil {
                values[key] = value
                touch(key)
                return 0
            }
            var evicted = 0
            if values.count >= capacity, let victim = order.first {
                values[victim] = nil
                order.removeFirst()
                evicted = 1
            }
            values[key] = value
            order.append(key)
            return evicted
        }

        mutating func remove(_ key: Int) {
            values[key] = nil
            order.removeAll { $0 == key }
        }
    }

    /// A small linear congruential generator: the same run every time.
    struct Steps {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    /// Keys that collide in the table often: a hash with few distinct values.
    struct Crowded: Hashable {
        var id: Int
        func hash(into hasher: inout Hasher) { hasher.combine(id % 7) }
    }

    @Test(arguments: [1, 2, 5, 100, 700])
    func behavesLikeTheModel(capacity: Int) {
        var store = LRUStore<Int, String>(capacity: capacity)
        var model = Model(capacity: capacity)
        var steps = Steps()
        for round in 0..<20_000 {
            let key = steps.next(capacity * 3 + 2)
            switch steps.next(10) {
            case 0..<4:
                #expect(store.value(for: key) == model.value(for: key), "round \(round)")
            case 4..<8:
                #expect(store.insert("v\(round)", for: key) == model.insert("v\(round)", for: key), "round \(round)")
            case 8:
                store.removeValue(for: key)
                model.remove(key)
            default:
                let modulus = steps.next(5) + 2
                let removed = store.removeAll { $0 % modulus == 0 }
                let doomed = model.values.keys.filter { $0 % modulus == 0 }
                doomed.forEach { model.remove($0) }
                #expect(removed == doomed.count, "round \(round)")
            }
            #expect(store.count == model.values.count, "round \(round)")
        }
        for key in 0..<(capacity * 3 + 2) {
            #expect(store.value(for: key) == model.value(for: key))
        }
    }

    @Test func collidingKeysAreFoundAfterRemovals() {
        var store = LRUStore<Crowded, Int>(capacity: 1000)
        for id in 0..<500 { store.insert(id, for: Crowded(id: id)) }
        for id in stride(from: 0, to: 500, by: 3) { store.removeValue(for: Crowded(id: id)) }
        for id in 0..<500 {
            #expect(store.value(for: Crowded(id: id)) == (id % 3 == 0 ? nil : id))
        }
        #expect(store.count == 500 - 167)
    }
    /// A value the store no longer holds is released with it: a cache of 100,000 verdicts must not
    /// keep the evicted and removed ones alive in its free slots, nor their keys.
    final class Tracked {
        let id: Int
        init(_ id: Int) { self.id = id }
    }

    @Test func valuesLeavingTheStoreAreReleased() {
        var store = LRUStore<String, Tracked>(capacity: 3)
        // Keys long enough to be stored on the heap.
        let key = { (name: String) in name + String(repeating: "-", count: 32) }
        /// Inserts a fresh value under `name`; the only strong reference is the store's.
        func insert(_ id: Int, _ name: String) -> () -> Tracked? {
            let value = Tracked(id)
            weak var held = value
            store.insert(value, for: key(name))
            return { held }
        }
        let first = insert(1, "first")
        let second = insert(2, "second")
        let third = insert(3, "third")
        // Checked at once, before any insertion could reuse the freed slot and overwrite it.
        store.removeValue(for: key("second"))
        #expect(second() == nil, "a removed value is released at once")
        #expect(store.removeAll { $0 == key("third") } == 1)
        #expect(third() == nil, "a value removed by removeAll(where:) is released at once")
        #expect(first()?.id == 1, "a value still in the store is kept")
        let replaced = insert(4, "first")
        #expect(first() == nil, "a replaced value is released")
        _ = insert(5, "fifth")
        _ = insert(6, "sixth")
        _ = insert(7, "seventh")  // evicts the value under "first", the least recently used
        #expect(replaced() == nil, "an evicted value is released")
        #expect(store.count == 3)
    }
}

/// Failures kept for one caller's credentials have room of their own: whoever may create pods
/// can make signet keep one per made-up digest, and those push out each other, never the passes
/// everyone's reviews are answered from.
@Suite("Expiring cache rooms")
struct ExpiringCacheRoomTests {
    @Test func failuresKeptForOneCallerNeverPushOutAPass() async throws {
        let cache = ExpiringCache<String, Bool>(name: "rooms", capacity: 8, clock: ManualClock().clock)
        _ = try await cache.value(for: "deployed", sharesValue: { $0 }) { (true, .seconds(600)) }
        for index in 0..<50 {
            _ = try await cache.value(for: "made-up-\(index)", sharesValue: { $0 }) { (false, .seconds(60)) }
        }
        #expect(cache.cachedValue(for: "deployed") == true, "the pass is still kept")
        #expect(cache.count == 1 + 2, "a quarter of the room for failures")
        #expect(cache.cachedValue(for: "made-up-49") == false, "the latest failures are kept for their caller")
        #expect(cache.cachedValue(for: "made-up-0") == nil)
    }
}
