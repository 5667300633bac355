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

