/// Whose share of the history an entry counts in when the history is cut (``HistoryTrimShares``).
enum HistoryShare: Sendable, Hashable {
    /// Its namespace's (nil: entries of no namespace, such as `signet verify`'s and
    /// cluster-scoped objects').
    case namespace(String?)
    /// The one share of every review not known to come from the API server
    /// (``HistoryEntry/fromAPIServer``), whatever namespace it names: such a review can name
    /// any, so counted in that namespace's share it would push out the namespace's real
    /// decisions, and naming many made-up namespaces would take many shares.
    case unknownSenders

    init(namespace: String?, fromAPIServer: Bool) {
        self = fromAPIServer ? .namespace(namespace) : .unknownSenders
    }
}

/// What one share (``HistoryShare``) holds of the history, in entries or in bytes.
struct HistoryHolding: Sendable, Hashable {
    var share: HistoryShare
    var amount: Int64
}

/// Which shares (a namespace's, or the unknown senders', ``HistoryShare``) give up how much when
/// the history is cut back to a limit (its entries, or a local store's bytes): the largest
/// holdings first, down to a common level, so a namespace that writes more than the others
/// loses its own oldest entries before anyone else loses any.
///
/// Anyone who may create Pods in one namespace can write entries at will (dry runs, denied
/// creates, each up to ``HistoryEntryBounds/maximumImageBytes`` of images); cutting the oldest
/// entries of the whole history let such a flood evict every other namespace's decisions. Cut
/// this way (max-min fairness, "water-filling"), other namespaces keep everything as long as
/// they hold less than the flooding one keeps. Reviews made up by a client that reaches the
/// webhook directly can name any namespace: when signet can tell them (a client CA, or
/// `--reserved-peers`), they all count in one share of their own (``HistoryShare/unknownSenders``).
enum HistoryTrimShares {
    /// How much each share gives up so that `toFree` in all goes (everything when `toFree`
    /// is at least the total): the largest holdings are brought down to one level, the first
    /// ones of the order (largest, then by name) keeping one more than the others where the
    /// level does not divide evenly. Shares that give up nothing are absent.
    static func cuts(_ holdings: [HistoryHolding], toFree: Int64) -> [HistoryHolding] {
        let held = holdings.filter { $0.amount > 0 }.sorted(by: precedes)
        guard toFree > 0, !held.isEmpty else { return [] }
        let total = held.reduce(Int64(0)) { $0 + $1.amount }
        guard toFree < total else { return held }
        // The first k holdings come down to a common level, at least the next holding's amount:
        // find the smallest k for which that frees enough.
        var sum: Int64 = 0
        for k in 1...held.count {
            sum += held[k - 1].amount
            let next = k < held.count ? held[k].amount : 0
            guard sum - Int64(k) * next >= toFree else { continue }
            let kept = sum - toFree
            let level = kept / Int64(k), oneMore = Int(kept % Int64(k))
            return held.prefix(k).enumerated().compactMap { index, holding in
                let cut = holding.amount - level - (index < oneMore ? 1 : 0)
                return cut > 0 ? HistoryHolding(share: holding.share, amount: cut) : nil
            }
        }
        return held
    }

    /// The order of the cut: the larger holding first, then by namespace, no namespace after
    /// the namespaces, the unknown senders' share last.
    private static func precedes(_ a: HistoryHolding, _ b: HistoryHolding) -> Bool {
        if a.amount != b.amount { return a.amount > b.amount }
        switch (a.share, b.share) {
        case let (.namespace(first?), .namespace(second?)): return first < second
        case (.namespace(_?), _): return true
        case (.namespace(nil), .unknownSenders): return true
        default: return false
        }
    }
}
