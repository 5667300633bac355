import Foundation
import SignetCrypto
import SignetKube
import SignetPolicy
import SignetTestSupport
import Testing
@testable import SignetCLI

/// The in-cluster policy source against ``KubernetesAPIServerDouble`` (a faithful double of the
/// API server's list/watch protocol; no API server can run here): ready only after every
/// resource type is listed, the same evaluator deciding, changes applied live, status written
/// when permitted.
@Suite(.serialized)
struct KubernetesPolicySourceTests {
    static var policy: [String: Any] { [
        "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": "deny-untrusted"],
        "spec": [
            "images": [["glob": "docker.io/**"]], "authorities": [["name": "block", "static": ["action": "fail"]]],
            "namespaceSelector": ["matchLabels": ["environment": "production"]],
        ],
    ] }

    static func exception(validUntil: String) -> [String: Any] {
        [
            "apiVersion": "signet.dev/v1alpha1", "kind": "PolicyException",
            "metadata": ["name": "vendor", "namespace": "billing"],
            "spec": ["policies": ["deny-untrusted"], "reason": "vendor image", "approvedBy": "alice", "validUntil": validUntil],
        ]
    }

    static var invalid: [String: Any] { [
        "apiVersion": "signet.dev/v1alpha1", "kind": "EmergencyBypass", "metadata": ["name": "open-ended"],
        "spec": ["allNamespaces": true, "reason": "outage", "requestedBy": "oncall"],
    ] }

    static func source(_ server: KubernetesAPIServerDouble, now: Date, writeStatus: Bool = true) throws -> KubernetesPolicySource {
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        return KubernetesPolicySource(
            client: client, exemptions: ExemptionConfiguration(clock: .fixed(now)), writeStatus: writeStatus,
            backoff: Backoff(initial: .milliseconds(10), maximum: .milliseconds(50)))
    }

    static func decide(_ source: KubernetesPolicySource, namespace: String, now: Date, image: String = "nginx") async -> AdmissionDecision {
        let evaluator = PolicyEvaluator(
            policies: await source.current(), noMatchAction: .allow, exemptions: ExemptionConfiguration(clock: .fixed(now)))
        let subject = AdmissionSubject(namespace: namespace, name: "web", kind: "Pod", namespaceLabels: source.namespaceLabels(namespace))
        return await evaluator.evaluate([ImageUse(image: image, container: "web")], subject: subject, deadline: .now + .seconds(10))
    }

    /// A policy whose `secretRef` names a Secret signet cannot read: its authority is unresolved.
    static var unreadableKeyPolicy: [String: Any] { [
        "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": "payments-keys"],
        "spec": [
            "images": [["glob": "ghcr.io/acme/payments/**"]],
            "authorities": [["name": "release", "key": ["publicKeys": [["secretRef": ["namespace": "signet-system", "name": "missing", "key": "cosign.pub"]]]]]],
        ],
    ] }

    /// A policy whose inline key is not a key: it does not compile.
    static var malformedKeyPolicy: [String: Any] { [
        "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": "billing-keys"],
        "spec": [
            "images": [["glob": "ghcr.io/acme/billing/**"]],
            "authorities": [["name": "release", "key": ["publicKeys": [["pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]]]]],
        ],
    ] }

    @Test func syncsDecidesAndFollowsChanges() async throws {
        let now = try #require(KubernetesTime.parse("2026-11-22T10:00:00Z"))
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy)
        try server.apply("policyexceptions", Self.exception(validUntil: "2026-11-22T11:00:00Z"))
        try server.apply("emergencybypasses", Self.invalid)
        try server.apply("namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "billing", "labels": ["environment": "production"]]])
        try server.apply("namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop", "labels": ["environment": "production"]]])
        try server.apply("namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "sandbox", "labels": ["signet.dev/exclude": "true"]]])

        let source = try Self.source(server, now: now)
        #expect(await source.hasLoaded == false)
        #expect(source.namespaceLabels("billing") == nil)
        let task = Task { await source.run() }
        defer { task.cancel() }
        await source.waitUntilLoaded()

        let set = await source.current()
        #expect(set.policies.map(\.name) == ["deny-untrusted"])
        #expect(set.exceptions.map(\.qualifiedName) == ["billing/vendor"])
        #expect(set.bypasses.isEmpty)
        #expect(await source.rejected.keys.sorted() == ["EmergencyBypass open-ended"])

        #expect(await Self.decide(source, namespace: "billing", now: now).allowed)
        #expect(await !Self.decide(source, namespace: "shop", now: now).allowed)
        #expect(await Self.decide(source, namespace: "sandbox", now: now).allowed)

        // The exception is being deleted but a finalizer holds it: no longer in force.
        var terminating = Self.exception(validUntil: "2026-11-22T11:00:00Z")
        terminating["metadata"] = ["name": "vendor", "namespace": "billing", "finalizers": ["example.com/keep"], "deletionTimestamp": "2026-11-22T09:59:00Z"]
        try server.apply("policyexceptions", terminating)
        try await KubernetesWatchTests.eventually("terminating exception out of force") { await source.current().exceptions.isEmpty }
        #expect(await !Self.decide(source, namespace: "billing", now: now).allowed)
        try server.apply("policyexceptions", Self.exception(validUntil: "2026-11-22T11:00:00Z"))
        try await KubernetesWatchTests.eventually("exception back") { await !source.current().exceptions.isEmpty }

        // The exception is withdrawn: the next decision denies, no restart.
        let withException = await source.current()
        #expect(withException.namespacedRevisions.keys.sorted() == ["billing"])
        try server.delete("policyexceptions", key: "billing/vendor")
        try await KubernetesWatchTests.eventually("exception gone") { await source.current().exceptions.isEmpty }
        #expect(await !Self.decide(source, namespace: "billing", now: now).allowed)
        let withoutException = await source.current()
        #expect(withoutException.revision != withException.revision)
        // ... which is a change of billing's exceptions alone (continuous verification decides
        // billing's Pods again, not the cluster's); a policy change is the cluster's.
        #expect(withoutException.clusterRevision == withException.clusterRevision)
        #expect(withoutException.namespacedRevisions.isEmpty)
        var edited = Self.policy
        var spec = edited["spec"] as? [String: Any] ?? [:]
        spec["images"] = [["glob": "docker.io/**"], ["glob": "quay.io/**"]]
        edited["spec"] = spec
        try server.apply("clusterimagepolicies", edited)
        try await KubernetesWatchTests.eventually("the policy edited") { await source.current().revision != withoutException.revision }
        #expect(await source.current().clusterRevision != withoutException.clusterRevision)
        try server.apply("clusterimagepolicies", Self.policy)
        try await KubernetesWatchTests.eventually("the policy back") { await source.current().revision == withoutException.revision }

        // The shop namespace leaves production: the policy no longer selects it. The policies
        // are not compiled again for a namespace's labels.
        let compilations = await source.compilations
        try server.apply("namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop", "labels": ["environment": "staging"]]])
        try await KubernetesWatchTests.eventually("labels updated") { source.namespaceLabels("shop") == ["environment": "staging"] }
        #expect(await source.compilations == compilations)
        let shop = await Self.decide(source, namespace: "shop", now: now)
        #expect(shop.allowed, "the policy still covers the image; it is not enforced in shop")
        #expect(shop.verdicts.first?.reason.contains(#"covered by ClusterImagePolicy "deny-untrusted", not enforced"#) == true)

        // Edits as fast as the API server takes them (here 40 relabellings of an exception) are
        // compiled together: at most one compilation a second, and the last edit is in force.
        try server.apply("policyexceptions", Self.exception(validUntil: "2026-11-22T11:00:00Z"))
        try await KubernetesWatchTests.eventually("exception back") { await !source.current().exceptions.isEmpty }
        let beforeEdits = await source.compilations
        let started = ContinuousClock.now
        for edit in 0..<40 {
            var edited = Self.exception(validUntil: "2026-11-22T11:00:00Z")
            edited["metadata"] = ["name": "vendor", "namespace": "billing", "labels": ["edit": "\(edit)"]]
            try server.apply("policyexceptions", edited)
        }
        var lastEdit = Self.exception(validUntil: "2026-11-22T11:30:00Z")
        lastEdit["metadata"] = ["name": "vendor", "namespace": "billing"]
        try server.apply("policyexceptions", lastEdit)
        try await KubernetesWatchTests.eventually("the last edit in force") {
            await source.current().exceptions.first?.validUntil == KubernetesTime.parse("2026-11-22T11:30:00Z")
        }
        let seconds = Int((ContinuousClock.now - started).components.seconds)
        let compiled = await source.compilations - beforeEdits
        #expect(compiled <= seconds + 2, "\(compiled) compilations for 41 edits in about \(seconds) s")

        // A namespace the watch has not seen: its labels are unknown, so the policy with a
        // selector applies (missing information never exempts an image).
        #expect(source.namespaceLabels("newcomer") == nil)
        #expect(await !Self.decide(source, namespace: "newcomer", now: now).allowed)

        // A policy whose key cannot be read denies the images its globs cover, naming itself and
        // the key, instead of leaving them to the no-match action (allow here).
        try server.apply("clusterimagepolicies", Self.unreadableKeyPolicy)
        try await KubernetesWatchTests.eventually("policy seen") { await source.current()["payments-keys"] != nil }
        let payments = await Self.decide(source, namespace: "billing", now: now, image: "ghcr.io/acme/payments/api:1")
        #expect(!payments.allowed)
        #expect(payments.denials.first?.contains(#"denied by policy "payments-keys", authority "release": unresolved key: publicKeys[0]: key cosign.pub of Secret signet-system/missing is missing"#) == true, "\(payments.denials)")
        #expect(await Self.decide(source, namespace: "billing", now: now, image: "ghcr.io/acme/web:1").allowed, "images it does not cover are not affected")
        try server.delete("clusterimagepolicies", key: "payments-keys")

        // A policy that cannot compile denies the images its globs cover, naming itself and the error.
        try server.apply("clusterimagepolicies", Self.malformedKeyPolicy)
        try await KubernetesWatchTests.eventually("invalid policy seen") { await source.rejected["ClusterImagePolicy billing-keys"] != nil }
        let billing = await Self.decide(source, namespace: "billing", now: now, image: "ghcr.io/acme/billing/api:1")
        #expect(!billing.allowed)
        #expect(billing.denials.first?.contains(#"ClusterImagePolicy "billing-keys" is invalid, so it denies every image it covers until it is fixed"#) == true, "\(billing.denials)")
        try server.delete("clusterimagepolicies", key: "billing-keys")

        // One glob that does not compile (stored past the webhook: signet was down, or the
        // chart's label kept it from validation) takes only itself out: the policy's other globs
        // still deny what they cover.
        var typo = Self.malformedKeyPolicy
        typo["metadata"] = ["name": "billing-typo"]
        typo["spec"] = ["images": [["glob": "ghcr.io/acme/billing/**"], ["glob": "ghcr.io/acme/legacy@sha256"]],
                        "authorities": [["name": "release", "static": ["action": "pass"]]]]
        try server.apply("clusterimagepolicies", typo)
        try await KubernetesWatchTests.eventually("policy with a bad glob seen") { await source.rejected["ClusterImagePolicy billing-typo"] != nil }
        let typoDecision = await Self.decide(source, namespace: "billing", now: now, image: "ghcr.io/acme/billing/api:1")
        #expect(!typoDecision.allowed && typoDecision.uncovered == 0, "\(typoDecision.denials)")
        #expect(typoDecision.denials.first?.contains(#"ClusterImagePolicy "billing-typo" is invalid"#) == true, "\(typoDecision.denials)")
        try server.delete("clusterimagepolicies", key: "billing-typo")
        try await KubernetesWatchTests.eventually("typo policy gone") { await source.current()["billing-typo"] == nil }

        // A policy none of whose globs compiles still covers what they plainly say (here the tag
        // is given twice, in the glob and in `tags`: read as the glob alone; a glob with a space
        // is read without it), and one whose glob cannot be read at all (empty) covers every
        // image: the images it was written to protect never fall to the no-match action (allow here).
        var solo = typo
        solo["metadata"] = ["name": "solo-twice-tagged"]
        solo["spec"] = ["images": [["glob": "ghcr.io/acme/solo:prod", "tags": ["prod"]], ["glob": "ghcr.io/acme/spaced out"]],
                        "authorities": [["name": "release", "static": ["action": "pass"]]]]
        try server.apply("clusterimagepolicies", solo)
        try await KubernetesWatchTests.eventually("twice-tagged policy seen") { await source.rejected["ClusterImagePolicy solo-twice-tagged"] != nil }
        let soloDecision = await Self.decide(source, namespace: "billing", now: now, image: "ghcr.io/acme/solo:prod")
        #expect(!soloDecision.allowed, "\(soloDecision.verdicts.map(\.reason))")
        #expect(soloDecision.denials.first?.contains(#"ClusterImagePolicy "solo-twice-tagged" is invalid, so it denies every image it covers"#) == true, "\(soloDecision.denials)")
        #expect(await !Self.decide(source, namespace: "billing", now: now, image: "ghcr.io/acme/spacedout:1").allowed)
        #expect(await Self.decide(source, namespace: "billing", now: now, image: "ghcr.io/acme/web:1").allowed, "images it does not cover are not affected")
        try server.delete("clusterimagepolicies", key: "solo-twice-tagged")
        var unreadable = typo
        unreadable["metadata"] = ["name": "unreadable-glob"]
        unreadable["spec"] = ["images": [["glob": ""]], "authorities": [["name": "release", "static": ["action": "pass"]]]]
        try server.apply("clusterimagepolicies", unreadable)
        try await KubernetesWatchTests.eventually("unreadable policy seen") { await source.rejected["ClusterImagePolicy unreadable-glob"] != nil }
        let anything = await Self.decide(source, namespace: "billing", now: now, image: "ghcr.io/acme/web:1")
        #expect(!anything.allowed)
        #expect(anything.denials.first?.contains("so it denies every image (one of its globs cannot be read") == true, "\(anything.denials)")
        try server.delete("clusterimagepolicies", key: "unreadable-glob")

        // Status is written: the policy is Ready, the bypass Invalid with the reason.
        try await KubernetesWatchTests.eventually("status written") {
            let policy = try server.object("clusterimagepolicies", key: "deny-untrusted")
            let bypass = try server.object("emergencybypasses", key: "open-ended")
            return (policy?["status"] as? [String: Any])?["state"] as? String == "Ready"
                && (bypass?["status"] as? [String: Any])?["state"] as? String == "Invalid"
        }
        let bypass = try server.object("emergencybypasses", key: "open-ended")
        #expect(((bypass?["status"] as? [String: Any])?["message"] as? String)?.contains("must expire") == true)
    }

    @Test func statusSaysActiveOrExpiredAndForbiddenWritesStopQuietly() async throws {
        let now = try #require(KubernetesTime.parse("2026-11-22T10:00:00Z"))
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy)
        try server.apply("policyexceptions", Self.exception(validUntil: "2026-11-22T09:00:00Z"))
        let source = try Self.source(server, now: now)
        let task = Task { await source.run() }
        defer { task.cancel() }
        await source.waitUntilLoaded()
        try await KubernetesWatchTests.eventually("expired status") {
            let status = try server.object("policyexceptions", key: "billing/vendor")?["status"] as? [String: Any]
            return status?["state"] as? String == "Expired" && status?["validUntil"] as? String == "2026-11-22T09:00:00Z"
        }
        // The status write (a MODIFIED event) must not change the policy revision.
        let revision = await source.current().revision
        try server.apply("policyexceptions", Self.exception(validUntil: "2026-11-22T09:00:00Z"))
        try await Task.sleep(for: .milliseconds(200))
        #expect(await source.current().revision == revision)

        // A status someone else wrote (an expired exception shown as Active) is put right at the
        // next interval, from what the watch shows rather than from what signet wrote last.
        var tampered = Self.exception(validUntil: "2026-11-22T09:00:00Z")
        tampered["status"] = ["state": "Active", "validUntil": "2026-11-22T09:00:00Z", "message": "exempts matching workloads"]
        try server.apply("policyexceptions", tampered)
        #expect((try server.object("policyexceptions", key: "billing/vendor")?["status"] as? [String: Any])?["state"] as? String == "Active")
        // Up to 60 s: the writer looks every 10 s.
        try await KubernetesWatchTests.eventually("status put right", rounds: 3000) {
            (try server.object("policyexceptions", key: "billing/vendor")?["status"] as? [String: Any])?["state"] as? String == "Expired"
        }

        let forbidden = try await KubernetesAPIServerDouble.start()
        defer { forbidden.stop() }
        try forbidden.forbidStatusWrites()
        try forbidden.apply("clusterimagepolicies", Self.policy)
        let quiet = try Self.source(forbidden, now: now)
        let quietTask = Task { await quiet.run() }
        defer { quietTask.cancel() }
        await quiet.waitUntilLoaded()
        try await KubernetesWatchTests.eventually("patch attempted") { try forbidden.requests().contains { $0.hasPrefix("PATCH") } }
        #expect(await quiet.current().policies.count == 1)
        #expect(try forbidden.object("clusterimagepolicies", key: "deny-untrusted")?["status"] == nil)
    }

    /// The revision (``StableHash``, as every revision and fingerprint) is SHA-256 over the
    /// strings, each after its length, cut to 128 bits: the FNV-1a it replaced can be run
    /// backwards, so whoever may write a PolicyException could aim at the revision in force,
    /// and replicas kept the set before (a deletion unseen).
    @Test func theRevisionIsASHA256() throws {
        var hash = StableHash()
        hash.combine("PolicyException team/keep")
        hash.combine("{}")
        let expected = Array(withUnsafeBytes(of: UInt64(25).littleEndian, Array.init)) + Array("PolicyException team/keep".utf8)
            + Array(withUnsafeBytes(of: UInt64(2).littleEndian, Array.init)) + Array("{}".utf8)
        #expect(hash.hexDigest == String(DigestAlgorithm.sha256.hexHash(expected).prefix(32)))
        // Strings are told apart where they end, a NUL in one included.
        var moved = StableHash()
        moved.combine("PolicyException team/keep{}")
        moved.combine("")
        #expect(moved.hexDigest != hash.hexDigest)
        var nul = StableHash()
        nul.combine("a\u{0}")
        nul.combine("b")
        var other = StableHash()
        other.combine("a")
        other.combine("\u{0}b")
        #expect(nul.hexDigest != other.hexDigest)
    }

    /// An exception deleted and made again by someone else with the same spec is another
    /// object: the set's revision changes with it, so replicas rebuild their decisions and its
    /// uses are attributed to the one who made it now (the revision followed the spec alone,
    /// and audit records and Events went on naming the first author).
    @Test func anExceptionMadeAgainBySomeoneElseIsAnotherRevision() async throws {
        let now = try #require(KubernetesTime.parse("2026-11-22T10:00:00Z"))
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy)
        func exception(by user: String) -> [String: Any] {
            var object = Self.exception(validUntil: "2026-11-22T11:00:00Z")
            object["metadata"] = ["name": "vendor", "namespace": "billing", "annotations": [ExemptionAttribution.createdByAnnotation: user]]
            return object
        }
        try server.apply("policyexceptions", exception(by: "alice"))
        let source = try Self.source(server, now: now, writeStatus: false)
        let task = Task { await source.run() }
        defer { task.cancel() }
        await source.waitUntilLoaded()
        try await KubernetesWatchTests.eventually("alice's exception") { await source.current().exceptions.first?.attribution.createdBy == "alice" }
        let revision = await source.current().revision
        try server.delete("policyexceptions", key: "billing/vendor")
        try server.apply("policyexceptions", exception(by: "bob"))
        try await KubernetesWatchTests.eventually("bob's exception") { await source.current().exceptions.first?.attribution.createdBy == "bob" }
        #expect(await source.current().revision != revision)
    }

    /// A namespace's PolicyExceptions take at most 1 MiB of specs together, the oldest first:
    /// the newest beyond it are left out, named, and the usage the webhook refuses new ones by
    /// is published. Another namespace is not held back by it.
    @Test func aNamespaceHoldsAtMostItsBudgetOfExceptions() async throws {
        let now = try #require(KubernetesTime.parse("2026-11-22T10:00:00Z"))
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy)
        // 256 name globs of about 250 bytes: some 64 KB of spec each.
        let names = (0..<256).map { "n\($0)-" + String(repeating: "a", count: 240) }
        func exception(_ index: Int, namespace: String = "billing") -> [String: Any] {
            var object = Self.exception(validUntil: "2026-11-22T11:00:00Z")
            object["metadata"] = [
                "name": "vendor-\(index)", "namespace": namespace,
                "creationTimestamp": String(format: "2026-11-22T09:%02d:00Z", index),
            ]
            var spec = object["spec"] as? [String: Any] ?? [:]
            spec["names"] = names
            object["spec"] = spec
            return object
        }
        for index in 0..<20 { try server.apply("policyexceptions", exception(index)) }
        // What signet and the API server write after admission (status, managed fields, the
        // resourceVersion) is not measured: the webhook, which measures the object as made, and
        // the source agree on every exception's size.
        var stored = exception(0, namespace: "shop")
        var storedMetadata = stored["metadata"] as? [String: Any] ?? [:]
        storedMetadata["managedFields"] = [["manager": "kubectl", "operation": "Update", "fieldsV1": ["f:spec": ["f:names": [:]]]]]
        stored["metadata"] = storedMetadata
        stored["status"] = ["state": "Active", "message": String(repeating: "m", count: 400)]
        try server.apply("policyexceptions", stored)
        // The same in annotations, beside a small spec: the whole object counts.
        for index in 0..<20 {
            var object = Self.exception(validUntil: "2026-11-22T11:00:00Z")
            object["metadata"] = [
                "name": "vendor-\(index)", "namespace": "ads", "creationTimestamp": String(format: "2026-11-22T09:%02d:00Z", index),
                "annotations": Dictionary(uniqueKeysWithValues: names.map { ("example.com/\($0)", $0) }),
            ]
            try server.apply("policyexceptions", object)
        }
        let source = try Self.source(server, now: now, writeStatus: false)
        let task = Task { await source.run() }
        defer { task.cancel() }
        await source.waitUntilLoaded()

        let inForce = Set(await source.current().exceptions.map(\.qualifiedName))
        let kept = (0..<20).filter { inForce.contains("billing/vendor-\($0)") }
        #expect(kept == Array(0..<kept.count) && kept.count >= 15 && kept.count < 20, "the oldest are kept: \(kept)")
        #expect(inForce.contains("shop/vendor-0"))
        let rejected = await source.rejected
        #expect(rejected.keys.filter { $0.hasPrefix("PolicyException billing/") }.sorted() == (kept.count..<20).map { "PolicyException billing/vendor-\($0)" }.sorted(), "\(rejected.keys)")
        #expect(rejected["PolicyException billing/vendor-19"]?.contains("one namespace's may take at most \(1 << 20)") == true)
        let usage = try #require(source.exceptionUsage("billing"))
        #expect(usage.count == kept.count && usage.bytes <= 1 << 20 && usage.sizes["vendor-0"] != nil)
        #expect(source.exceptionUsage("shop")?.count == 1)
        // As the webhook saw it: the uid the API server gave it (the double's), no status, no managed fields.
        var admitted = exception(0, namespace: "shop")
        var admittedMetadata = admitted["metadata"] as? [String: Any] ?? [:]
        admittedMetadata["uid"] = "uid-shop/vendor-0"
        admitted["metadata"] = admittedMetadata
        #expect(source.exceptionUsage("shop")?.sizes["vendor-0"] == ExemptionLimits.measuredBytes(admitted))
        let ads = (0..<20).filter { inForce.contains("ads/vendor-\($0)") }
        #expect(ads == Array(0..<ads.count) && ads.count >= 5 && ads.count < 20, "the oldest are kept: \(ads)")
        #expect(rejected["PolicyException ads/vendor-19"]?.contains("labels and annotations included") == true)

        // An older one deleted makes room for the next.
        try server.delete("policyexceptions", key: "billing/vendor-0")
        let next = "billing/vendor-\(kept.count)"
        try await KubernetesWatchTests.eventually("\(next) in force") {
            await source.current().exceptions.contains { $0.qualifiedName == next }
        }
    }

    static func crdCheck(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let root = TestPaths.packageRoot
        return try await TestProcess.run("python3", [root.appendingPathComponent("Tests/CRDChecks/crd_check.py").path] + arguments)
    }

    @Test func theCRDsAreStructuralAndTheExamplesValidate() async throws {
        let root = TestPaths.packageRoot.path
        let result = try await Self.crdCheck(["\(root)/deploy/crds", "\(root)/policies", "\(root)/deploy/crds/examples"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("checked 3 CRD versions and 7 documents, 0 problems"))
    }

    @Test func theWebhookDeclaresNoSideEffectsSoDryRunsReachIt() async throws {
        // deploy/signet.yaml is the chart's rendering (see the Makefile's `manifests` target).
        let file = TestPaths.packageRoot.appendingPathComponent("deploy/signet.yaml").path
        let script = """
            import sys, yaml
            configs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "ValidatingWebhookConfiguration"]
            assert len(configs) == 1, len(configs)
            config = configs[0]
            assert config["apiVersion"] == "admissionregistration.k8s.io/v1"
            hooks = config["webhooks"]
            assert {hook["name"] for hook in hooks} == {"images.signet.dev", "namespaces.signet.dev", "policies.signet.dev", "exemptions.signet.dev"}
            for hook in hooks:
                assert hook["sideEffects"] == "None", hook["name"]
                assert hook["admissionReviewVersions"] == ["v1"]
            # signet honours the opt-out label itself (counted, logged, audited); the API server
            # skips only the system namespaces, and sends signet every change of the label.
            images = [hook for hook in hooks if hook["name"] == "images.signet.dev"][0]
            assert images["namespaceSelector"]["matchExpressions"] == [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "signet-system", "cert-manager"]}], images
            labels = [hook for hook in hooks if hook["name"] == "namespaces.signet.dev"][0]
            assert labels["objectSelector"] == {"matchExpressions": [{"key": "signet.dev/exclude", "operator": "Exists"}]}, labels
            own = {r for hook in hooks if hook["name"] in ("policies.signet.dev", "exemptions.signet.dev") for rule in hook["rules"] for r in rule["resources"]}
            assert own == {"clusterimagepolicies", "policyexceptions", "emergencybypasses"}, own
            exemptions = [hook for hook in hooks if hook["name"] == "exemptions.signet.dev"][0]
            assert "objectSelector" not in exemptions and "namespaceSelector" not in exemptions
            print("ok")
            """
        let result = try await TestProcess.run("python3", ["-c", script, file])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func theCRDCheckCatchesBadSchemasAndBadDocuments() async throws {
        let root = TestPaths.packageRoot.path
        let scratch = TemporaryDirectory(prefix: "signet-crd")
        try scratch.write("bad.yaml", """
            apiVersion: signet.dev/v1alpha1
            kind: PolicyException
            metadata:
              name: bad
              namespace: team
            spec:
              reason: r
              approvedBy: a
              expires: tomorrow
            ---
            apiVersion: signet.dev/v1alpha1
            kind: EmergencyBypass
            metadata:
              name: both
            spec:
              namespaces: [a]
              allNamespaces: true
              reason: r
              requestedBy: o
              expiresAt: "2026-11-22T10:00:00Z"
            ---
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: p
            spec:
              images: [{glob: "a"}]
              authorities: [{static: {action: pass}, key: {}}]
              mode: Block
            """)
        let documents = try await Self.crdCheck(["\(root)/deploy/crds", scratch.file("bad.yaml").path])
        #expect(documents.status == 1)
        #expect(documents.stdout.contains("'validUntil' is a required property"))
        #expect(documents.stdout.contains("'expires' was unexpected"))
        #expect(documents.stdout.contains("document 2"))
        #expect(documents.stdout.contains("'Block' is not one of"))

        let crds = TemporaryDirectory(prefix: "signet-crd-bad")
        let original = try String(contentsOfFile: "\(root)/deploy/crds/signet.dev_policyexceptions.yaml", encoding: .utf8)
        try crds.write("crd.yaml", original.replacingOccurrences(of: "                reason:\n                  type: string\n", with: "                reason:\n                  minLength: 1\n                  description: no type\n"))
        let schema = try await Self.crdCheck([crds.path])
        #expect(schema.status == 1)
        #expect(schema.stdout.contains("properties.reason: no type"))
    }
}
