import SignetRegistry
import Testing

/// A pod's pull secrets as signet reads them: distinct names in order, at most the bound.
struct PullSecretNamesTests {
    @Test func distinctNamesInOrderAtMostTheBound() {
        #expect(PullSecretNames.bounded(["b", "a", "b", "c", "a"]) == (["b", "a", "c"], 0))
        let many = (0..<1_000).map { "s\($0)" } + (0..<1_000).map { "s\($0)" }
        let (names, leftOut) = PullSecretNames.bounded(many)
        #expect(names == (0..<PullSecretNames.maximum).map { "s\($0)" })
        #expect(leftOut == 1_000 - PullSecretNames.maximum)
        #expect(PullSecretNames.bounded([]) == ([], 0))
    }
}
