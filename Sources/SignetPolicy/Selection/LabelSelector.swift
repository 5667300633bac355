/// A Kubernetes `metav1.LabelSelector` (API conventions, "Label selector operators"):
/// `matchLabels` and `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`, all ANDed.
/// An empty selector matches everything.
public struct LabelSelector: Sendable, Hashable, Codable {
    public var matchLabels: [String: String]?
    public var matchExpressions: [Requirement]?

    public init(matchLabels: [String: String]? = nil, matchExpressions: [Requirement]? = nil) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    /// One `matchExpressions` entry.
    public struct Requirement: Sendable, Hashable, Codable {
        public var key: String
        public var `operator`: Operator
        public var values: [String]?

        public init(key: String, operator: Operator, values: [String]? = nil) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }
    }

    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    public enum Operator: String, Sendable, Hashable, Codable, CaseIterable {
        case `in` = "In"
        case notIn = "NotIn"
        case exists = "Exists"
        case doesNotExist = "DoesNotExist"
    }

    /// Why the selector is invalid (`In`/`NotIn` need values, `Exists`/`DoesNotExist` take none),
    /// or `nil`.
    public var problem: String? {
        for (index, requirement) in (matchExpressions ?? []).enumerated() {
            let values = requirement.values ?? []
            switch requirement.operator {
            case .in, .notIn:
                if values.isEmpty { return "matchExpressions[\(index)]: operator \(requirement.operator.rawValue) needs at least one value" }
            case .exists, .doesNotExist:
                if !values.isEmpty { return "matchExpressions[\(index)]: operator \(requirement.operator.rawValue) takes no values" }
            }
            if requirement.key.isEmpty { return "matchExpressions[\(index)].key must not be empty" }
        }
        return nil
    }

    /// Whether `labels` satisfy every requirement.
    public func matches(_ labels: [String: String]) -> Bool {
        for (key, value) in matchLabels ?? [:] where labels[key] != value {
            return false
        }
        for requirement in matchExpressions ?? [] {
            let value = labels[requirement.key]
            let values = requirement.values ?? []
            switch requirement.operator {
            case .in: if value.map({ values.contains($0) }) != true { return false }
            case .notIn: if let value, values.contains(value) { return false }
            case .exists: if value == nil { return false }
            case .doesNotExist: if value != nil { return false }
            }
        }
        return true
    }
}
