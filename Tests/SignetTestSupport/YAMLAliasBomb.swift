/// YAML whose anchors and aliases nest (YAML 1.2 section 3.2.2.2): each of `depth` lines names
/// the one before four times, so about a hundred bytes per line stand for 4^depth nodes once
/// expanded. `indent` spaces start each line: the lines form one block mapping (`a0:` to
/// `a<depth - 1>:`) to place under a key.
public enum YAMLAliasBomb {
    public static func mapping(depth: Int, indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        var lines = ["\(pad)a0: &a0 [x, x, x, x]"]
        for level in 1..<depth {
            let previous = "*a\(level - 1)"
            lines.append("\(pad)a\(level): &a\(level) [\(previous), \(previous), \(previous), \(previous)]")
        }
        return lines.joined(separator: "\n")
    }

    /// How many nodes `mapping(depth:indent:)` stands for: the mapping, each key, and each value
    /// expanded (a sequence and its four elements, each element the sequence before it).
    public static func expandedNodes(depth: Int) -> Int {
        (0..<depth).reduce(1) { total, level in
            total + 1 + sequenceNodes(level: level)
        }
    }

    private static func sequenceNodes(level: Int) -> Int {
        level == 0 ? 5 : 1 + 4 * sequenceNodes(level: level - 1)
    }
}
