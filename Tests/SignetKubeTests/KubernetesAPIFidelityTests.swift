import Foundation
import SignetKube
import SignetTestSupport
import Testing

/// The Kubernetes API behaviours the client must meet in a real cluster, against the API server
/// double that refuses what the real server refuses: lists in pages (API concepts, "Retrieving
/// large results sets in chunks") with a restart when the snapshot expires, namespace scoping and
/// label selectors, JSON merge patch (RFC 7386) of a status subresource, resourceVersion
/// preconditions (409 Conflict), and RBAC from the chart's own rules.
struct KubernetesAPIFidelityTests {
    static func exception(_ name: String, namespace: String, labels: [String: String] = [:]) -> [String: Any] {
        ["apiVersion": "signet.dev/v1alpha1", "kind": "PolicyException",
         "metadata": ["name": name, "namespace": namespace, "labels": labels],
         "spec": ["allPolicies": true, "validUntil": "2026-12-01T00:00:00Z"]]
    }

    static func client(_ server: KubernetesAPIServerDouble, pageSize: Int = 500) throws -> KubernetesClient {
        var configuration = KubernetesClientConfiguration(serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile)
        configuration.listPageSize = pageSize
        return try KubernetesClient(configuration: configuration)
    }

    @Test func aListIsReadInPagesScopedToItsNamespaceAndSelector() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        for index in 0..<7 {
            try server.apply("policyexceptions", Self.exception("billing-\(index)", namespace: "billing", labels: ["tier": index < 3 ? "gold" : "silver"]))
        }
        try server.apply("policyexceptions", Self.exception("shop-0", namespace: "shop", labels: ["tier": "gold"]))
        let client = try Self.client(server, pageSize: 3)

        let all = try await client.list(.policyExceptions)
        #expect(all.items.map(\.key).sorted() == (0..<7).map { "billing/billing-\($0)" } + ["shop/shop-0"])
        #expect(try server.continuedPages() == 2, "8 objects in pages of 3: two pages end with a continue token")
        #expect(!all.resourceVersion.isEmpty)

        let billing = try await client.list(.policyExceptions, scope: KubernetesListScope(namespace: "billing"))
        #expect(billing.items.count == 7)
        #expect(billing.items.allSatisfy { $0.namespace == "billing" })

