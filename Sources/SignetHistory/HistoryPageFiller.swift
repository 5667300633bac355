import Foundation

/// Puts one page of history together from the entries its query selected (one more than the
/// limit when another page follows): their images are read in chunks of ``chunkSize`` entries,
/// and reading stops at the page's entry limit or, past its first entry, at
/// ``maximumPageBytes`` of text, so a page of the most entries with the largest images is never
/// read whole into memory only to be cut. Both stores fill pages this way: they fetch each
/// ``nextChunk()`` and hand its images to ``attach(_:)``.
struct HistoryPageFiller {
    /// The most text a page holds (entries' estimated bytes); the next page goes on where it
    /// stops. An entry keeps up to 128 KiB of images, so a page of the most entries could be
    /// over a hundred megabytes of text, and more once written as HTML.
    static let maximumPageBytes = 8 << 20
    /// Entries whose images are read in one statement.
    static let chunkSize = 50

    private var entries: [HistoryEntry]
    private let limit: Int
    private let maximumBytes: Int
    /// Entries with their images read and kept on the page.
    private var kept = 0
    private var bytes = 0
    private var full = false

    init(entries: [HistoryEntry], limit: Int, maximumBytes: Int = maximumPageBytes) {
        self.entries = entries
        self.limit = limit
        self.maximumBytes = maximumBytes
    }

    private var chunkRange: Range<Int> { kept..<min(kept + Self.chunkSize, limit, entries.count) }

    /// The ids of the entries whose images come next; nil when the page is complete.
    func nextChunk() -> [Int64]? {
        guard !full, !chunkRange.isEmpty else { return nil }
        return entries[chunkRange].compactMap(\.id)
    }

    /// Takes the images of the entries ``nextChunk()`` named (by entry id), keeping entries
    /// while the page has room.
    mutating func attach(_ images: [Int64: [HistoryImageRecord]]) {
        for index in chunkRange {
            entries[index].images = images[entries[index].id ?? -1] ?? []
            bytes += entries[index].estimatedByteCount
            if index > 0 && bytes > maximumBytes {
                full = true
                return
            }
            kept = index + 1
        }
    }

    /// The page. `scanBoundary` is the last entry a windowed query (``HistorySQL/scanWindow``)
    /// read, when the window was full: if the page holds every match the window found, the
    /// next page starts after it.
    func page(scanBoundary: HistoryCursor? = nil) -> HistoryPage {
        let shown = Array(entries.prefix(kept))
        if kept < entries.count, let last = shown.last {
            return HistoryPage(entries: shown, nextCursor: HistoryCursor(timeMicroseconds: last.timeMicroseconds, id: last.id ?? 0))
        }
        guard let scanBoundary else { return HistoryPage(entries: shown, nextCursor: nil) }
        return HistoryPage(
            entries: shown, nextCursor: scanBoundary,
            searchedThrough: Date(timeIntervalSince1970: Double(scanBoundary.timeMicroseconds) / 1_000_000))
    }
}
