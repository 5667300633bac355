import Testing
@testable import SignetAdmission

/// The `exception` and `bypass` labels of the exemption-use counters: names of cluster
/// resources, but whoever may write exceptions in a namespace can make, use and delete them
/// under new names without end, each name a series for the life of the process. Exceptions and
/// bypasses have tables of their own, so exceptions cannot take the places of bypasses.
struct ExemptionMetricLabelTests {
    @Test func exceptionsBeyondTheCapacityAreOtherAndLeaveBypassesTheirNames() {
        let values = Set((0..<5_000).map { AdmissionResponder.exceptionLabels.label(for: "team-\($0 % 50)/label-test-\($0)") })
        #expect(values.count <= AdmissionResponder.exceptionLabels.capacity + 1 && values.contains("other"))
        #expect(AdmissionResponder.bypassLabels.label(for: "incident-label-test") == "incident-label-test")
    }
}
