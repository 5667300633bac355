import ArgumentParser
import Foundation
import Logging
import SignetHistory

/// The verification history of `signet serve`: the store opened before the first review, the
/// recorder that writes to it off the admission path, and the drain at shutdown.
struct ServeHistory: Sendable {
    let recorder: HistoryRecorder
    let writer: Task<Void, Never>

    /// Opens the configured store (nil when none is) and starts its writer. A store that cannot
    /// be opened stops the server from starting, with the reason.
    static func start(_ options: HistoryOptions, retention: HistoryRetentionOptions, logger: Logger) async throws -> ServeHistory? {
        guard let location = try options.location() else { return nil }
        var configuration = HistoryRecorderConfiguration()
        configuration.retention = try retention.retention()
        if configuration.retention.maximumBytes != nil, location.storeName != "sqlite" {
            throw ValidationError("--history-max-bytes applies to --history-sqlite only: a PostgreSQL server's disk is its operators' to watch")
        }
        let store: any HistoryStore
        do {
            store = try await HistoryOptions.open(location, logger: Logger(label: "signet.history"))
        } catch {
            logger.critical("cannot open the verification history", metadata: ["store": "\(location.storeName)", "error": "\(error)"])
            throw ExitCode(2)
        }
        let recorder = HistoryRecorder(store: store, storeName: location.storeName, configuration: configuration)
        logger.info("recording the verification history", metadata: [
            "store": "\(location.storeName)", "max_age": "\(configuration.retention.maximumAge.map { "\($0)" } ?? "none")",
            "max_rows": "\(configuration.retention.maximumEntries.map { "\($0)" } ?? "none")",
            "max_bytes": "\(configuration.retention.maximumBytes.map { "\($0)" } ?? "none")",
        ])
        return ServeHistory(recorder: recorder, writer: Task { await recorder.run() })
    }

    /// Writes what is queued, for at most `grace`, then closes the store. A store that does not
    /// answer within `grace` loses what was queued (counted as dropped) but never holds up the exit.
    func stop(grace: Duration, logger: Logger) async {
        recorder.finish()
        let writer = self.writer
        let drained = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await writer.value; return true }
            group.addTask { try? await Task.sleep(for: grace); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if drained {
            await recorder.store.close()
        } else {
            logger.warning("the history store did not take the last entries before shutdown", metadata: ["queued": "\(recorder.queued)"])
        }
    }
}
