import Foundation
import Testing

@testable import SignetHistory

/// A page of history stops at its entry limit or, past its first entry, at its byte bound; the
/// next page goes on from its last entry.
struct HistoryPageTests {
    static func entry(_ id: Int64, reasonBytes: Int) -> HistoryEntry {
        var entry = HistoryRecorderTests.entry(Int(id))
        entry.id = id
        entry.reason = String(repeating: "r", count: reasonBytes)
        return entry
    }

    @Test func aPageStopsAtItsByteBoundAndTheNextGoesOn() {
        let entries = (0..<10).map { Self.entry(Int64(100 - $0), reasonBytes: 10_000) }
        let size = entries[0].estimatedByteCount
        // Room for three entries and a half: three are shown, the cursor is the third.
        let page = HistorySQL.page(entries, limit: 9, maximumBytes: size * 7 / 2)
        #expect(page.entries.map(\.id) == [100, 99, 98])
        #expect(page.nextCursor == HistoryCursor(timeMicroseconds: entries[2].timeMicroseconds, id: 98))
        // The first entry is shown whatever its size.
        #expect(HistorySQL.page(entries, limit: 9, maximumBytes: 1).entries.count == 1)
        // Within the bound, the entry limit decides; the last page has no cursor.
        let all = HistorySQL.page(Array(entries.prefix(5)), limit: 9)
        #expect(all.entries.count == 5 && all.nextCursor == nil)
        let limited = HistorySQL.page(entries, limit: 4)
        #expect(limited.entries.count == 4 && limited.nextCursor?.id == 97)
    }
}
