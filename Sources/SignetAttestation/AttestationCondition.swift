import Foundation

/// A declarative condition on an attestation's predicate, as a policy writes it: a check (a
/// ``PredicatePath``, an ``Operator`` and a value), or an `allOf` / `anyOf` group of conditions.
///
/// ```yaml
/// conditions:                       # all must hold
///   - path: buildDefinition.externalParameters.workflow.repository
///     operator: equals
///     value: https://github.com/example/app
///   - anyOf:
///       - {path: buildDefinition.externalParameters.workflow.ref, operator: equals, value: refs/heads/main}
///       - {path: buildDefinition.externalParameters.workflow.ref, operator: matches, value: "refs/tags/v.*"}
/// ```
///
/// A path that reaches several values (`*`) passes a check when any of them does; the negative
/// operators (`notEquals`, `notIn`, `exists: false`) pass only when none of them is the value.
/// With `every: true` a check holds only when the path reaches at least one value and every
/// value it reaches passes (`…CVSS.*.V3Score lessThan 7` for every score, not for one).
public indirect enum AttestationCondition: Sendable, Hashable {
    case check(path: PredicatePath, operator: Operator, value: AttestationValue, every: Bool = false)
    case allOf([AttestationCondition])
    case anyOf([AttestationCondition])

    /// The operators of a check.
    public enum Operator: String, Sendable, Hashable, CaseIterable {
        case equals, notEquals, `in`, notIn, matches, exists
        case greaterThan, greaterThanOrEqual, lessThan, lessThanOrEqual
        /// The value at the path is an RFC 3339 date no older than the duration (`168h`, `7d`),
        /// and no more than five minutes past the clock.
        case notOlderThan
    }

    /// Every path the condition reads: what a verified attestation keeps for it.
    public var paths: Set<PredicatePath> {
        switch self {
        case .check(let path, _, _, _): [path]
        case .allOf(let conditions), .anyOf(let conditions): conditions.reduce(into: []) { $0.formUnion($1.paths) }
        }
    }

    /// Parses a condition as written (a check, or one `allOf` / `anyOf` member). `field` names
    /// its place in the policy for errors.
    public init(parsing value: AttestationValue, field: String) throws(AttestationError) {
        guard case .object(let members) = value else { throw AttestationError("\(field): a condition is an object") }
        if let group = members["allOf"] ?? members["anyOf"] {
            let name = members["allOf"] != nil ? "allOf" : "anyOf"
            guard members.count == 1 else { throw AttestationError("\(field): a group has only \(name)") }
            let conditions = try Self.parseList(group, field: "\(field).\(name)")
            self = name == "allOf" ? .allOf(conditions) : .anyOf(conditions)
            return
        }
        let unknown = Set(members.keys).subtracting(["path", "operator", "value", "every"])
        guard unknown.isEmpty else { throw AttestationError("\(field): unknown field(s) \(unknown.sorted().joined(separator: ", "))") }
        guard case .string(let text)? = members["path"], let path = PredicatePath(text) else {
            throw AttestationError("\(field).path: a dotted path into the predicate is required")
        }
        guard case .string(let name)? = members["operator"], let op = Operator(rawValue: name) else {
            throw AttestationError("\(field).operator: one of \(Operator.allCases.map(\.rawValue).joined(separator: ", ")) is required")
        }
        let operand = members["value"]
        switch op {
        case .exists:
            guard operand == nil || operand?.scalar == .bool(true) || operand?.scalar == .bool(false) else {
                throw AttestationError("\(field).value: exists takes true, false or no value")
            }
        case .equals, .notEquals:
            guard let operand, operand.scalar != .array, operand.scalar != .object else {
                throw AttestationError("\(field).value: \(name) compares with a string, number, boolean or null")
            }
        case .in, .notIn:
            guard case .array(let list)? = operand, !list.isEmpty, list.allSatisfy({ $0.scalar != .array && $0.scalar != .object }) else {
                throw AttestationError("\(field).value: \(name) takes a non-empty list of strings, numbers or booleans")
            }
        case .matches:
            guard case .string(let pattern)? = operand, (try? Regex(pattern)) != nil else {
                throw AttestationError("\(field).value: matches takes a valid regular expression")
            }
        case .greaterThan, .greaterThanOrEqual, .lessThan, .lessThanOrEqual:
            guard case .number? = operand else { throw AttestationError("\(field).value: \(name) takes a number") }
        case .notOlderThan:
            guard case .string(let text)? = operand, Self.duration(text) != nil else {
                throw AttestationError("\(field).value: notOlderThan takes a duration such as 168h, 7d or 1h30m")
            }
        }
        var every = false
        if let quantifier = members["every"] {
            guard case .bool(let flag) = quantifier.scalar else { throw AttestationError("\(field).every: true or false") }
            // Whether a path reaches values is one answer, not one per value.
            guard !flag || op != .exists else { throw AttestationError("\(field).every: exists asks whether the path reaches a value; every does not apply") }
            every = flag
        }
        self = .check(path: path, operator: op, value: operand ?? .bool(true), every: every)
    }

    /// Parses a list of conditions (all must hold).
    public static func parseList(_ value: AttestationValue, field: String) throws(AttestationError) -> [AttestationCondition] {
        guard case .array(let entries) = value, !entries.isEmpty else { throw AttestationError("\(field): a non-empty list of conditions is required") }
        var conditions: [AttestationCondition] = []
        for (index, entry) in entries.enumerated() {
            conditions.append(try AttestationCondition(parsing: entry, field: "\(field)[\(index)]"))
        }
        return conditions
    }

    /// The seconds a duration such as `168h`, `7d`, `30m`, `90s` or `1h30m` stands for; nil
    /// when it is not one, or is zero.
    public static func duration(_ text: String) -> Double? {
        var total = 0.0
        var digits = ""
        var units = 0
        for character in text {
            if character.isASCII, character.isNumber {
                digits.append(character)
                continue
            }
            guard let amount = Double(digits) else { return nil }
            switch character {
            case "d": total += amount * 86_400
            case "h": total += amount * 3_600
            case "m": total += amount * 60
            case "s": total += amount
            default: return nil
            }
            digits = ""
            units += 1
        }
        guard digits.isEmpty, units > 0, total > 0 else { return nil }
        return total
    }
}
