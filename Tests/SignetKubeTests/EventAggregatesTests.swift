import Foundation
import Testing
@testable import SignetKube

/// The windows of aggregated Events: one key's uses within a window count together, a window
/// that ended unwritten is written once with the next write, and one whose write failed waits
/// for the write after.
@Suite struct EventAggregatesTests {
    static let start = Date(timeIntervalSince1970: 1_795_000_000)

    static func use(_ seconds: TimeInterval, message: String = "admitted") -> KubernetesEvent {
        KubernetesEvent(object: .init(apiVersion: "signet.dev/v1alpha1", kind: "EmergencyBypass", name: "incident", namespace: nil),
                        reason: "EmergencyBypassUsed", message: message, time: start + seconds)
    }

    @Test func anEndedWindowWhoseWriteFailedIsWrittenLater() {
        var aggregates = EventAggregates()
        for second in 0..<5 { aggregates.add(Self.use(Double(second)), key: "k", window: 600) }
        aggregates.add(Self.use(700, message: "later"), key: "k", window: 600)
        let first = aggregates.takeWrites()
        #expect(first.windows.map(\.count) == [5, 1])
        #expect(first.dropped == 0)
        // The ended window's write failed: it comes again; the current one is still unwritten.
        aggregates.retry(first.windows[0])
        #expect(aggregates.takeWrites().windows.map(\.count) == [5, 1])
        // Written: nothing is left to write until a use comes.
        aggregates.wrote(first.windows[1], name: "incident.1")
        #expect(aggregates.takeWrites().windows.isEmpty)
        aggregates.add(Self.use(701), key: "k", window: 600)
        let grown = aggregates.takeWrites().windows
        #expect(grown.map(\.count) == [2] && grown.first?.name == "incident.1" && grown.first?.written == 1)
        // A failed write of the current window is not queued twice: its count stays unwritten.
        aggregates.retry(grown[0])
        #expect(aggregates.takeWrites().windows.map(\.count) == [2])
    }
}
