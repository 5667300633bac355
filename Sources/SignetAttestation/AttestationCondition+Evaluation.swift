import Foundation

extension AttestationCondition {
    /// Why the condition does not hold for `fields` at `now` (`builder.id is https://evil.example,
    /// expected https://github.com/actions/runner`), or nil when it holds.
    public func failure(in fields: PredicateFields, now: Date) -> String? {
        switch self {
        case .allOf(let conditions):
            for condition in conditions {
                if let failure = condition.failure(in: fields, now: now) { return failure }
            }
            return nil
        case .anyOf(let conditions):
            var failures: [String] = []
            for condition in conditions {
                guard let failure = condition.failure(in: fields, now: now) else { return nil }
                failures.append(failure)
            }
            return "none of the anyOf conditions holds: " + failures.joined(separator: "; ")
        case .check(let path, let op, let operand, let every):
            let path = path.description
            if fields.overflowing.contains(path) {
                return "\(path) reaches more than \(PredicatePath.maximumValues) distinct values, too many to check"
            }
            guard every else { return Self.checkFailure(path: path, op: op, operand: operand, fields: fields, now: now) }
            return Self.everyValueFailure(path: path, op: op, operand: operand, fields: fields, now: now)
        }
    }

    /// A check with `every: true`: the path reaches at least one value, and the check holds for
    /// each value alone.
    private static func everyValueFailure(
        path: String, op: Operator, operand: AttestationValue, fields: PredicateFields, now: Date
    ) -> String? {
        let values = fields.values[path] ?? []
        guard !values.isEmpty else { return "\(path) is absent, expected every value of it to be checked" }
        for value in values {
            let alone = PredicateFields(values: [path: [value]])
            if let failure = checkFailure(path: path, op: op, operand: operand, fields: alone, now: now) {
                return "not every value of \(path) holds: \(failure)"
            }
        }
        return nil
    }

    /// A check over every value `path` reaches (``failure(in:now:)`` has refused an overflowing path).
    private static func checkFailure(
        path: String, op: Operator, operand: AttestationValue, fields: PredicateFields, now: Date
    ) -> String? {
        let values = fields.values[path] ?? []
        let actual = values.isEmpty ? "absent" : values.map(\.description).joined(separator: ", ")
        let expected = operand.scalar
        func fail(_ expectation: String) -> String { "\(path) is \(actual), expected \(expectation)" }
        switch op {
        case .exists:
            let wanted = expected != .bool(false)
            if values.isEmpty == !wanted { return nil }
            return wanted ? "\(path) is absent, expected it to exist" : fail("it to be absent")
        case .equals:
            return values.contains(expected) ? nil : fail(expected.description)
        case .notEquals:
            return values.contains(expected) ? fail("not \(expected.description)") : nil
        case .in, .notIn:
            guard case .array(let list) = operand else { return fail("a list") }
            let allowed = list.map(\.scalar)
            let listed = allowed.map(\.description).joined(separator: ", ")
            let hit = values.contains { allowed.contains($0) }
            if op == .in { return hit ? nil : fail("one of \(listed)") }
            return hit ? fail("none of \(listed)") : nil
        case .matches:
            // The whole value, on its Unicode scalars (as keyless identities are matched): an
            // anchored ICU pattern (`^(?:...)$`) also took a value with a line break after
            // what it matched, since ICU's `$` matches before a final line terminator.
            guard case .string(let pattern) = operand, let expression = try? Regex(pattern)
            else { return fail("a valid regular expression") }
            let whole = expression.matchingSemantics(.unicodeScalar)
            let hit = values.contains { value in
                guard case .string(let text) = value else { return false }
                return (try? whole.wholeMatch(in: text)) != nil
            }
            return hit ? nil : fail("to match \(pattern)")
        case .greaterThan, .greaterThanOrEqual, .lessThan, .lessThanOrEqual:
            guard case .number(let bound) = operand else { return fail("a number") }
            let symbol = [Operator.greaterThan: ">", .greaterThanOrEqual: ">=", .lessThan: "<", .lessThanOrEqual: "<="][op]!
            let hit = values.contains { value in
                guard case .number(let number) = value else { return false }
                switch op {
                case .greaterThan: return number > bound
                case .greaterThanOrEqual: return number >= bound
                case .lessThan: return number < bound
                default: return number <= bound
                }
            }
            return hit ? nil : fail("a number \(symbol) \(AttestationScalar.render(bound))")
        case .notOlderThan:
            guard case .string(let text) = operand, let seconds = duration(text) else { return fail("a duration") }
            let oldest = now.addingTimeInterval(-seconds)
            // A date past the clock by more than the tolerance would be fresh for ever.
            let latest = now.addingTimeInterval(Self.futureTolerance)
            var inTheFuture = false
            let hit = values.contains { value in
                guard case .string(let written) = value, let date = Self.date(written) else { return false }
                if date > latest { inTheFuture = true }
                return date >= oldest && date <= latest
            }
            if hit { return nil }
            return fail(inTheFuture
                ? "a date not older than \(text) and not later than \(Self.format(latest)) (a time in the future stays fresh for ever)"
                : "a date not older than \(text) (on or after \(Self.format(oldest)))")
        }
    }

    /// How far past the clock a `notOlderThan` date may be (the signer's clock ahead of signet's):
    /// five minutes, as Kerberos and most TLS stacks allow.
    static let futureTolerance: TimeInterval = 300

    /// An RFC 3339 date-time, with or without fractional seconds.
    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
