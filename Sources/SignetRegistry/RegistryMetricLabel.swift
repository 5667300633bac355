import NIOConcurrencyHelpers

/// The `registry` label of the registry metrics, bounded: the first ``capacity`` registries
/// signet talks to keep their name, any further one is counted as `other`. Which registries
/// signet contacts follows from the images of the reviews it receives, so an unbounded label
/// would let whoever can post reviews grow `/metrics` and the process without limit
/// (Prometheus, "Instrumentation: use labels with care").
public final class RegistryMetricLabel: Sendable {
    /// The process's labels.
    public static let shared = RegistryMetricLabel()

    /// How many registries keep their own label value.
    public let capacity: Int
    private let named = NIOLockedValueBox<Set<String>>([])

    public init(capacity: Int = 64) {
        self.capacity = capacity
    }

    /// The label value for `registry`: its name while there is room, else `other`.
    public func label(for registry: String) -> String {
        named.withLockedValue { named in
            if named.contains(registry) { return registry }
            guard named.count < capacity else { return "other" }
            named.insert(registry)
            return registry
        }
    }
}
