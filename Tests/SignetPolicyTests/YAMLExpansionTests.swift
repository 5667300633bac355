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
    }
}
