import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing
@testable import SignetAdmission
@testable import SignetPolicy

/// Keeps every log line in memory (a `Logger` made with it, no global bootstrap).
final class MemoryLogHandler: LogHandler, Sendable {
    private let lines = NIOLockedValueBox<[(Logger.Level, String, Logger.Metadata)]>([])
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }
    func log(event: LogEvent) {
        lines.withLockedValue { $0.append((event.level, "\(event.message)", event.metadata ?? [:])) }
    }
    var all: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] { lines.withLockedValue { $0.map { ($0.0, $0.1, $0.2) } } }
}

/// The namespace opt-out label under signet's control (issue 16, "Opt-out under control"):
/// signet honours it itself (counted, logged, audited), and only the configured group may add,
/// change or remove it on a Namespace.
@Suite("Namespace opt-out")
struct NamespaceOptOutTests {
    static let label = ExemptionConfiguration.defaultOptOutLabel
    static let group = "platform-security"

    static func namespace(_ name: String, labels: [String: String]) -> String {
        let text = labels.sorted { $0.key < $1.key }.map { #""\#($0.key)":"\#($0.value)""# }.joined(separator: ",")
        return #"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"\#(name)","labels":{"kubernetes.io/metadata.name":"\#(name)"\#(text.isEmpty ? "" : ",")\#(text)}},"spec":{"finalizers":["kubernetes"]}}"#
    }

    /// A Namespace review from `user` in `groups`.
    static func namespaceReview(
        operation: String, object: String?, oldObject: String? = nil, user: String, groups: [String], subResource: String? = nil
    ) -> [UInt8] {
        let groupList = groups.map { #""\#($0)""# }.joined(separator: ",")
        let sub = subResource.map { #""subResource":"\#($0)","# } ?? ""
        return Array(#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"ns-1","kind":{"group":"","version":"v1","kind":"Namespace"},"resource":{"group":"","version":"v1","resource":"namespaces"},\#(sub)"name":"sandbox","operation":"\#(operation)","userInfo":{"username":"\#(user)","groups":[\#(groupList)]},"object":\#(object ?? "null"),"oldObject":\#(oldObject ?? "null"),"dryRun":false}}"#.utf8)
    }

    static func responder(
        group: String? = Self.group, guarded: [String] = [], sink: MemoryAuditSink? = nil, log: MemoryLogHandler? = nil
    ) throws -> AdmissionResponder {
        let logger = log.map { handler in Logger(label: "test") { _ in handler } } ?? Logger(label: "test")
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: try testPolicies()), logger: logger)
        responder.namespaceOptOut = NamespaceOptOutRule(label: label, group: group, guardedLabels: guarded)
        responder.auditSink = sink
        return responder
    }

    static func decide(_ responder: AdmissionResponder, _ body: [UInt8]) async throws -> AdmissionResponse {
        try decodeResponse(await responder.respond(to: body, deadline: farDeadline))
    }

    @Test func aUserOutsideTheGroupCannotOptANamespaceOut() async throws {
        let sink = MemoryAuditSink()
        let responder = try Self.responder(sink: sink)
        let labelled = Self.namespace("sandbox", labels: [Self.label: "true"])
        for (operation, old) in [("CREATE", nil as String?), ("UPDATE", Self.namespace("sandbox", labels: [:]))] {
            let response = try await Self.decide(responder, Self.namespaceReview(
                operation: operation, object: labelled, oldObject: old, user: "tenant-admin", groups: ["tenants", "system:authenticated"]))
            #expect(!response.allowed, "\(operation)")
            #expect(response.status?.code == 403)
            #expect(response.status?.message == #"signet denied Namespace "sandbox": adding the label signet.dev/exclude="true" (which opts the namespace out of image signature checks) is allowed only to members of the group "platform-security" (--namespace-opt-out-group); user "tenant-admin" is not one"#)
        }
        #expect(sink.all.count == 2 && sink.all.allSatisfy { !$0.allowed && $0.reason?.contains("platform-security") == true })
    }

    /// A Namespace review is read whole, so one of a million tiny objects (anyone who reaches
    /// the webhook can post one) is refused unread rather than built into gigabytes; a
    /// ClusterImagePolicy review, read whole too, the same.
    @Test func aReviewOfTooManyObjectsIsRefusedUnread() async throws {
        let responder = try Self.responder()
        let filler = "[" + Array(repeating: #"{"":0}"#, count: 20_000).joined(separator: ",") + "]"
        let bloated = Self.namespace("sandbox", labels: [:]).replacingOccurrences(of: #""spec":{"#, with: #""filler":\#(filler),"spec":{"#)
        let response = try await Self.decide(responder, Self.namespaceReview(operation: "CREATE", object: bloated, user: "tenant-admin", groups: []))
        #expect(!response.allowed)
        #expect(response.status?.message == #"signet denied Namespace "sandbox": the review was refused unread: the document holds more than 10000 JSON objects and arrays; it was refused unread"#,
                "\(response.status?.message ?? "")")
        // Within the limits, the same review is read.
        let normal = try await Self.decide(responder, Self.namespaceReview(
            operation: "CREATE", object: Self.namespace("sandbox", labels: [:]), user: "tenant-admin", groups: []))
        #expect(normal.allowed)

        let policy = #"{"apiVersion":"signet.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"p","filler":\#(filler)},"spec":{"images":[{"glob":"ghcr.io/**"}],"authorities":[{"static":{"action":"pass"}}]}}"#
        let review = Array(#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"p-1","kind":{"group":"signet.dev","version":"v1alpha1","kind":"ClusterImagePolicy"},"resource":{"group":"signet.dev","version":"v1alpha1","resource":"clusterimagepolicies"},"name":"p","operation":"CREATE","userInfo":{"username":"admin"},"object":\#(policy)}}"#.utf8)
        let refused = try await Self.decide(responder, review)
        #expect(!refused.allowed)
        #expect(refused.status?.message?.contains("the review was refused unread") == true, "\(refused.status?.message ?? "")")
    }

    @Test func removingOrChangingTheLabelIsRefusedToo() async throws {
        let responder = try Self.responder()
        let optedOut = Self.namespace("sandbox", labels: [Self.label: "true"])
        let removed = try await Self.decide(responder, Self.namespaceReview(
            operation: "UPDATE", object: Self.namespace("sandbox", labels: [:]), oldObject: optedOut, user: "tenant-admin", groups: ["tenants"]))
        #expect(!removed.allowed)
        #expect(removed.status?.message?.contains(#"removing the label signet.dev/exclude="true""#) == true)
        let changed = try await Self.decide(responder, Self.namespaceReview(
            operation: "UPDATE", object: Self.namespace("sandbox", labels: [Self.label: "yes"]), oldObject: Self.namespace("sandbox", labels: [Self.label: "false"]),
            user: "tenant-admin", groups: ["tenants"]))
        #expect(!changed.allowed)
        #expect(changed.status?.message?.contains(#"from "false" to "yes""#) == true)
        // Through the status subresource as well: the label is compared whatever the path.
        let viaStatus = try await Self.decide(responder, Self.namespaceReview(
            operation: "UPDATE", object: optedOut, oldObject: Self.namespace("sandbox", labels: [:]), user: "tenant-admin", groups: ["tenants"],
            subResource: "status"))
        #expect(!viaStatus.allowed)
    }

    @Test func aMemberOfTheGroupMayAndItIsRecorded() async throws {
        let sink = MemoryAuditSink()
        let log = MemoryLogHandler()
        let responder = try Self.responder(sink: sink, log: log)
        let response = try await Self.decide(responder, Self.namespaceReview(
            operation: "UPDATE", object: Self.namespace("sandbox", labels: [Self.label: "true"]), oldObject: Self.namespace("sandbox", labels: [:]),
            user: "alice", groups: ["platform-security", "system:authenticated"]))
        #expect(response.allowed)
        #expect(response.warnings?.first?.contains(#"by "alice", a member of "platform-security""#) == true)
        #expect(response.auditAnnotations?["namespace-opt-out-change"]?.hasPrefix("adding the label signet.dev/exclude=\"true\"") == true)
        let record = try #require(sink.all.first)
        #expect(record.allowed && record.user == "alice" && record.reason?.contains("platform-security") == true)
        #expect(log.all.contains { $0.level == .notice && $0.message == "namespace opt-out label changed" && $0.metadata["user"] == "alice" })
    }

    @Test func withoutAGroupNobodyMay() async throws {
        let response = try await Self.decide(try Self.responder(group: nil), Self.namespaceReview(
            operation: "CREATE", object: Self.namespace("sandbox", labels: [Self.label: "true"]), user: "cluster-admin", groups: ["system:masters"]))
        #expect(!response.allowed)
        #expect(response.status?.message?.hasSuffix("is allowed to no one: no group is configured (--namespace-opt-out-group)") == true)
    }

    /// A label a policy's namespace selector reads, guarded (`--guarded-namespace-labels`): a
    /// tenant cannot remove it to take the namespace out of the policy, nor add or change it; the
    /// group may; other labels stay free.
    @Test func guardedLabelsAreUnderTheSameRule() async throws {
        let log = MemoryLogHandler()
        let responder = try Self.responder(guarded: ["environment", Self.label], log: log)
        let production = Self.namespace("sandbox", labels: ["environment": "production", "team": "a"])
        let removed = try await Self.decide(responder, Self.namespaceReview(
            operation: "UPDATE", object: Self.namespace("sandbox", labels: ["team": "a"]), oldObject: production,
            user: "tenant-admin", groups: ["tenants"]))
        #expect(!removed.allowed)
        #expect(removed.status?.message == #"signet denied Namespace "sandbox": removing the label environment="production" (which ClusterImagePolicy namespace selectors read; guarded by --guarded-namespace-labels) is allowed only to members of the group "platform-security" (--namespace-opt-out-group); user "tenant-admin" is not one"#)
        #expect(removed.auditAnnotations?["namespace-guarded-label-change"]?.hasPrefix(#"removing the label environment="production""#) == true)
        #expect(log.all.contains { $0.level == .warning && $0.message == "namespace guarded label change refused" && $0.metadata["label"] == "environment" })
        // Through the finalize subresource as well.
        let viaFinalize = try await Self.decide(responder, Self.namespaceReview(
            operation: "UPDATE", object: Self.namespace("sandbox", labels: ["environment": "staging", "team": "a"]), oldObject: production,
            user: "tenant-admin", groups: ["tenants"], subResource: "finalize"))
        #expect(!viaFinalize.allowed)
        #expect(viaFinalize.status?.message?.contains(#"changing the label environment (which ClusterImagePolicy namespace selectors read; guarded by --guarded-namespace-labels) from "production" to "staging""#) == true)
        // Other labels are free; so is the guarded label left as it was.
        let team = try await Self.decide(responder, Self.namespaceReview(
            operation: "UPDATE", object: Self.namespace("sandbox", labels: ["environment": "production", "team": "b"]), oldObject: production,
            user: "tenant-admin", groups: ["tenants"]))
        #expect(team.allowed && team.warnings == nil)
        // A new namespace with the label, by a tenant: refused (CREATE compares with nothing).
        let created = try await Self.decide(responder, Self.namespaceReview(
            operation: "CREATE", object: production, user: "tenant-admin", groups: ["tenants"]))
        #expect(!created.allowed)
        // The group may, and is told what follows.
        let approved = try await Self.decide(responder, Self.namespaceReview(
            operation: "UPDATE", object: Self.namespace("sandbox", labels: ["team": "a"]), oldObject: production,
            user: "alice", groups: ["platform-security"]))
        #expect(approved.allowed)
        #expect(approved.warnings?.first?.hasSuffix("the policies whose namespace selectors read it apply to the namespace as its new labels say") == true)
        // Both at once: the opt-out label is named first, and both changes are said.
        let both = try await Self.decide(responder, Self.namespaceReview(
            operation: "UPDATE", object: Self.namespace("sandbox", labels: [Self.label: "true", "team": "a"]), oldObject: production,
            user: "tenant-admin", groups: ["tenants"]))
        #expect(!both.allowed)
        let message = both.status?.message ?? ""
        #expect(message.contains(#"adding the label signet.dev/exclude="true""#) && message.contains(#"removing the label environment="production""#), "\(message)")
        #expect(both.auditAnnotations?["namespace-opt-out-change"] != nil)
    }

    /// Everything else about namespaces stays as it was: other labels, an opted-out namespace
    /// updated without touching the label, deletion.
    @Test func otherNamespaceChangesAreNotAffected() async throws {
        let responder = try Self.responder()
        let created = try await Self.decide(responder, Self.namespaceReview(
            operation: "CREATE", object: Self.namespace("sandbox", labels: ["team": "a"]), user: "tenant-admin", groups: ["tenants"]))
        #expect(created.allowed && created.warnings == nil)
        let optedOut = Self.namespace("sandbox", labels: [Self.label: "true"])
        let relabelled = try await Self.decide(responder, Self.namespaceReview(
            operation: "UPDATE", object: Self.namespace("sandbox", labels: [Self.label: "true", "team": "b"]), oldObject: optedOut,
            user: "tenant-admin", groups: ["tenants"]))
        #expect(relabelled.allowed)
        let deleted = try await Self.decide(responder, Self.namespaceReview(
            operation: "DELETE", object: nil, oldObject: optedOut, user: "tenant-admin", groups: ["tenants"]))
        #expect(deleted.allowed)
    }

    /// A pod in an opted-out namespace is admitted unevaluated, and that is never silent: the
    /// response's audit annotation, the audit record and a notice line say so.
    @Test func aPodInAnOptedOutNamespaceIsAdmittedAndRecorded() async throws {
        let sink = MemoryAuditSink()
        let log = MemoryLogHandler()
        var responder = try Self.responder(sink: sink, log: log)
        responder.namespaceLabels = { $0 == "sandbox" ? [Self.label: "true"] : [:] }
        let pod = WorkloadFixture.all[0].wrap(podSpec(containers: [("web", deniedImage)]))
        let response = try await Self.decide(responder, review(kind: "Pod", resource: "pods", namespace: "sandbox", object: pod))
        #expect(response.allowed)
        #expect(response.auditAnnotations?["namespace-opt-out"] == "signet.dev/exclude=true")
        let record = try #require(sink.all.first)
        #expect(record.namespaceOptOut == "signet.dev/exclude=true")
        #expect(record.jsonLine.contains(#""namespaceOptOut":"signet.dev/exclude=true""#))
        #expect(record.images.first?.reason.contains(#"namespace "sandbox" is opted out of signet"#) == true)
        let line = try #require(log.all.first { $0.message == "namespace opted out: admitted without image checks" })
        #expect(line.level == .notice && line.metadata["namespace"] == "sandbox" && line.metadata["user"] == "admin@example.com")

        // The same pod elsewhere is denied: the label, not the pod, made the difference.
        let elsewhere = try await Self.decide(responder, review(kind: "Pod", resource: "pods", namespace: "team", object: pod))
        #expect(!elsewhere.allowed)
        #expect(elsewhere.auditAnnotations?["namespace-opt-out"] == nil)
    }
}
