import Foundation
import NIOConcurrencyHelpers
import SignetTestSupport
import Testing
@testable import SignetAdmission
@testable import SignetPolicy

/// Collects audit records in memory.
final class MemoryAuditSink: AuditSink {
    private let records = NIOLockedValueBox<[AdmissionAuditRecord]>([])
    func record(_ record: AdmissionAuditRecord) { records.withLockedValue { $0.append(record) } }
    var all: [AdmissionAuditRecord] { records.withLockedValue { $0 } }
}

/// signet's own resources at admission, exemptions in responses and audit records.
struct ResourceAdmissionTests {
    static let now = KubernetesTime.parse("2026-11-22T10:00:00Z")!
    static let rules = ExemptionConfiguration(clock: .fixed(now))

    static func responder(_ set: PolicySet = .empty, sink: MemoryAuditSink? = nil, labels: [String: String]? = nil) -> AdmissionResponder {
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: set, exemptions: rules))
        responder.resourceValidator = SignetResourceValidator(configuration: rules)
        responder.auditSink = sink
        if let labels { responder.namespaceLabels = { _ in labels } }
        return responder
    }

    static func exceptionJSON(validUntil: String?) -> String {
        let until = validUntil.map { #","validUntil":"\#($0)""# } ?? ""
        return #"{"apiVersion":"signet.dev/v1alpha1","kind":"PolicyException","metadata":{"name":"vendor","namespace":"team","uid":"1","creationTimestamp":"2026-11-22T09:00:00Z"},"spec":{"policies":["deny-untrusted"],"reason":"vendor image","approvedBy":"alice"\#(until)}}"#
    }

    static func bypassJSON(expiresAt: String) -> String {
        #"{"apiVersion":"signet.dev/v1alpha1","kind":"EmergencyBypass","metadata":{"name":"incident-1"},"spec":{"allNamespaces":true,"reason":"outage","requestedBy":"oncall","expiresAt":"\#(expiresAt)"}}"#
    }

    /// `/validate`'s answer, after `/mutate` stamped the object (as the API server calls them)
    /// unless `mutate` is false.
    static func respond(
        _ responder: AdmissionResponder, kind: String, resource: String, object: String, oldObject: String? = nil,
        operation: String = "CREATE", namespace: String? = "team", dryRun: Bool = false, mutate: Bool = true,
        client: AdmissionClient = AdmissionClient()
    ) async throws -> AdmissionResponse {
        func body(_ object: String) -> [UInt8] {
            review(kind: kind, group: "signet.dev", version: "v1alpha1", resource: resource, name: "vendor",
                   namespace: namespace, operation: operation, object: object, oldObject: oldObject, dryRun: dryRun)
        }
        let stamped = mutate ? try await Self.mutated(responder, body(object), object: object) : object
        return try decodeResponse(await responder.respond(to: body(stamped), deadline: farDeadline, client: client))
    }

    /// `object` with the JSON Patch `/mutate` answers for `body` applied (the `add` and `remove`
    /// operations on object members it uses).
    static func mutated(_ responder: AdmissionResponder, _ body: [UInt8], object: String) async throws -> String {
        let response = try decodeResponse(await responder.respondToMutation(body, deadline: farDeadline))
        #expect(response.allowed)
        guard let patch = response.patch else { return object }
        var document = try #require(try JSONSerialization.jsonObject(with: Data(object.utf8)) as? [String: Any])
        let operations = try #require(try JSONSerialization.jsonObject(with: patch) as? [[String: Any]])
        func apply(_ node: [String: Any], _ path: ArraySlice<String>, _ op: String, _ value: Any?) -> [String: Any] {
            var node = node
            let key = path.first!.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if path.count == 1 {
                node[key] = op == "remove" ? nil : value
            } else {
                node[key] = apply(node[key] as? [String: Any] ?? [:], path.dropFirst(), op, value)
            }
            return node
        }
        for operation in operations {
            let op = try #require(operation["op"] as? String)
            #expect(op == "add" || op == "remove")
            let path = try #require(operation["path"] as? String).split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
            document = apply(document, path[...], op, operation["value"])
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.withoutEscapingSlashes]), as: UTF8.self)
    }

    @Test func exceptionsWithoutExpiryOrAlreadyExpiredAreDenied() async throws {
        let responder = Self.responder()
        let missing = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: Self.exceptionJSON(validUntil: nil))
        #expect(!missing.allowed)
        #expect(missing.status?.code == 422)
        let message = try #require(missing.status?.message)
        #expect(message.contains("PolicyException \"team/vendor\""))
        #expect(message.contains("spec.validUntil"))
        #expect(message.contains("must expire"))

        let expired = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: Self.exceptionJSON(validUntil: "2026-11-22T09:59:59Z"))
        #expect(!expired.allowed)
        #expect(expired.status?.message?.contains("has already expired") == true)

        let valid = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: Self.exceptionJSON(validUntil: "2026-11-29T00:00:00Z"))
        #expect(valid.allowed)
        let deletion = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: Self.exceptionJSON(validUntil: "2020-01-01T00:00:00Z"), operation: "DELETE")
        #expect(deletion.allowed)
    }

    /// An expired exception held by a finalizer can still be let go: an UPDATE of an object
    /// being deleted, or one that leaves its spec as stored, is not refused for the expiry; a
    /// change of its spec still is.
    @Test func anExpiredExceptionCanBeRelabelledAndLetGo() async throws {
        let responder = Self.responder()
        let expired = Self.exceptionJSON(validUntil: "2026-11-22T09:30:00Z")
        func with(metadata extra: String, spec: String? = nil) -> String {
            var text = expired.replacingOccurrences(of: #""creationTimestamp":"2026-11-22T09:00:00Z""#, with: #""creationTimestamp":"2026-11-22T09:00:00Z",\#(extra)"#)
            if let spec { text = text.replacingOccurrences(of: #""reason":"vendor image""#, with: spec) }
            return text
        }
        let relabelled = try await Self.respond(
            responder, kind: "PolicyException", resource: "policyexceptions", object: with(metadata: #""labels":{"team":"b"}"#), oldObject: expired,
            operation: "UPDATE")
        #expect(relabelled.allowed, "\(relabelled.status?.message ?? "")")
        let released = try await Self.respond(
            responder, kind: "PolicyException", resource: "policyexceptions",
            object: with(metadata: #""deletionTimestamp":"2026-11-22T09:45:00Z","finalizers":[]"#),
            oldObject: with(metadata: #""deletionTimestamp":"2026-11-22T09:45:00Z","finalizers":["example.com/keep"]"#),
            operation: "UPDATE", mutate: false)
        #expect(released.allowed, "\(released.status?.message ?? "")")
        let widened = try await Self.respond(
            responder, kind: "PolicyException", resource: "policyexceptions", object: with(metadata: #""labels":{}"#, spec: #""reason":"wider""#),
            oldObject: expired, operation: "UPDATE")
        #expect(!widened.allowed)
        #expect(widened.status?.message?.contains("has already expired") == true)
    }

    @Test func bypassesBeyondTheWindowAreDenied() async throws {
        let responder = Self.responder()
        let far = try await Self.respond(responder, kind: "EmergencyBypass", resource: "emergencybypasses", object: Self.bypassJSON(expiresAt: "2026-11-24T10:00:00Z"), namespace: nil)
        #expect(!far.allowed)
        #expect(far.status?.message?.contains("maximum window of 24h") == true)
        let near = try await Self.respond(responder, kind: "EmergencyBypass", resource: "emergencybypasses", object: Self.bypassJSON(expiresAt: "2026-11-22T18:00:00Z"), namespace: nil)
        #expect(near.allowed)
    }

    @Test func policiesWithUnknownAuthorityKindsOrBadGlobsAreDenied() async throws {
        let responder = Self.responder()
        let unknown = #"{"apiVersion":"signet.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"p"},"spec":{"images":[{"glob":"ghcr.io/**"}],"authorities":[{"name":"a","cosign":{}}]}}"#
        let response = try await Self.respond(responder, kind: "ClusterImagePolicy", resource: "clusterimagepolicies", object: unknown, namespace: nil)
        #expect(!response.allowed)
        #expect(response.status?.message?.contains("unknown field \"cosign\"") == true)
        let badGlob = #"{"apiVersion":"signet.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"p"},"spec":{"images":[{"glob":"ghcr.io/***"}],"authorities":[{"static":{"action":"pass"}}]}}"#
        let globResponse = try await Self.respond(responder, kind: "ClusterImagePolicy", resource: "clusterimagepolicies", object: badGlob, namespace: nil)
        #expect(globResponse.status?.message?.contains("spec.images[0].glob") == true)
    }

    /// A policy that selects namespaces by a label signet does not guard is admitted with a
    /// warning naming the label (kubectl prints it, `--dry-run=server` too): whoever may update a
    /// Namespace can take it out of the policy. A guarded label, the API server's own
    /// `kubernetes.io/metadata.name`, a policy that does not enforce, and a validator that does
    /// not know the guarded labels (`signet review`) give none.
    @Test func aPolicySelectingByAnUnguardedLabelIsAdmittedWithAWarning() async throws {
        func policy(mode: String, selector: String) -> String {
            #"{"apiVersion":"signet.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"prod"},"spec":{"mode":"\#(mode)","namespaceSelector":\#(selector),"images":[{"glob":"ghcr.io/**"}],"authorities":[{"static":{"action":"pass"}}]}}"#
        }
        let selector = #"{"matchLabels":{"environment":"prod","kubernetes.io/metadata.name":"shop"},"matchExpressions":[{"key":"team","operator":"In","values":["a"]}]}"#
        var responder = Self.responder()
        responder.resourceValidator.guardedNamespaceLabels = ["environment"]
        let warned = try await Self.respond(
            responder, kind: "ClusterImagePolicy", resource: "clusterimagepolicies", object: policy(mode: "Enforce", selector: selector), namespace: nil)
        #expect(warned.allowed)
        let warnings = warned.warnings ?? []
        #expect(warnings.count == 1, "\(warnings)")
        #expect(warnings.first?.contains(#"spec.namespaceSelector: reads namespace label "team", which signet does not guard"#) == true, "\(warnings)")
        #expect(warnings.first?.hasPrefix(#"ClusterImagePolicy "vendor": "#) == true, "\(warnings)")

        let audit = try await Self.respond(
            responder, kind: "ClusterImagePolicy", resource: "clusterimagepolicies", object: policy(mode: "Audit", selector: selector), namespace: nil)
        #expect(audit.allowed && audit.warnings == nil, "\(audit.warnings ?? [])")
        responder.resourceValidator.guardedNamespaceLabels = ["environment", "team"]
        let guarded = try await Self.respond(
            responder, kind: "ClusterImagePolicy", resource: "clusterimagepolicies", object: policy(mode: "Enforce", selector: selector), namespace: nil)
        #expect(guarded.allowed && guarded.warnings == nil, "\(guarded.warnings ?? [])")
        responder.resourceValidator.guardedNamespaceLabels = nil
        let unknown = try await Self.respond(
            responder, kind: "ClusterImagePolicy", resource: "clusterimagepolicies", object: policy(mode: "Enforce", selector: selector), namespace: nil)
        #expect(unknown.allowed && unknown.warnings == nil, "\(unknown.warnings ?? [])")
    }

    /// `kinds` narrows where a policy is enforced: one that leaves out Pod lets a bare Pod run
    /// the images it covers unchecked, so it is admitted with a warning saying so (kubectl and
    /// `--dry-run=server` print it); with Pod listed, or in Audit mode, there is none.
    @Test func anEnforcePolicyWhoseKindsLeaveOutPodIsAdmittedWithAWarning() async throws {
        func policy(mode: String, kinds: String) -> String {
            #"{"apiVersion":"signet.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"deployments"},"spec":{"mode":"\#(mode)","kinds":\#(kinds),"images":[{"glob":"ghcr.io/acme/**"}],"authorities":[{"static":{"action":"pass"}}]}}"#
        }
        let responder = Self.responder()
        let warned = try await Self.respond(
            responder, kind: "ClusterImagePolicy", resource: "clusterimagepolicies", object: policy(mode: "Enforce", kinds: #"["Deployment","StatefulSet"]"#), namespace: nil)
        #expect(warned.allowed)
        #expect(warned.warnings?.count == 1, "\(warned.warnings ?? [])")
        #expect(warned.warnings?.first?.contains("spec.kinds: leaves out Pod: this policy checks its images only in Deployment, StatefulSet objects, so a Pod created directly") == true,
                "\(warned.warnings ?? [])")
        for (mode, kinds) in [("Enforce", #"["Deployment","Pod"]"#), ("Audit", #"["Deployment"]"#)] {
            let quiet = try await Self.respond(responder, kind: "ClusterImagePolicy", resource: "clusterimagepolicies", object: policy(mode: mode, kinds: kinds), namespace: nil)
            #expect(quiet.allowed && quiet.warnings == nil, "\(mode) \(kinds): \(quiet.warnings ?? [])")
        }
    }

    /// An Enforce policy whose Notation trust policy lets signatures through without checking who
    /// made them (a statement at level audit, or authenticity overridden to log) or admits images
    /// unsigned (level skip) is admitted with a warning per statement naming it and its scopes.
    @Test func anEnforcePolicyWhoseNotationStatementsDoNotEnforceAuthenticityIsAdmittedWithAWarning() async throws {
        let certificate = TestPaths.vectors.appendingPathComponent("notation/test/e2e/testdata/config/localkeys/e2e.crt").path
        func policy(mode: String, _ statements: [String]) -> String {
            let document = #"{"version":"1.0","trustPolicies":[\#(statements.joined(separator: ","))]}"#
                .replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return #"{"apiVersion":"signet.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"notation"},"spec":{"mode":"\#(mode)","images":[{"glob":"ghcr.io/acme/**"}],"authorities":[{"name":"acme","notation":{"trustPolicy":"\#(document)","trustStores":[{"name":"ca:acme","file":"\#(certificate)"}]}}]}}"#
        }
        func statement(_ name: String, scope: String, _ verification: String) -> String {
            #"{"name":"\#(name)","registryScopes":["\#(scope)"],"signatureVerification":\#(verification),"trustStores":["ca:acme"],"trustedIdentities":["*"]}"#
        }
        let strict = statement("signed", scope: "*", #"{"level":"strict"}"#)
        let audit = statement("watched", scope: "ghcr.io/acme/watched", #"{"level":"audit"}"#)
        let logged = statement("logged", scope: "ghcr.io/acme/logged", #"{"level":"strict","override":{"authenticity":"log"}}"#)
        let skip = #"{"name":"unsigned","registryScopes":["ghcr.io/acme/unsigned"],"signatureVerification":{"level":"skip"}}"#
        let responder = Self.responder()
        let warned = try await Self.respond(
            responder, kind: "ClusterImagePolicy", resource: "clusterimagepolicies", object: policy(mode: "Enforce", [strict, audit, logged, skip]), namespace: nil)
        #expect(warned.allowed, "\(warned.status?.message ?? "")")
        let warnings = warned.warnings ?? []
        #expect(warnings.count == 3, "\(warnings)")
        #expect(warnings.contains { $0.contains("spec.authorities[0].notation.trustPolicy: trust policy statement \"watched\" does not enforce authenticity (level audit): an image of ghcr.io/acme/watched covered by this policy is admitted with any well-formed Notation signature over its digest, whoever made it") }, "\(warnings)")
        #expect(warnings.contains { $0.contains("trust policy statement \"logged\" does not enforce authenticity (level strict, authenticity overridden to log)") }, "\(warnings)")
        #expect(warnings.contains { $0.contains("trust policy statement \"unsigned\" is at level skip: images of ghcr.io/acme/unsigned covered by this policy are admitted without any signature") }, "\(warnings)")
        for (mode, statements) in [("Enforce", [strict]), ("Audit", [strict, audit, skip])] {
            let quiet = try await Self.respond(responder, kind: "ClusterImagePolicy", resource: "clusterimagepolicies", object: policy(mode: mode, statements), namespace: nil)
            #expect(quiet.allowed && quiet.warnings == nil, "\(mode): \(quiet.status?.message ?? "") \(quiet.warnings ?? [])")
        }
    }

    /// A PolicyException beyond its namespace's budget is refused at admission, naming it; an
    /// UPDATE gives back the room of the version it replaces when that one was counted, and a
    /// namespace with room admits.
    @Test func anExceptionBeyondItsNamespacesBudgetIsRefused() async throws {
        let counted = ExemptionLimits.NamespaceUsage(
            count: ExemptionLimits.exceptionsPerNamespace, bytes: 10_000, sizes: ["vendor": 300])
        var responder = Self.responder()
        responder.exceptionUsage = { namespace in namespace == "team" ? counted : .init() }
        let object = Self.exceptionJSON(validUntil: "2026-11-22T18:00:00Z")
        let full = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: object)
        #expect(!full.allowed)
        #expect(full.status?.code == 422)
        #expect(full.status?.message?.contains(#"namespace "team" already holds 256 PolicyExceptions (expired ones included)"#) == true,
                "\(full.status?.message ?? "")")
        let changed = object.replacingOccurrences(of: "vendor image", with: "vendor image, renewed")
        let update = try await Self.respond(
            responder, kind: "PolicyException", resource: "policyexceptions", object: changed, oldObject: object, operation: "UPDATE")
        #expect(update.allowed, "\(update.status?.message ?? "")")
        // The version an UPDATE replaces was not counted (beyond the budget itself): no room.
        responder.exceptionUsage = { _ in ExemptionLimits.NamespaceUsage(count: ExemptionLimits.exceptionsPerNamespace, bytes: 10_000) }
        let uncounted = try await Self.respond(
            responder, kind: "PolicyException", resource: "policyexceptions", object: changed, oldObject: object, operation: "UPDATE")
        #expect(!uncounted.allowed, "\(uncounted.status?.message ?? "")")

        responder.exceptionUsage = { _ in ExemptionLimits.NamespaceUsage(count: 1, bytes: ExemptionLimits.exceptionBytesPerNamespace - 10) }
        let large = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: object)
        #expect(!large.allowed)
        #expect(large.status?.message?.contains("one namespace's may take at most \(1 << 20)") == true, "\(large.status?.message ?? "")")
        responder.exceptionUsage = { _ in .init() }
        #expect(try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: object).allowed)
    }

    /// The budget counts the whole object: a small spec with half a megabyte of labels is
    /// refused as a large spec is, on CREATE and on an UPDATE that leaves the spec alone. It
    /// counted the spec only, so a namespace's exceptions could each carry a megabyte of labels
    /// that every replica keeps and decodes at every change. An UPDATE that does not grow the
    /// object is never refused, so an expired exception in a full namespace can still be let go.
    @Test func labelsAndAnnotationsCountTowardTheBudget() async throws {
        var responder = Self.responder()
        responder.exceptionUsage = { _ in ExemptionLimits.NamespaceUsage(count: 1, bytes: 900_000, sizes: ["vendor": 600]) }
        let plain = Self.exceptionJSON(validUntil: "2026-11-22T18:00:00Z")
        let labels = (0..<2_000).map { #""team.example.com/label-\#($0)":"\#(String(repeating: "v", count: 63))""# }.joined(separator: ",")
        let labelled = plain.replacingOccurrences(of: #""uid":"1","#, with: #""uid":"1","labels":{\#(labels)},"#)
        #expect(labelled.utf8.count > 180_000 + plain.utf8.count)
        let created = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: labelled)
        #expect(!created.allowed, "an exception of a few hundred bytes of spec and 200 KB of labels was admitted")
        #expect(created.status?.message?.contains("(whole objects, labels and annotations included): one namespace's may take at most") == true,
                "\(created.status?.message ?? "")")
        let relabelled = try await Self.respond(
            responder, kind: "PolicyException", resource: "policyexceptions", object: labelled, oldObject: plain, operation: "UPDATE")
        #expect(!relabelled.allowed, "labels added to an exception's metadata were not counted")
        // Letting go of the labels (or a finalizer) in a full namespace: allowed.
        responder.exceptionUsage = { _ in ExemptionLimits.NamespaceUsage(count: ExemptionLimits.exceptionsPerNamespace, bytes: 1 << 20) }
        let shrunk = try await Self.respond(
            responder, kind: "PolicyException", resource: "policyexceptions", object: plain, oldObject: labelled, operation: "UPDATE")
        #expect(shrunk.allowed, "\(shrunk.status?.message ?? "")")
        responder.exceptionUsage = { _ in .init() }
        #expect(try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: labelled).allowed)
    }

    /// Exceptions created at the same moment, before the policy source has seen any of them
    /// (its view lags by a watch event and a compilation): judged together, so a burst of
    /// 200 KB exceptions stops at the namespace's 1 MiB, where each used to be judged against
    /// the empty view and all were admitted. Dry runs hold no room; another namespace is not
    /// held back; and what was held lapses once the source has had time to count it.
    @Test func exceptionsCreatedAtTheSameMomentAreJudgedTogether() async throws {
        var responder = Self.responder()
        responder.exceptionUsage = { _ in .init() }
        let exception = Self.largeException
        let size = try Self.largeExceptionSize()
        #expect((200_000...201_000).contains(size), "\(size)")
        let fit = ExemptionLimits.exceptionBytesPerNamespace / size
        for index in 0..<6 {
            let dry = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: exception("dry-\(index)"), dryRun: true)
            #expect(dry.allowed, "a dry run is judged alone and holds no room")
        }
        var admitted = 0
        for index in 0..<8 {
            let response = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: exception("e-\(index)"))
            if response.allowed { admitted += 1 } else {
                #expect(response.status?.message?.contains("one namespace's may take at most") == true, "\(response.status?.message ?? "")")
            }
        }
        #expect(admitted == fit, "\(admitted) admitted at once; the budget holds \(fit)")
        let elsewhere = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: exception("e-0"), namespace: "other")
        #expect(elsewhere.allowed, "\(elsewhere.status?.message ?? "")")

        // Lapsed reservations give their room back; one that still holds keeps it for its name.
        let reservations = ExceptionReservations(lifetime: .seconds(30))
        let start = ContinuousClock.now
        reservations.reserve(namespace: "team", name: "a", bytes: 600_000, now: start)
        let held = try #require(reservations.usage(.init(), namespace: "team", now: start + .seconds(29)))
        #expect(held.bytes == 600_000 && held.count == 1)
        let grown = try #require(reservations.usage(.init(count: 1, bytes: 1_000, sizes: ["a": 1_000]), namespace: "team", now: start + .seconds(1)))
        #expect(grown.bytes == 600_000 && grown.count == 1, "an UPDATE the source has not seen yet counts at its admitted size")
        #expect(reservations.usage(.init(), namespace: "team", now: start + .seconds(31))?.bytes == 0)

        // Sixteen namespaces of 256 fill the table; they are refused more, while a namespace
        // holding fewer than its share still gets room (it was refused too).
        let full = ExceptionReservations(lifetime: .seconds(30))
        for namespace in 0..<16 {
            for name in 0..<256 { full.reserve(namespace: "flood-\(namespace)", name: "e-\(name)", bytes: 100, now: start) }
        }
        #expect(full.usage(.init(), namespace: "flood-3", now: start + .seconds(1)) == nil)
        for name in 0..<100 {
            #expect(full.usage(.init(), namespace: "team", now: start + .seconds(1)) != nil, "refused at \(name)")
            full.reserve(namespace: "team", name: "e-\(name)", bytes: 100, now: start + .seconds(1))
        }
        // Its share (4096 over 17 namespaces) is 240; past it, it is refused like the others.
        for name in 100..<240 { full.reserve(namespace: "team", name: "e-\(name)", bytes: 100, now: start + .seconds(1)) }
        #expect(full.usage(.init(), namespace: "team", now: start + .seconds(1)) == nil)
        #expect(full.usage(.init(), namespace: "flood-3", now: start + .seconds(31))?.count == 0, "lapsed, the room comes back")
    }

    /// When signet can tell the API server's reviews (a client CA, or `--reserved-peers`), a
    /// review from elsewhere reserves nothing and is judged by the policy source's view alone:
    /// made-up reviews from many addresses each took a caller's share of a full table, and
    /// shrank the API server's.
    @Test func reviewsKnownNotToComeFromTheAPIServerReserveNothing() async throws {
        var responder = Self.responder()
        responder.exceptionUsage = { _ in .init() }
        let exception = Self.largeException
        let fit = ExemptionLimits.exceptionBytesPerNamespace / (try Self.largeExceptionSize())
        func create(_ name: String, from client: AdmissionClient) async throws -> Bool {
            try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: exception(name), client: client).allowed
        }
        let intruder = AdmissionClient(address: "10.244.1.7:40112", fromAPIServer: false)
        #expect(ExceptionReservations.caller(of: intruder) == nil)
        for index in 0..<8 {
            #expect(try await create("fake-\(index)", from: intruder), "a made-up review held room against the next: \(index)")
        }
        #expect(responder.exceptionReservations.usage(.init(), namespace: "team", caller: "peer 10.244.1.7")?.count == 0)
        var admitted = 0
        for index in 0..<8 where try await create("real-\(index)", from: AdmissionClient(address: "10.0.0.2:6000")) { admitted += 1 }
        #expect(admitted == fit, "the API server's reviews are still judged together: \(admitted) of \(fit)")
    }

    /// `/validate` answers whoever reaches its port when no client certificate is required, and
    /// a review sent by anyone but the API server creates nothing: made-up CREATEs of exceptions
    /// from one address held the namespace's whole budget for 30 s, and every real exception
    /// made meanwhile was refused. Reservations are the caller's own: the made-up ones count
    /// against that address alone, while reviews from one caller (or from callers with a
    /// verified client certificate, the API server's instances) are still judged together.
    @Test func madeUpReviewsFromAnotherAddressHoldNoRoomAgainstTheAPIServers() async throws {
        var responder = Self.responder()
        responder.exceptionUsage = { _ in .init() }
        let exception = Self.largeException
        let size = try Self.largeExceptionSize()
        let fit = ExemptionLimits.exceptionBytesPerNamespace / size
        let intruder = AdmissionClient(address: "10.244.1.7:40112")
        func create(_ name: String, from client: AdmissionClient) async throws -> Bool {
            try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: exception(name), client: client).allowed
        }
        var admitted = 0
        for index in 0..<8 where try await create("fake-\(index)", from: intruder) { admitted += 1 }
        #expect(admitted == fit, "one address's reviews are judged together: \(admitted) of \(fit)")
        // Another connection of the same address is the same caller.
        #expect(try await !create("fake-8", from: AdmissionClient(address: "10.244.1.7:40999")))
        // The API server, with or without a client certificate, still has the whole budget.
        let apiServer = AdmissionClient(address: "[fd00::1]:51234")
        #expect(try await create("real-0", from: apiServer), "a made-up review's reservation refused the API server's exception")
        let verified = AdmissionClient(address: "10.0.0.2:6000", certificateSubject: "CN=kube-apiserver")
        var verifiedAdmitted = 0
        for index in 0..<8 where try await create("cert-\(index)", from: AdmissionClient(
            address: "10.0.0.\(3 + index):6000", certificateSubject: verified.certificateSubject)) { verifiedAdmitted += 1 }
        #expect(verifiedAdmitted == fit, "callers with a verified certificate share their reservations: \(verifiedAdmitted) of \(fit)")
        #expect(ExceptionReservations.caller(of: apiServer) == "peer fd00::/64", "a host commonly holds its whole /64")
        #expect(ExceptionReservations.caller(of: AdmissionClient(address: "[fd00::9:1]:1")) == "peer fd00::/64")
        #expect(ExceptionReservations.caller(of: AdmissionClient(address: "[fd00:0:0:1::1]:1")) == "peer fd00:0:0:1::/64")
        #expect(ExceptionReservations.caller(of: AdmissionClient(address: "[::ffff:10.0.0.2]:1")) == "peer 10.0.0.2", "an IPv4-mapped address is its IPv4 address")
        #expect(ExceptionReservations.caller(of: verified) == "")

        // Filling the table with made-up namespaces (one reservation each) does not take the
        // API server's share of it: once full, callers share it equally first.
        let table = ExceptionReservations(lifetime: .seconds(30), maximumEntries: 256)
        let start = ContinuousClock.now
        for namespace in 0..<256 {
            table.reserve(namespace: "made-up-\(namespace)", name: "x", bytes: 100, caller: "peer 10.244.1.7", now: start)
        }
        #expect(table.usage(.init(), namespace: "shop", caller: "peer 10.0.0.2", now: start + .seconds(1)) != nil,
                "a flood of made-up namespaces refused the API server's exception")
        table.reserve(namespace: "shop", name: "real", bytes: 100, caller: "peer 10.0.0.2", now: start + .seconds(1))
        #expect(table.usage(.init(), namespace: "made-up-new", caller: "peer 10.244.1.7", now: start + .seconds(1)) == nil,
                "with another caller in the table, the flood is held to its share")

        // Alone, a caller may go on past the table's size in namespaces it makes up, as far as
        // its share allows; whatever it took, the API server still finds room.
        let lone = ExceptionReservations(lifetime: .seconds(30), maximumEntries: 256)
        for namespace in 0..<16 {
            for name in 0..<16 { lone.reserve(namespace: "ns-\(namespace)", name: "x-\(name)", bytes: 100, caller: "peer 10.244.1.7", now: start) }
        }
        var taken = 256
        for namespace in 16..<1_000 where lone.usage(.init(), namespace: "ns-\(namespace)", caller: "peer 10.244.1.7", now: start) != nil {
            lone.reserve(namespace: "ns-\(namespace)", name: "x", bytes: 100, caller: "peer 10.244.1.7", now: start)
            taken += 1
        }
        #expect(taken == 2 * 256, "alone, a caller may hold twice the table: \(taken)")
        for index in 0..<100 {
            #expect(lone.usage(.init(), namespace: "shop", caller: "peer 10.0.0.2", now: start) != nil, "refused at \(index)")
            lone.reserve(namespace: "shop", name: "real-\(index)", bytes: 100, caller: "peer 10.0.0.2", now: start)
        }
    }

    /// An exception named `name` carrying a 200 KB annotation: five fill a namespace's budget.
    static func largeException(_ name: String) -> String {
        exceptionJSON(validUntil: "2026-11-22T18:00:00Z")
            .replacingOccurrences(of: #""name":"vendor","#, with: #""name":"\#(name)","#)
            .replacingOccurrences(of: #""uid":"1","#, with: #""uid":"1","annotations":{"team.example.com/note":"\#(String(repeating: "n", count: 200_000))"},"#)
    }

    /// What ``largeException(_:)`` counts against the budget.
    static func largeExceptionSize() throws -> Int {
        ExemptionLimits.measuredBytes(try #require(try JSONSerialization.jsonObject(with: Data(largeException("e-0").utf8)) as? [String: Any]))
    }

    static func podSet(_ exemption: String) throws -> PolicySet {
        let text = """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: deny-untrusted
            spec:
              images:
                - glob: "docker.io/**"
              authorities:
                - static:
                    action: fail
            ---
            \(exemption)
            """
        return try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(text.utf8))])
    }

    /// Issue 16 "Bounded": the permanent exception of the review, refused at `kubectl apply`.
    @Test func aPermanentExceptionIsDeniedAtAdmission() async throws {
        let response = try await Self.respond(
            Self.responder(), kind: "PolicyException", resource: "policyexceptions", object: Self.exceptionJSON(validUntil: "9999-12-31T23:59:59Z"))
        #expect(!response.allowed)
        #expect(response.status?.code == 422)
        let message = try #require(response.status?.message)
        #expect(message.contains("PolicyException \"team/vendor\""))
        #expect(message.contains("spec.validUntil"))
        #expect(message.contains("maximum window of 90d"))
        #expect(message.contains("creationTimestamp 2026-11-22T09:00:00Z"))
        let noPolicy = Self.exceptionJSON(validUntil: "2026-11-29T00:00:00Z").replacingOccurrences(of: #""policies":["deny-untrusted"],"#, with: "")
        let refused = try await Self.respond(Self.responder(), kind: "PolicyException", resource: "policyexceptions", object: noPolicy)
        #expect(!refused.allowed)
        #expect(refused.status?.message?.contains("spec.policies") == true)
    }

    /// Issue 16 "Attributed": `/mutate` records the user and groups the API server authenticated;
    /// an `UPDATE` keeps the creator and records the new changer; a value written by hand is refused.
    @Test func theCreatorIsRecordedAndAForgedCreatorRefused() async throws {
        let responder = Self.responder()
        let valid = Self.exceptionJSON(validUntil: "2026-11-29T00:00:00Z")
        let body = review(kind: "PolicyException", group: "signet.dev", version: "v1alpha1", resource: "policyexceptions",
                          name: "vendor", namespace: "team", operation: "CREATE", object: valid)
        let stamped = try await Self.mutated(responder, body, object: valid)
        let annotations = try #require(
            ((try JSONSerialization.jsonObject(with: Data(stamped.utf8)) as? [String: Any])?["metadata"] as? [String: Any])?["annotations"] as? [String: String])
        #expect(annotations == [
            "signet.dev/created-by": "admin@example.com", "signet.dev/created-by-groups": "system:authenticated",
            "signet.dev/last-changed-by": "admin@example.com", "signet.dev/last-changed-by-groups": "system:authenticated",
        ])
        #expect(try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: valid).allowed)

        // A creator written by hand, and no mutating webhook in the path: refused, naming the annotation.
        let forged = valid.replacingOccurrences(of: #""uid":"1","#, with: #""uid":"1","annotations":{"signet.dev/created-by":"security-team@example.com","signet.dev/created-by-groups":"system:authenticated","signet.dev/last-changed-by":"admin@example.com","signet.dev/last-changed-by-groups":"system:authenticated"},"#)
        let refused = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: forged, mutate: false)
        #expect(!refused.allowed)
        #expect(refused.status?.code == 422)
        let message = try #require(refused.status?.message)
        #expect(message.contains("PolicyException \"team/vendor\""))
        #expect(message.contains("metadata.annotations[signet.dev/created-by]: \"security-team@example.com\" is not what the API server authenticated (\"admin@example.com\")"))
        // With /mutate in the path the forged value is overwritten by the real one.
        #expect(try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: forged).allowed)
        // Without /mutate and without annotations: refused as unstamped.
        let unstamped = try await Self.respond(responder, kind: "PolicyException", resource: "policyexceptions", object: valid, mutate: false)
        #expect(unstamped.status?.message?.contains("mutating webhook") == true)

        // UPDATE by someone else: the creator stays, the changer is the new user.
        let old = stamped.replacingOccurrences(of: "admin@example.com", with: "alice@example.com")
        let update = valid.replacingOccurrences(of: "vendor image", with: "vendor image, renewed")
        let updated = try await Self.respond(
            responder, kind: "PolicyException", resource: "policyexceptions", object: update, oldObject: old, operation: "UPDATE")
        #expect(updated.allowed, "\(updated.status?.message ?? "")")
        let changedCreator = old.replacingOccurrences(of: #""signet.dev/created-by":"alice@example.com""#, with: #""signet.dev/created-by":"mallory""#)
            .replacingOccurrences(of: #""signet.dev/last-changed-by":"alice@example.com""#, with: #""signet.dev/last-changed-by":"admin@example.com""#)
        let rewritten = try await Self.respond(
            responder, kind: "PolicyException", resource: "policyexceptions", object: changedCreator, oldObject: old, operation: "UPDATE", mutate: false)
        #expect(!rewritten.allowed)
        #expect(rewritten.status?.message?.contains("\"mallory\" is not what the API server authenticated (\"alice@example.com\")") == true, "\(rewritten.status?.message ?? "")")

        // A bypass is stamped the same way.
        #expect(try await Self.respond(
            responder, kind: "EmergencyBypass", resource: "emergencybypasses", object: Self.bypassJSON(expiresAt: "2026-11-22T18:00:00Z"), namespace: nil).allowed)
        #expect(try await !Self.respond(
            responder, kind: "EmergencyBypass", resource: "emergencybypasses", object: Self.bypassJSON(expiresAt: "2026-11-22T18:00:00Z"), namespace: nil, mutate: false).allowed)
    }

    /// Issue 16 "Attributed": the audit record of an admission an exemption allowed names who
    /// created and last changed it.
    @Test func auditRecordsNameWhoCreatedTheExemption() async throws {
        let attributed = Self.exceptionJSON(validUntil: "2026-11-29T00:00:00Z").replacingOccurrences(
            of: #""uid":"1","#,
            with: #""uid":"1","annotations":{"signet.dev/created-by":"alice@example.com","signet.dev/created-by-groups":"security,system:authenticated","signet.dev/last-changed-by":"bob@example.com","signet.dev/last-changed-by-groups":"system:authenticated"},"#)
        let sink = MemoryAuditSink()
        let response = try decodeResponse(await Self.responder(try Self.podSet(attributed), sink: sink).respond(to: Self.pod(), deadline: farDeadline))
        #expect(response.allowed)
        // Bob changed it since Alice created it: both are named, Bob for what is in force now.
        #expect(response.auditAnnotations?["exemptions"]
            == "PolicyException \"team/vendor\" (valid until 2026-11-29T00:00:00Z, created by \"alice@example.com\", last changed by \"bob@example.com\")")
        #expect(response.warnings?.contains { $0.contains("last changed by \"bob@example.com\"") } == true, "\(response.warnings ?? [])")
        let record = try #require(sink.all.first)
        let use = try #require(record.exemptions.first)
        #expect(use.attribution.createdBy == "alice@example.com")
        #expect(use.attribution.createdByGroups == ["security", "system:authenticated"])
        #expect(use.attribution.lastChangedBy == "bob@example.com")
        let line = try #require(try JSONSerialization.jsonObject(with: Data(record.jsonLine.utf8)) as? [String: Any])
        let written = try #require((line["exemptions"] as? [[String: Any]])?.first)
        #expect(written["createdBy"] as? String == "alice@example.com")
        #expect(written["lastChangedBy"] as? String == "bob@example.com")
        #expect(written["createdByGroups"] as? [String] == ["security", "system:authenticated"])
    }

    static func pod(dryRun: Bool = false) -> [UInt8] {
        let object = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"team"},"spec":{"serviceAccountName":"builder","imagePullSecrets":[{"name":"regcred"}],"containers":[{"name":"web","image":"nginx:1.25@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}}"#
        return review(kind: "Pod", resource: "pods", object: object, dryRun: dryRun)
    }

    @Test func anExceptionIsNamedInWarningsAnnotationsAndTheAuditRecord() async throws {
        let set = try Self.podSet(String(decoding: Data(Self.exceptionJSON(validUntil: "2026-11-29T00:00:00Z").utf8), as: UTF8.self))
        let sink = MemoryAuditSink()
        let response = try decodeResponse(await Self.responder(set, sink: sink).respond(to: Self.pod(), deadline: farDeadline))
        #expect(response.allowed)
        #expect(response.warnings?.first?.contains("PolicyException \"team/vendor\" (valid until 2026-11-29T00:00:00Z)") == true)
        #expect(response.auditAnnotations?["exemptions"] == "PolicyException \"team/vendor\" (valid until 2026-11-29T00:00:00Z)")
        #expect(response.auditAnnotations?["emergency-bypass"] == nil)

        let record = try #require(sink.all.first)
        #expect(sink.all.count == 1)
        #expect(record.event == "admission")
        #expect(record.uid == "705ab4f5-6393-11e8-b7cc-42010a800002")
        #expect(record.user == "admin@example.com")
        #expect(record.namespace == "team")
        #expect(record.operation == "CREATE")
        #expect(record.dryRun == false)
        #expect(record.images.first?.digest == "sha256:0000000000000000000000000000000000000000000000000000000000000000")
        #expect(record.exemptions.first?.qualifiedName == "team/vendor")
        let line = record.jsonLine
        #expect(!line.contains("\n"))
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(decoded["latencyMs"] is Double)
        #expect((decoded["exemptions"] as? [[String: Any]])?.first?["expiresAt"] as? String == "2026-11-29T00:00:00Z")
    }

    @Test func everyBypassUseHasItsOwnAuditEvent() async throws {
        let set = try Self.podSet(Self.bypassJSON(expiresAt: "2026-11-22T12:00:00Z"))
        let sink = MemoryAuditSink()
        let response = try decodeResponse(await Self.responder(set, sink: sink).respond(to: Self.pod(), deadline: farDeadline))
        #expect(response.allowed)
        #expect(response.auditAnnotations?["emergency-bypass"] == "EmergencyBypass \"incident-1\" (expires at 2026-11-22T12:00:00Z)")
        #expect(sink.all.map(\.event) == ["admission", "emergency-bypass"])
        #expect(sink.all.last?.exemptions.map(\.name) == ["incident-1"])
    }

    @Test func dryRunGetsTheSameDecisionMarkedAsDryRun() async throws {
        let set = try Self.podSet(Self.exceptionJSON(validUntil: "2026-11-22T09:00:00Z"))
        let sink = MemoryAuditSink()
        let responder = Self.responder(set, sink: sink)
        let real = try decodeResponse(await responder.respond(to: Self.pod(dryRun: false), deadline: farDeadline))
        let dry = try decodeResponse(await responder.respond(to: Self.pod(dryRun: true), deadline: farDeadline))
        #expect(real.allowed == dry.allowed)
        #expect(!real.allowed)
        #expect(real.status == dry.status)
        #expect(real.warnings == dry.warnings)
        var dryAnnotations = dry.auditAnnotations ?? [:]
        #expect(dryAnnotations.removeValue(forKey: "dry-run") == "true")
        #expect(dryAnnotations == real.auditAnnotations)
        #expect(sink.all.map(\.dryRun) == [false, true])
    }

    @Test func namespaceLabelsReachTheEvaluator() async throws {
        let set = try Self.podSet("")
        let optedOut = try decodeResponse(await Self.responder(set, labels: ["signet.dev/exclude": "true"]).respond(to: Self.pod(), deadline: farDeadline))
        #expect(optedOut.allowed)
        #expect(optedOut.auditAnnotations?["audit-findings"]?.contains("opted out") == true)
    }

    /// An exception for the Pod named `web` takes in that one Pod: not every Pod a client asks
    /// the API server to name from the prefix `web` (the validating call's `request.name` stays
    /// empty then, and the object's own name is `web` and five more characters), nor the prefix
    /// itself before the name is given.
    @Test func anExceptionsNameIsTheObjectsNameNotAGenerateNamePrefix() async throws {
        let exception = #"{"apiVersion":"signet.dev/v1alpha1","kind":"PolicyException","metadata":{"name":"one-pod","namespace":"team","uid":"1","creationTimestamp":"2026-11-22T09:00:00Z"},"spec":{"policies":["deny-untrusted"],"names":["web"],"kinds":["Pod"],"reason":"vendor image","approvedBy":"alice","validUntil":"2026-11-29T00:00:00Z"}}"#
        let responder = Self.responder(try Self.podSet(exception))
        func pod(_ metadata: String) -> [UInt8] {
            review(kind: "Pod", resource: "pods", name: nil, object: #"{"apiVersion":"v1","kind":"Pod","metadata":{\#(metadata),"namespace":"team"},"spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}}"#)
        }
        let prefixOnly = try decodeResponse(await responder.respond(to: pod(#""generateName":"web""#), deadline: farDeadline))
        #expect(!prefixOnly.allowed, "a generateName prefix is not the object's name")
        let generated = try decodeResponse(await responder.respond(to: pod(#""generateName":"web","name":"webk2x9p""#), deadline: farDeadline))
        #expect(!generated.allowed, "the name the API server gave does not match the exception")
        #expect(generated.status?.message?.contains(#"denied by policy "deny-untrusted""#) == true, "\(generated.status?.message ?? "allowed")")
        let named = try decodeResponse(await responder.respond(to: pod(#""name":"web""#), deadline: farDeadline))
        #expect(named.allowed, "the Pod named web, read from the object when the request names none")
        #expect(named.warnings?.first?.contains(#"PolicyException "team/one-pod""#) == true)
    }

    @Test func podCredentialReferencesAreRead() {
        let references = PodObjectReferences.read(reviewBody: Self.pod())
        #expect(references.imagePullSecrets == ["regcred"])
        #expect(references.serviceAccountName == "builder")
        let deployment = review(kind: "Deployment", group: "apps", resource: "deployments", object: #"{"spec":{"template":{"spec":{"imagePullSecrets":[{"name":"a"},{"name":"b"}],"containers":[]}}}}"#)
        #expect(PodObjectReferences.read(reviewBody: deployment).imagePullSecrets == ["a", "b"])
        let generated = review(kind: "Pod", resource: "pods", name: nil, object: #"{"metadata":{"generateName":"billing-web-7d9f-"},"spec":{"containers":[]}}"#)
        #expect(PodObjectReferences.read(reviewBody: generated).generateName == "billing-web-7d9f-")
        #expect(PodObjectReferences.read(reviewBody: generated).name == nil)
        #expect(PodObjectReferences.read(reviewBody: Self.pod()).name == "web")
    }
}
