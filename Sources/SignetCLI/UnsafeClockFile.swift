import ArgumentParser
import Foundation
import NIOConcurrencyHelpers
import SignetPolicy
import Synchronization

/// The clock of `--sigstore-tuf-now-unsafe @<file>`: the RFC 3339 time written in a file,
/// re-read every 100 ms by a timer on a dispatch queue of its own (never on Swift's cooperative
/// pool), so a test can move the time TUF expiry is judged at while signet serves. Unsafe by
/// name and by flag: the time no longer follows the real clock, so freeze-attack protection
/// holds only as far as the file's writer makes it. Lives as long as the process.
final class UnsafeClockFile: @unchecked Sendable {
    // `timer` is set once in init and only cancelled in deinit; the time is behind a lock.
    private final class Reading: Sendable {
        let instant: NIOLockedValueBox<Date>
        init(_ date: Date) { instant = NIOLockedValueBox(date) }
    }

    let path: String
    private let reading: Reading
    private let timer: any DispatchSourceTimer

    /// Reads the file once (it must hold an RFC 3339 time) and starts the timer.
    init(path: String) throws {
        guard let first = Self.read(path) else {
            throw ValidationError("--sigstore-tuf-now-unsafe @\(path): the file does not hold an RFC 3339 time (for example 2026-08-21T00:00:00Z)")
        }
        self.path = path
        let reading = Reading(first)
        self.reading = reading
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "signet.tuf-clock-file"))
        timer.schedule(deadline: .now() + .milliseconds(100), repeating: .milliseconds(100))
        timer.setEventHandler {
            // A file caught half-written keeps the last time read.
            if let date = Self.read(path) { reading.instant.withLockedValue { $0 = date } }
        }
        timer.resume()
    }

    /// The time the file held at its last reading.
    var now: Date { reading.instant.withLockedValue { $0 } }

    private static func read(_ path: String) -> Date? {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else { return nil }
        return KubernetesTime.parse(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    deinit { timer.cancel() }
}
