import Foundation
import SignetPolicy

/// The Overview page: what is in force and the latest verifications.
enum OverviewPage {
    static func html(policies: PolicySet, runs: [VerificationRun]) -> String {
        let now = Date()
        let activeExceptions = policies.exceptions.filter { $0.validUntil > now }.count
        let activeBypasses = policies.bypasses.filter { $0.expiresAt > now }.count
        var out = "<p><a href=\"/policies\">\(policies.policies.count) ClusterImagePolicies</a>, "
        out += "<a href=\"/policies#exceptions\">\(activeExceptions) PolicyExceptions</a> and "
        out += "<a href=\"/policies#bypasses\">\(activeBypasses) EmergencyBypasses</a> in force.</p>"
        let denied = runs.filter { $0.verdict?.outcome == .deny }
        out += "<h2>Verifications in this console</h2><p>\(runs.count) kept, \(denied.count) denied.</p>"
        return out
    }
}