        let gold = try await client.list(.policyExceptions, scope: KubernetesListScope(labelSelector: "tier=gold"))
        #expect(gold.items.map(\.key).sorted() == ["billing/billing-0", "billing/billing-1", "billing/billing-2", "shop/shop-0"])
        let notGoldInBilling = try await client.list(
            .policyExceptions, scope: KubernetesListScope(namespace: "billing", labelSelector: "tier notin (gold),tier"))
        #expect(notGoldInBilling.items.count == 4)
        #expect(try server.requests().contains { $0.contains("labelSelector=tier%20notin%20%28gold%29%2Ctier") })
    }

    /// Objects large enough that a page of them passes the response limit (anyone who can
    /// create Pods can make each a megabyte: a list of 500 of them passed signet's 64 MiB, and the
    /// list, and continuous verification waiting for it, never ended): the page is asked again
    /// with half as many objects until it fits.
    @Test func aPageLargerThanTheClientReadsIsAskedAgainWithFewerObjects() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let padding = String(repeating: "x", count: 20_000)
        for index in 0..<12 {
            var object = Self.exception("big-\(index)", namespace: "billing")
            object["spec"] = ["allPolicies": true, "validUntil": "2026-12-01T00:00:00Z", "reason": padding]
            try server.apply("policyexceptions", object)
        }
        var configuration = KubernetesClientConfiguration(serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile)
        configuration.listPageSize = 500
        configuration.maximumResponseBytes = 64 * 1024
        let client = try KubernetesClient(configuration: configuration)
        let list = try await client.list(.policyExceptions)
        #expect(list.items.map(\.key).sorted() == (0..<12).map { "billing/big-\($0)" }.sorted())
        let limits = try server.requests().filter { $0.hasPrefix("GET /apis/signet.dev/v1alpha1/policyexceptions?") }
            .compactMap { $0.split(separator: "limit=").last.flatMap { Int($0.prefix { $0.isNumber }) } }
        // Three objects of 20 KB fit in 64 KiB; seven do not.
        #expect(Array(limits.prefix(8)) == [500, 250, 125, 62, 31, 15, 7, 3], "\(limits)")
        #expect(limits.dropFirst(8).allSatisfy { $0 == 3 }, "\(limits)")
    }

    @Test func aListWhoseSnapshotExpiredStartsAgain() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        for index in 0..<5 { try server.apply("policyexceptions", Self.exception("e-\(index)", namespace: "billing")) }
        let client = try Self.client(server, pageSize: 2)
        try server.expireNextContinueToken()

        let list = try await client.list(.policyExceptions)
        #expect(list.items.count == 5)
        let firstPages = try server.requests().filter { $0.hasPrefix("GET /apis/signet.dev/v1alpha1/policyexceptions?") && !$0.contains("continue=") }
        #expect(firstPages.count == 2, "the expired list was started again once: \(firstPages)")
    }

    @Test func aStatusPatchMergesAndAStalePreconditionConflicts() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        var object = Self.exception("vendor", namespace: "billing")
        object["status"] = ["phase": "Active", "approvedAt": "2026-11-01T00:00:00Z"]
        let created = try server.apply("policyexceptions", object)
        let client = try Self.client(server)

        try await client.patchStatus(.policyExceptions, name: "vendor", namespace: "billing", patch: Array(#"{"status":{"phase":"Expired","approvedAt":null,"note":"ended"}}"#.utf8))
        let stored = try #require(try server.object("policyexceptions", key: "billing/vendor"))
        let status = try #require(stored["status"] as? [String: Any])
        #expect(status["phase"] as? String == "Expired")
        #expect(status["note"] as? String == "ended")
        #expect(status["approvedAt"] == nil, "null removes a field (RFC 7386)")
        #expect((stored["spec"] as? [String: Any])?["allPolicies"] as? Bool == true, "a status patch leaves the spec alone")

        let stale = #"{"metadata":{"resourceVersion":"\#(created)"},"status":{"phase":"Active"}}"#
        do {
            try await client.patchStatus(.policyExceptions, name: "vendor", namespace: "billing", patch: Array(stale.utf8))
            Issue.record("a patch based on an old resourceVersion was accepted")
        } catch {
            #expect(error.isConflict, "\(error)")
        }
        #expect((try server.object("policyexceptions", key: "billing/vendor")?["status"] as? [String: Any])?["phase"] as? String == "Expired")
    }

    @Test func theChartsRulesGrantWhatSignetReadsAndNothingElse() async throws {
        guard ChartRBAC.helm != nil else {
            print("skipped: helm is not installed (run `make tools` or set HELM)")
            return
        }
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("policyexceptions", Self.exception("vendor", namespace: "billing"))
        try server.apply("secrets", ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "pull", "namespace": "billing"]])
        try server.restrict(to: try ChartRBAC.serviceAccountRules())
        let client = try Self.client(server)

        #expect(try await client.list(.policyExceptions).items.count == 1)
        #expect(try await client.get(.deployments, name: "web", namespace: "billing") == nil, "get on Deployments is granted (404, not 403)")
        do {
            _ = try await client.list(.secrets, scope: KubernetesListScope(namespace: "billing"))
            Issue.record("the chart's default rules let signet list Secrets")
        } catch {
            #expect(error.isForbidden, "\(error)")
            #expect(error.message.contains("cannot list resource \"secrets\""))
        }
        do {
            _ = try await client.list(.deployments)
            Issue.record("the chart's rules let signet list Deployments (it needs get only)")
        } catch {
            #expect(error.isForbidden, "\(error)")
        }
    }
}
