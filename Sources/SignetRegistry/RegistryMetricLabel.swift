import NIOConcurrencyHelpers

/// A metric label whose values come from outside signet's own code, bounded: the first
/// ``capacity`` values keep their name, any further one is counted as `other`. An unbounded
/// label would let whoever decides its values grow `/metrics` and the process without limit,
/// since a series, once made, lives as long as the process (Prometheus, "Instrumentation: use
/// labels with care").
public final class BoundedMetricLabel: Sendable {
    /// How many values keep their own label value.
    public let capacity: Int
    private let named = NIOLockedValueBox<Set<String>>([])

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// The label value for `value`: itself while there is room, else `other`.
    public func label(for value: String) -> String {
        named.withLockedValue { named in
            if named.contains(value) { return value }
            guard named.count < capacity else { return "other" }
            named.insert(value)
            return value
        }
    }
}

/// The `registry` label of the registry metrics: the first 64 registries signet talks to keep
/// their name. Which registries signet contacts follows from the images of the reviews it
/// receives.
public enum RegistryMetricLabel {
    /// The process's labels.
    public static let shared = BoundedMetricLabel(capacity: 64)
}
