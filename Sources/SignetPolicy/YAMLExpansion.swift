import Yams

/// The size of a YAML document with its aliases expanded. An alias (YAML 1.2 section 3.2.2.2)
/// names a node anchored earlier, and every reader of the composed document (decoding, converting
/// to JSON) walks the node once per alias: a kilobyte of nested aliases, each naming the one
/// before four times, stands for 4^29 nodes, which took `signet review` and `signet lint`
/// minutes and gigabytes before it ran out of memory. Kubernetes reads YAML with a limit of the
/// same kind (sigs.k8s.io/yaml refuses excessive aliasing); signet counts the nodes the
/// document stands for and refuses it beyond ``maximumNodes``, before anything walks it.
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
            "the YAML document stands for more than \(limit) nodes once its aliases are expanded (anchors and aliases that nest)"
        }
    }

    /// Throws ``TooLarge`` when `node`, its aliases expanded, has more than `limit` nodes. Stops
    /// counting at the limit, so it costs at most `limit` steps whatever the document.
    public static func check(_ node: Node, limit: Int = maximumNodes) throws(TooLarge) {
        var pending = [node]
        var count = 0
        while let next = pending.popLast() {
            count += 1
            guard count <= limit else { throw TooLarge(limit: limit) }
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
