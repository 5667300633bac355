import Foundation

/// A value guarded by a lock, for state that threads outside Swift concurrency (the curl driver
/// thread) share with async code.
package final class Locked<Value: Sendable>: @unchecked Sendable {
    // Every access to `value` goes through `withLock`, so the lock serialises all reads and writes.
    private let lock = NSLock()
    private var value: Value

    package init(_ value: Value) {
        self.value = value
    }

    package func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
