import Testing

@testable import SignetHistory

/// The history is cut back by namespace, the largest holdings first (max-min fairness), so one
/// namespace's flood of entries evicts its own before anyone else's.
@Suite struct HistoryTrimSharesTests {
    /// `<unknown>` names the share of the reviews not known to come from the API server.
    private func cuts(_ holdings: [(String?, Int64)], toFree: Int64) -> [String: Int64] {
        let shares = HistoryTrimShares.cuts(
            holdings.map { HistoryHolding(share: $0.0 == "<unknown>" ? .unknownSenders : .namespace($0.0), amount: $0.1) }, toFree: toFree)
        return Dictionary(uniqueKeysWithValues: shares.map { holding in
            switch holding.share {
            case .namespace(let namespace): return (namespace ?? "<none>", holding.amount)
            case .unknownSenders: return ("<unknown>", holding.amount)
            }
        })
    }

    @Test func theLargestHoldingGivesUpAloneWhileItIsTheLargest() {
        #expect(cuts([("mallory", 1000), ("shop", 10), ("billing", 5)], toFree: 100) == ["mallory": 100])
        // Down to the next holding, and no further alone.
        #expect(cuts([("mallory", 1000), ("shop", 10), ("billing", 5)], toFree: 990) == ["mallory": 990])
    }

    @Test func holdingsComeDownToOneLevel() {
        // 1000 + 10 + 5 = 1015; keeping 15 leaves 5 each: a level that both largest reach.
        #expect(cuts([("mallory", 1000), ("shop", 10), ("billing", 5)], toFree: 1000) == ["mallory": 995, "shop": 5])
        // 17 kept among three at one level: 6, 6 and 5, the extra to the first in the order.
        #expect(cuts([("a", 30), ("b", 20), ("c", 10)], toFree: 43) == ["a": 24, "b": 14, "c": 5])
        #expect(cuts([("a", 30), ("b", 20), ("c", 10)], toFree: 43).values.reduce(0, +) == 43)
    }

    @Test func tiesGoByNameAndEntriesOfNoNamespaceLast() {
        // 2 kept among three holdings of 4: one each to `a` and `b`, none to no namespace.
        #expect(cuts([(nil, 4), ("b", 4), ("a", 4)], toFree: 10) == ["<none>": 4, "b": 3, "a": 3])
    }

    @Test func theUnknownSendersShareOneHoldingAndComeLastInTies() {
        #expect(cuts([("<unknown>", 4), (nil, 4), ("a", 4)], toFree: 10) == ["<unknown>": 4, "<none>": 3, "a": 3])
        #expect(cuts([("<unknown>", 900), ("shop", 50)], toFree: 100) == ["<unknown>": 100])
    }

    @Test func nothingOrEverything() {
        #expect(cuts([("a", 3)], toFree: 0) == [:])
        #expect(cuts([("a", 3)], toFree: -5) == [:])
        #expect(cuts([], toFree: 5) == [:])
        #expect(cuts([("a", 3), ("b", 0), ("c", 2)], toFree: 9) == ["a": 3, "c": 2])
    }
}
