/// At most ``limit`` history reads at once (the console's pages and overviews), so that reads
/// never hold every connection of a pool the recorder writes through: a reader who floods
/// queries that read much (a digest every Pod runs, a long range) slows other readers, never
/// the recording of admissions, whose queue would otherwise fill and drop records.
///
/// Readers beyond the limit wait in arrival order.
actor HistoryReadGate {
    let limit: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// How many reads run now (for tests).
    var reading: Int { running }

    /// Runs `read` once fewer than ``limit`` others run.
    func run<Result: Sendable>(_ read: @Sendable () async throws -> Result) async throws -> Result {
        if running < limit {
            running += 1
        } else {
            // The place is handed over by the read that leaves (``leave()``), already counted.
            await withCheckedContinuation { waiting.append($0) }
        }
        defer { leave() }
        return try await read()
    }

    private func leave() {
        if waiting.isEmpty {
            running -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
