import SignetRegistry
import Testing

/// The registry metrics' `registry` label takes a bounded set of values.
struct RegistryMetricLabelTests {
    @Test func registriesBeyondTheCapacityAreOther() {
        let labels = BoundedMetricLabel(capacity: 3)
        #expect(labels.label(for: "ghcr.io") == "ghcr.io")
        #expect(labels.label(for: "registry.k8s.io") == "registry.k8s.io")
        #expect(labels.label(for: "quay.io") == "quay.io")
        let values = Set((0..<1000).map { labels.label(for: "r\($0).example") })
        #expect(values == ["other"])
        // Those named first keep their name.
        #expect(labels.label(for: "ghcr.io") == "ghcr.io")
    }
}

/// The `exception` and `bypass` labels of the exemption-use counters: names of cluster
/// resources, but whoever may write exceptions in a namespace can make, use and delete them
/// under new names without end, each name a series for the life of the process.
struct ExemptionMetricLabelTests {
    @Test func exemptionsBeyondTheCapacityAreOther() {
        let labels = BoundedMetricLabel(capacity: 512)
        let values = Set((0..<5_000).map { labels.label(for: "team-\($0 % 50)/vendor-\($0)") })
        #expect(values.count == 513 && values.contains("other"))
    }
}
