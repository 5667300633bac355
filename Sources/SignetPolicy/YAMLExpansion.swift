import Yams

/// The size of a YAML document with its aliases expanded. An alias (YAML 1.2 section 3.2.2.2)
/// names a node anchored earlier, and every reader of the composed document (decoding, converting
/// to JSON) walks the node once per alias: a kilobyte of nested aliases, each naming the one
/// before four times, stands for 4^29 nodes, which took `signet review` and `signet lint`
/// minutes and gigabytes before it ran out of memory. Kubernetes reads YAML with a limit of the
/// same kind (sigs.k8s.io/yaml refuses excessive aliasing); signet counts the nodes the
/// documents of a file stand for together and refuses it beyond ``maximumNodes``, before
/// anything walks them.
///
/// Composing is cheap, since an alias shares its anchor's node (Yams' `Node` values are
/// copy-on-write); only the walk is bounded here.
public enum YAMLExpansion {
    /// The most nodes a document may stand for: far beyond any policy, workload or kubeconfig
    /// (a Deployment of fifty containers is a few thousand).
    public static let maximumNodes = 1_000_000

    /// Why a document was refused.
    public struct TooLarge: Error, CustomStringConvertible, Sendable {
        public let limit: Int
        public var description: String {
            "the YAML stands for more than \(limit) nodes once its aliases are expanded (anchors and aliases that nest)"
        }
    }

    /// Throws ``TooLarge`` when `node`, its aliases expanded, has more than `limit` nodes. Stops
    /// counting at the limit, so it costs at most `limit` steps whatever the document.
    public static func check(_ node: Node, limit: Int = maximumNodes) throws(TooLarge) {
        var budget = Budget(limit: limit)
        try budget.spend(on: node)
    }

    /// The nodes the documents of one file or stream may stand for together: a file of a
    /// hundred documents, each just within the limit, would otherwise stand for a hundred times it.
    public struct Budget: Sendable {
        public let limit: Int
        public private(set) var spent = 0

        public init(limit: Int = YAMLExpansion.maximumNodes) {
            self.limit = limit
        }

        /// Counts `node`'s nodes, its aliases expanded; throws ``TooLarge`` once the documents
        /// counted so far stand for more than the limit.
        public mutating func spend(on node: Node) throws(TooLarge) {
            var pending = [node]
            while let next = pending.popLast() {
                spent += 1
                guard spent <= limit else { throw TooLarge(limit: limit) }
                switch next {
                case .scalar, .alias:
                    continue
                case .sequence(let sequence):
                    pending.append(contentsOf: sequence)
                case .mapping(let mapping):
                    for (key, value) in mapping {
                        pending.append(key)
                        pending.append(value)
                    }
                }
            }
        }
    }
}
