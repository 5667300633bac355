import Foundation
import Testing

@testable import SignetHistory

/// A page of history stops at its entry limit or, past its first entry, at its byte bound; the
/// next page goes on from its last entry. Images are read a chunk of entries at a time, and none
/// past the chunk where the page filled.
struct HistoryPageTests {
    static func entry(_ id: Int64, reasonBytes: Int) -> HistoryEntry {
        var entry = HistoryRecorderTests.entry(Int(id))
        entry.id = id
        entry.reason = String(repeating: "r", count: reasonBytes)
        entry.images = []
        return entry
    }

    /// The page of `entries` as a store fills it, with `images` per entry; the chunks read.
    static func fill(
        _ entries: [HistoryEntry], limit: Int, maximumBytes: Int = HistoryPageFiller.maximumPageBytes, images: [HistoryImageRecord] = []
    ) -> (page: HistoryPage, chunks: [[Int64]]) {
        var filler = HistoryPageFiller(entries: entries, limit: limit, maximumBytes: maximumBytes)
        var chunks: [[Int64]] = []
        while let ids = filler.nextChunk() {
            chunks.append(ids)
            filler.attach(Dictionary(uniqueKeysWithValues: ids.map { ($0, images) }))
        }
        return (filler.page(), chunks)
    }

    @Test func aPageStopsAtItsByteBoundAndTheNextGoesOn() {
        let entries = (0..<10).map { Self.entry(Int64(100 - $0), reasonBytes: 10_000) }
        let size = entries[0].estimatedByteCount
        // Room for three entries and a half: three are shown, the cursor is the third.
        let page = Self.fill(entries, limit: 9, maximumBytes: size * 7 / 2).page
        #expect(page.entries.map(\.id) == [100, 99, 98])
        #expect(page.nextCursor == HistoryCursor(timeMicroseconds: entries[2].timeMicroseconds, id: 98))
        // The first entry is shown whatever its size.
        #expect(Self.fill(entries, limit: 9, maximumBytes: 1).page.entries.count == 1)
        // Within the bound, the entry limit decides; the last page has no cursor.
        let all = Self.fill(Array(entries.prefix(5)), limit: 9).page
        #expect(all.entries.count == 5 && all.nextCursor == nil)
        let limited = Self.fill(entries, limit: 4).page
        #expect(limited.entries.count == 4 && limited.nextCursor?.id == 97)
    }

    @Test func imagesPastTheBoundAreNeverRead() {
        // The most entries a page holds, each with 64 KiB of images: the bound (8 MiB) is reached
        // inside the third chunk, and no fourth is read.
        let entries = (0..<(HistoryQuery.maximumLimit + 1)).map { Self.entry(Int64(5000 - $0), reasonBytes: 0) }
        let image = HistoryImageRecord(image: "ghcr.io/acme/web:1.0", verdict: "deny", reason: String(repeating: "x", count: 64 << 10))
        let (page, chunks) = Self.fill(entries, limit: HistoryQuery.maximumLimit, images: [image])
        #expect(chunks.count == 3, "\(chunks.map(\.count))")
        #expect(chunks.allSatisfy { $0.count <= HistoryPageFiller.chunkSize })
        #expect((100..<150).contains(page.entries.count), "\(page.entries.count)")
        #expect(page.entries.allSatisfy { $0.images == [image] })
        #expect(page.nextCursor?.id == page.entries.last?.id)
    }
}

/// History reads hold at most their share of the PostgreSQL pool: the others wait, and the
/// recorder's writes keep the rest of the connections.
@Suite struct HistoryReadGateTests {
    @Test(.timeLimit(.minutes(5))) func readsBeyondTheLimitWaitForOneToEnd() async throws {
        #expect(PostgresHistoryStore.readConnections < PostgresHistoryStore.maximumConnections)
        let gate = HistoryReadGate(limit: 2)
        let releases = (0..<3).map { _ in AsyncStream.makeStream(of: Void.self) }
        let (started, starter) = AsyncStream.makeStream(of: Int.self)
        let readers = (0..<3).map { index in
            Task {
                try await gate.run {
                    starter.yield(index)
                    for await _ in releases[index].stream { break }
                    return index
                }
            }
        }
        var iterator = started.makeAsyncIterator()
        let first = try #require(await iterator.next())
        let second = try #require(await iterator.next())
        // Two run; the third waits for a place (the time only lets it try).
        try await Task.sleep(for: .milliseconds(200))
        #expect(await gate.reading == 2)
        releases[first].continuation.yield()
        let third = try #require(await iterator.next(), "the third read starts once one ends")
        #expect(Set([first, second, third]) == [0, 1, 2])
        releases[second].continuation.yield()
        releases[third].continuation.yield()
        var ended: [Int] = []
        for reader in readers { ended.append(try await reader.value) }
        #expect(ended.sorted() == [0, 1, 2])
        #expect(await gate.reading == 0)
    }
}
