import SignetTestSupport
import Testing
import Yams
@testable import SignetPolicy

/// Aliases that nest are refused before anything walks the document they stand for: a policy
/// file of a kilobyte with such a block under a field decoded as free-form values (an
/// attestation requirement's) took `signet lint` and a policy directory's reload a minute and
/// hundreds of megabytes per level more.
@Suite struct YAMLExpansionTests {
    @Test func theExpandedSizeIsCountedUpToTheLimit() throws {
        let text = "m:\n" + YAMLAliasBomb.mapping(depth: 6, indent: 2)
        let node = try #require(try Parser(yaml: text).singleRoot())
        let nodes = 2 + YAMLAliasBomb.expandedNodes(depth: 6)
        try YAMLExpansion.check(node, limit: nodes)
        #expect(throws: YAMLExpansion.TooLarge.self) { try YAMLExpansion.check(node, limit: nodes - 1) }
        // Aliases of a small node are fine: only what they stand for counts.
        try YAMLExpansion.check(try #require(try Parser(yaml: "a: &x {k: v}\nb: *x\nc: *x\n").singleRoot()), limit: 13)
    }

    @Test(.timeLimit(.minutes(5))) func aPolicyOfNestedAliasesIsRefusedAsInvalidYAML() throws {
        let policy = policyYAML(name: "bomb", authorities: """
                - name: attested
                  attestations:
            \(YAMLAliasBomb.mapping(depth: 10, indent: 6))

            """)
        #expect(YAMLAliasBomb.expandedNodes(depth: 10) > YAMLExpansion.maximumNodes)
        let error = #expect(throws: PolicyLoadError.self) { try load(["bomb.yaml": policy]) }
        #expect(error?.code == .invalidYAML, "\(String(describing: error))")
        #expect(error?.description.contains("stands for more than 1000000 nodes once its aliases are expanded") == true, "\(String(describing: error))")

        // Documents each within the limit count together: a file of many is refused all the same.
        let document = "a: [" + Array(repeating: "x", count: 20).joined(separator: ", ") + "]\n" + YAMLAliasBomb.mapping(depth: 8, indent: 0)
        let nodes = 4 + 20 + YAMLAliasBomb.expandedNodes(depth: 8) - 1
        #expect(nodes < YAMLExpansion.maximumNodes && nodes * 20 > YAMLExpansion.maximumNodes)
        var budget = YAMLExpansion.Budget()
        let parser = try Parser(yaml: Array(repeating: document, count: 20).joined(separator: "\n---\n"))
        let refused = #expect(throws: YAMLExpansion.TooLarge.self) {
            while let node = try parser.nextRoot() { try budget.spend(on: node) }
        }
        #expect(refused != nil && budget.spent > YAMLExpansion.maximumNodes)

        // And so does a policy file of many documents.
        let policies = (0..<20).map { index in
            policyYAML(name: "bomb-\(index)", authorities: """
                    - name: attested
                      attestations:
                \(YAMLAliasBomb.mapping(depth: 8, indent: 6))

                """)
        }.joined(separator: "\n---\n")
        let many = #expect(throws: PolicyLoadError.self) { try load(["many.yaml": policies]) }
        #expect(many?.description.contains("stands for more than 1000000 nodes") == true, "\(String(describing: many))")
    }
}
