import Foundation

/// The metric names a PromQL expression reads: string literals, label matchers (`{…}`), range
/// and subquery selectors (`[…]`), grouping clauses (`by (…)`, `without (…)`, `on (…)`,
/// `ignoring (…)`, `group_left (…)`, `group_right (…)`), function names (an identifier followed
/// by `(`), keywords and numbers are not metric names (Prometheus, "Querying basics").
enum PromQLMetricNames {
    static let keywords: Set<String> = ["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"]

    static func names(in expression: String) -> Set<String> {
        var text = removeQuoted(expression)
        text = removeEnclosed(text, open: "{", close: "}")
        text = removeEnclosed(text, open: "[", close: "]")
        for clause in ["by", "without", "on", "ignoring", "group_left", "group_right"] {
            text = text.replacingOccurrences(of: #"\b\#(clause)\s*\([^)]*\)"#, with: " ", options: .regularExpression)
        }
        var names: Set<String> = []
        let pattern = try! NSRegularExpression(pattern: #"[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?"#)
        for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            let token = String(text[Range(match.range, in: text)!])
            guard !token.hasSuffix("(") else { continue }
            // An exponent such as the `e` of 1e-9 is part of a number.
            if let start = Range(match.range, in: text)?.lowerBound, start > text.startIndex,
               text[text.index(before: start)].isNumber { continue }
            guard !keywords.contains(token.lowercased()) else { continue }
            names.insert(token)
        }
        return names
    }

    private static func removeQuoted(_ text: String) -> String {
        text.replacingOccurrences(of: #""(\\.|[^"\\])*""#, with: "\"\"", options: .regularExpression)
    }

    private static func removeEnclosed(_ text: String, open: Character, close: Character) -> String {
        var result = ""
        var depth = 0
        for character in text {
            if character == open { depth += 1; continue }
            if character == close { depth = max(0, depth - 1); continue }
            if depth == 0 { result.append(character) }
        }
        return result
    }
}
