import Foundation
import SignetKube
import SignetRegistry
import SignetTestSupport
import Testing

/// The list/watch client against ``KubernetesAPIServerDouble``, a faithful double of the API
/// server's list/watch wire protocol over HTTPS (no real API server can run here): JSON lists,
/// chunked watch streams of ADDED/MODIFIED/DELETED/BOOKMARK/ERROR events, 410 Gone as an event
/// and as a status, dropped connections and cleanly ended watches.
@Suite(.serialized)
struct KubernetesWatchTests {
    static func policy(_ name: String, glob: String = "docker.io/**") -> [String: Any] {
        [
            "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": name],
            "spec": ["images": [["glob": glob]], "authorities": [["name": "a", "static": ["action": "fail"]]]],
        ]
    }

    static func client(_ server: KubernetesAPIServerDouble) throws -> KubernetesClient {
        var configuration = KubernetesClientConfiguration(serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile)
        configuration.watchTimeout = .seconds(300)
        return try KubernetesClient(configuration: configuration)
    }

    /// Polls `condition` until it holds; fails the test after a generous bound.
    static func eventually(_ what: String, rounds: Int = 1000, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<rounds {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("never happened: \(what)")
        throw CancellationError()
    }

    /// A reflector of ClusterImagePolicies that retries within tens of milliseconds.
    static func quicklyRetrying(_ server: KubernetesAPIServerDouble, relistAfterBrokenWatches: Int = ResourceReflector.relistAfterBrokenWatches) throws -> ResourceReflector {
        ResourceReflector(
            client: try client(server), resource: .clusterImagePolicies, backoff: Backoff(initial: .milliseconds(10), maximum: .milliseconds(50)),
            relistAfterBrokenWatches: relistAfterBrokenWatches)
    }

    static func start(_ reflector: ResourceReflector) -> Task<Void, Never> {
        Task { await reflector.run() }
    }

    @Test func listsThenAppliesWatchEventsAndBookmarks() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy("one"))
        let reflector = ResourceReflector(client: try Self.client(server), resource: .clusterImagePolicies)
        #expect(await reflector.hasSynced == false)
        let task = Self.start(reflector)
        defer { task.cancel() }
        try await Self.eventually("first sync") { await reflector.snapshot.hasSynced }
        #expect(await reflector.snapshot.objects.map(\.name) == ["one"])

        try await Self.eventually("watch open") { try server.openWatches() == 1 }
        try server.apply("clusterimagepolicies", Self.policy("two"))
        try await Self.eventually("ADDED two") { await reflector.snapshot.objects.map(\.name) == ["one", "two"] }
        let modifiedVersion = try server.apply("clusterimagepolicies", Self.policy("two", glob: "quay.io/**"))
        try await Self.eventually("MODIFIED two") {
            await reflector.snapshot.objects.first { $0.name == "two" }?.resourceVersion == modifiedVersion
        }
        let two = try #require(await reflector.snapshot.objects.first { $0.name == "two" })
        #expect(String(decoding: two.json, as: UTF8.self).contains("quay.io"))
        try server.delete("clusterimagepolicies", key: "one")
        try await Self.eventually("DELETED one") { await reflector.snapshot.objects.map(\.name) == ["two"] }

        // Changes to another resource advance the server's version; a bookmark carries it here.
        let otherVersion = try server.apply("namespaces", ["metadata": ["name": "team"]])
        try server.bookmark("clusterimagepolicies")
        try await Self.eventually("bookmark") { await reflector.snapshot.resourceVersion == otherVersion }
        let counters = await reflector.snapshot.counters
        #expect(counters.bookmarks == 1)
        #expect(counters.lists == 1)
        #expect(await reflector.snapshot.objects.map(\.name) == ["two"])
    }

    @Test func resumesFromTheLastResourceVersionAfterADroppedConnection() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy("one"))
        let reflector = try Self.quicklyRetrying(server)
        let task = Self.start(reflector)
        defer { task.cancel() }
        try await Self.eventually("watch open") { try server.openWatches() == 1 }
        let version = await reflector.snapshot.resourceVersion

        try server.dropWatches()
        try await Self.eventually("reconnected") { await reflector.snapshot.counters.reconnects == 1 }
        try await Self.eventually("watch reopened") { try server.openWatches() == 1 }
        try server.apply("clusterimagepolicies", Self.policy("two"))
        try await Self.eventually("event after reconnect") { await reflector.snapshot.objects.count == 2 }

        let watches = try server.requests().filter { $0.contains("watch=1") }
        #expect(watches.count == 2)
        #expect(watches.allSatisfy { $0.contains("resourceVersion=\(version)") })
        #expect(watches.allSatisfy { $0.contains("allowWatchBookmarks=true") })
        #expect(await reflector.snapshot.counters.lists == 1)
    }

    /// A store whose watch keeps failing is still served, as it was: ``lastContact`` says when
    /// the API server last answered (the list, an event, a watch it ended), and does not move
    /// while every watch is refused.
    @Test func lastContactStaysWhileTheWatchIsRefused() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy("one"))
        let reflector = try Self.quicklyRetrying(server)
        #expect(await reflector.lastContact == nil)
        let task = Self.start(reflector)
        defer { task.cancel() }
        try await Self.eventually("watch open") { try server.openWatches() == 1 }
        let listed = try #require(await reflector.lastContact)

        try server.holdWatches(true)
        try server.holdLists(true)
        try server.dropWatches()
        try await Self.eventually("refused watches") { try server.requests().filter { $0.contains("watch=1") }.count >= 4 }
        #expect(await reflector.lastContact == listed, "no answer came")
        #expect(await reflector.snapshot.objects.map(\.name) == ["one"], "the store is served as it was")

        try server.holdLists(false)
        try server.holdWatches(false)
        try await Self.eventually("watch reopened") { try server.openWatches() == 1 }
        try server.apply("clusterimagepolicies", Self.policy("two"))
        try await Self.eventually("event") { await reflector.snapshot.objects.count == 2 }
        let evented = try #require(await reflector.lastContact)
        #expect(evented > listed)
        try server.endWatches()
        try await Self.eventually("ended watch counted") { (await reflector.lastContact ?? .distantPast) > evented }
    }

    /// A watch refused again and again for a reason other than 410 Gone is not retried from
    /// the same resourceVersion for ever: after a few in a row the store is listed anew, and
    /// what changed meanwhile is seen.
    @Test func watchesRefusedInARowLeadToANewList() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy("one"))
        let reflector = try Self.quicklyRetrying(server)
        let task = Self.start(reflector)
        defer { task.cancel() }
        try await Self.eventually("watch open") { try server.openWatches() == 1 }
        try server.holdWatches(true)
        try server.dropWatches()
        try server.apply("clusterimagepolicies", Self.policy("two"))
        try await Self.eventually("listed anew") { await reflector.snapshot.objects.map(\.name) == ["one", "two"] }
        #expect(await reflector.completedLists >= 2)
        #expect(try server.requests().filter { $0.contains("watch=1") }.count >= ResourceReflector.relistAfterBrokenWatches)
    }

    /// A watch the server neither ends at its `timeoutSeconds` nor breaks (a hung connection) is
    /// a broken watch when the client's grace has passed: reconnected, and no contact, so the
    /// staleness it hides shows.
    @Test func aHungWatchIsNoContact() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy("one"))
        var configuration = KubernetesClientConfiguration(serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile)
        configuration.watchTimeout = .seconds(1)
        configuration.watchEndGrace = .seconds(1)
        let reflector = ResourceReflector(
            client: try KubernetesClient(configuration: configuration), resource: .clusterImagePolicies,
            backoff: Backoff(initial: .milliseconds(10), maximum: .milliseconds(50)))
        try server.stallWatches(true)
        let task = Self.start(reflector)
        defer { task.cancel() }
        try await Self.eventually("listed") { await reflector.hasSynced }
        let listed = try #require(await reflector.lastContact)
        try await Self.eventually("hung watches given up", rounds: 1500) { await reflector.snapshot.counters.reconnects >= 2 }
        #expect(await reflector.lastContact == listed)

        try server.stallWatches(false)
        try server.apply("clusterimagepolicies", Self.policy("two"))
        try await Self.eventually("event", rounds: 1500) { await reflector.snapshot.objects.count == 2 }
        #expect((await reflector.lastContact ?? .distantPast) > listed)
    }

    @Test func aWatchTheServerEndsIsResumedWithoutRelisting() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let reflector = ResourceReflector(client: try Self.client(server), resource: .clusterImagePolicies)
        let task = Self.start(reflector)
        defer { task.cancel() }
        try await Self.eventually("watch open") { try server.openWatches() == 1 }
        try server.apply("clusterimagepolicies", Self.policy("one"))
        try await Self.eventually("ADDED") { await reflector.snapshot.objects.count == 1 }
        let version = await reflector.snapshot.resourceVersion
        try server.endWatches()
        try await Self.eventually("second watch") { try server.requests().filter { $0.contains("watch=1") }.count == 2 }
        let last = try #require(try server.requests().last { $0.contains("watch=1") })
        #expect(last.contains("resourceVersion=\(version)"))
        let counters = await reflector.snapshot.counters
        #expect(counters.lists == 1)
        #expect(counters.reconnects == 0)
    }

    @Test(arguments: [false, true])
    func relistsOnGone(asHTTPStatus: Bool) async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy("one"))
        // Not listed anew for watches refused meanwhile: the relist here is the Gone's.
        let reflector = try Self.quicklyRetrying(server, relistAfterBrokenWatches: 1_000_000)
        let task = Self.start(reflector)
        defer { task.cancel() }
        try await Self.eventually("watch open") { try server.openWatches() == 1 }
        // Changes the client misses while it cannot watch, then history compacted past its version.
        try server.holdWatches(true)
        try server.dropWatches()
        try server.apply("clusterimagepolicies", Self.policy("two"))
        try server.delete("clusterimagepolicies", key: "one")
        try server.compact(asHTTPStatus: asHTTPStatus)
        try server.holdWatches(false)
        try await Self.eventually("relisted") { await reflector.snapshot.counters.lists == 2 }
        #expect(await reflector.snapshot.counters.relistsAfterGone == 1)
        try await Self.eventually("state after relist") { await reflector.snapshot.objects.map(\.name) == ["two"] }
        try await Self.eventually("watching again") { try server.openWatches() == 1 }
        try server.apply("clusterimagepolicies", Self.policy("three"))
        try await Self.eventually("live again") { await reflector.snapshot.objects.map(\.name) == ["three", "two"] }
    }

    /// A reflector whose consumer reads ``ResourceReflector/snapshot`` when it needs it (the
    /// Pods of continuous verification) builds no snapshot per event: its store follows the
    /// list and every event, and its stream stays empty.
    @Test func aReflectorThatDoesNotPublishStillFollowsTheStore() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("clusterimagepolicies", Self.policy("one"))
        let reflector = ResourceReflector(client: try Self.client(server), resource: .clusterImagePolicies, publishesSnapshots: false)
        let task = Self.start(reflector)
        try await Self.eventually("listed") { await reflector.snapshot.objects.map(\.name) == ["one"] }
        try await Self.eventually("watch open") { try server.openWatches() == 1 }
        try server.apply("clusterimagepolicies", Self.policy("two"))
        try await Self.eventually("the event applied") { await reflector.snapshot.objects.map(\.name) == ["one", "two"] }
        task.cancel()
        await task.value
        var published = 0
        for await _ in reflector.snapshots { published += 1 }
        #expect(published == 0)
    }

    @Test func coreListItemsGetTheirKindAndLabels() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "billing", "labels": ["team": "billing"]]])
        let list = try await Self.client(server).list(.namespaces)
        let namespace = try #require(list.items.first)
        #expect(namespace.labels == ["team": "billing"])
        #expect(namespace.dictionary["kind"] as? String == "Namespace")
        #expect(namespace.dictionary["apiVersion"] as? String == "v1")
        #expect(!list.resourceVersion.isEmpty)
    }

    /// What a list or a watch brings into a reflector leaves out `metadata.managedFields`, which
    /// signet never reads and which is often most of an object's metadata; everything else stays.
    /// Lists and watches leave out `metadata.managedFields`, and a Pod keeps only what signet
    /// reads of it (``KubernetesObject/podAsSignetReadsIt(_:)``): a megabyte of environment
    /// variables or annotations, which whoever creates the Pod chooses, is not kept for every Pod
    /// continuous verification watches.
    @Test func listsAndWatchesDropManagedFields() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let bulk = String(repeating: "x", count: 100_000)
        let tools = "ghcr.io/acme/tools@sha256:" + String(repeating: "c", count: 64)
        func pod(_ name: String) -> [String: Any] {
            ["apiVersion": "v1", "kind": "Pod",
             "metadata": ["name": name, "namespace": "shop", "uid": "uid-\(name)", "labels": ["app": "web"], "annotations": ["bulk": bulk],
                          "ownerReferences": [["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "rs", "controller": true]],
                          "managedFields": [["manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
                                             "fieldsType": "FieldsV1", "fieldsV1": ["f:spec": ["f:containers": [String: Any]()]]]]],
             "spec": ["serviceAccountName": "builder", "imagePullSecrets": [["name": "regcred"]],
                      "containers": [["name": "app", "image": "ghcr.io/acme/web:1", "env": [["name": "BULK", "value": bulk]]]],
                      "initContainers": [["name": "init", "image": "ghcr.io/acme/init:1", "command": ["sh"]]],
                      "volumes": [["name": "data", "emptyDir": [String: Any]()], ["name": "tools", "image": ["reference": "ghcr.io/acme/tools:1"]]]],
             "status": ["phase": "Running", "containerStatuses": [["name": "app", "image": "ghcr.io/acme/web:1",
                                                                   "imageID": "ghcr.io/acme/web@sha256:" + String(repeating: "a", count: 64), "ready": true,
                                                                   "volumeMounts": [["name": "data", "mountPath": "/data"],
                                                                                    ["name": "tools", "mountPath": "/tools", "readOnly": true,
                                                                                     "volumeStatus": ["image": ["imageRef": tools]]]]]]]]
        }
        try server.apply("pods", pod("listed"))
        let reflector = ResourceReflector(client: try Self.client(server), resource: .pods)
        let task = Self.start(reflector)
        defer { task.cancel() }
        try await Self.eventually("first sync") { await reflector.snapshot.hasSynced }
        try await Self.eventually("watch open") { try server.openWatches() == 1 }
        try server.apply("pods", pod("watched"))
        try await Self.eventually("ADDED watched") { await reflector.snapshot.objects.count == 2 }
        for object in await reflector.snapshot.objects {
            let metadata = try #require(object.dictionary["metadata"] as? [String: Any])
            #expect(metadata["managedFields"] == nil, "\(object.name) kept its managedFields")
            #expect(object.json.count < 2_000, "\(object.name) kept \(object.json.count) bytes")
            #expect(metadata["uid"] as? String == "uid-\(object.name)" && metadata["annotations"] == nil)
            #expect((metadata["ownerReferences"] as? [[String: Any]])?.first?["name"] as? String == "web-1")
            let spec = try #require(object.dictionary["spec"] as? [String: Any])
            #expect(spec["serviceAccountName"] as? String == "builder")
            #expect((spec["imagePullSecrets"] as? [[String: Any]])?.first?["name"] as? String == "regcred")
            #expect(spec["containers"] as? [[String: String]] == [["name": "app", "image": "ghcr.io/acme/web:1"]])
            #expect(spec["initContainers"] as? [[String: String]] == [["name": "init", "image": "ghcr.io/acme/init:1"]])
            #expect((spec["volumes"] as? [[String: Any]])?.map { $0["name"] as? String } == ["tools"])
            let status = try #require(object.dictionary["status"] as? [String: Any])
            #expect(status["phase"] as? String == "Running")
            #expect((status["containerStatuses"] as? [[String: Any]])?.first?["imageID"] as? String == "ghcr.io/acme/web@sha256:" + String(repeating: "a", count: 64))
            #expect((status["containerStatuses"] as? [[String: Any]])?.first?["ready"] == nil)
            // Of the mounts, an image volume's mounted digest alone.
            let mounts = (status["containerStatuses"] as? [[String: Any]])?.first?["volumeMounts"] as? [[String: Any]]
            #expect(mounts?.count == 1 && mounts?.first?["name"] as? String == "tools" && mounts?.first?["mountPath"] == nil, "\(String(describing: mounts))")
            #expect(((mounts?.first?["volumeStatus"] as? [String: Any])?["image"] as? [String: Any])?["imageRef"] as? String == tools)
        }
        // A single read keeps the object as the server gave it.
        let read = try #require(try await Self.client(server).get(.pods, name: "listed", namespace: "shop"))
        #expect((read.dictionary["metadata"] as? [String: Any])?["managedFields"] != nil)
    }

    /// A list page is parsed into a tree several times its size: pages of large Pods (which
    /// whoever may create Pods fills at will) are read at most 8 MiB at a time, the page asked
    /// again with fewer objects, and a watch event longer than the limit ends the watch.
    @Test func largePagesAreAskedForAgainSmallerAndLongEventsEndTheWatch() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let bulk = String(repeating: "x", count: 600_000)
        for index in 0..<20 {
            try server.apply("pods", [
                "apiVersion": "v1", "kind": "Pod",
                "metadata": ["name": "large-\(index)", "namespace": "shop", "uid": "uid-\(index)", "annotations": ["bulk": bulk]],
                "spec": ["containers": [["name": "app", "image": "ghcr.io/acme/web:1"]]],
            ])
        }
        // One Pod larger than a page may be (the API server's JSON of a 1.5 MiB object can be
        // six times that: it writes `<` as `\u003c`): read alone, up to an object's limit.
        try server.apply("pods", [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": "huge", "namespace": "shop", "uid": "uid-huge", "annotations": ["bulk": String(repeating: "x", count: 9_000_000)]],
            "spec": ["containers": [["name": "app", "image": "ghcr.io/acme/web:1"]]],
        ])
        let list = try await Self.client(server).list(.pods)
        #expect(list.items.count == 21)
        // 20 × 600 kB is one 12 MB page of 500 Pods: asked again, it came in smaller pages, and
        // past the huge Pod (read alone) the pages grew again.
        #expect(try server.continuedPages() > 0)
        let limits = try server.requests().filter { $0.hasPrefix("GET /api/v1/pods?") }
            .compactMap { $0.split(separator: "limit=").last.flatMap { Int($0.prefix { $0.isNumber }) } }
        let single = try #require(limits.lastIndex(of: 1), "\(limits)")
        #expect(limits[(single + 1)...].contains { $0 > 1 }, "\(limits)")

        var configuration = KubernetesClientConfiguration(serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile)
        configuration.maximumObjectBytes = 256 * 1024
        // Without the limit the server ends the watch after its timeout and no error comes.
        configuration.watchTimeout = .seconds(10)
        let small = try KubernetesClient(configuration: configuration)
        let events = small.watch(.pods, resourceVersion: list.resourceVersion)
        try await Self.eventually("watch open") { try server.openWatches() == 1 }
        try server.apply("pods", [
            "apiVersion": "v1", "kind": "Pod", "metadata": ["name": "later", "namespace": "shop", "uid": "uid-later", "annotations": ["bulk": bulk]],
            "spec": ["containers": [["name": "app", "image": "ghcr.io/acme/web:1"]]],
        ])
        let error = await #expect(throws: KubernetesError.self) { for try await _ in events {} }
        #expect(error?.description.contains("a watch event is longer than 262144 bytes") == true, "\(String(describing: error))")
    }

    @Test func aWrongTokenIsAnError() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let directory = TemporaryDirectory()
        let token = try directory.write("token", "wrong")
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: token.path, caFile: server.pki.caFile))
        await #expect(throws: KubernetesError.self) { try await client.list(.namespaces) }
        do {
            _ = try await client.list(.namespaces)
        } catch {
            #expect(error.statusCode == 401)
        }
    }

    @Test func inClusterConfigurationReadsTheServiceAccount() throws {
        let directory = TemporaryDirectory()
        try directory.write("token", "abc\n")
        try directory.write("ca.crt", "-----BEGIN CERTIFICATE-----\n")
        try directory.write("namespace", "signet-system\n")
        let configuration = try KubernetesClientConfiguration.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
            serviceAccountDirectory: directory.path)
        #expect(configuration.serverURL == "https://10.0.0.1:443")
        #expect(configuration.namespace == "signet-system")
        #expect(configuration.caFile == directory.file("ca.crt").path)
        let ipv6 = try KubernetesClientConfiguration.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"], serviceAccountDirectory: directory.path)
        #expect(ipv6.serverURL == "https://[fd00::1]:6443")
        #expect(throws: KubernetesError.self) {
            try KubernetesClientConfiguration.inCluster(environment: [:], serviceAccountDirectory: directory.path)
        }
    }

    @Test func pullSecretsComeFromThePodTheServiceAccountAndTheConfiguration() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("secrets", Self.pullSecret("billing", "pod-secret", registry: "ghcr.io", user: "pod"))
        try server.apply("secrets", Self.pullSecret("billing", "sa-secret", registry: "quay.io", user: "sa"))
        try server.apply("secrets", Self.pullSecret("billing", "sa-ghcr", registry: "ghcr.io", user: "sa"))
        try server.apply("secrets", Self.pullSecret("signet-system", "global", registry: "registry.example.com", user: "global"))
        try server.apply("serviceaccounts", ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "builder", "namespace": "billing"],
                                             "imagePullSecrets": [["name": "sa-secret"], ["name": "sa-ghcr"], ["name": "missing"]]])
        let reader = PullSecretReader(client: try Self.client(server), configuredSecrets: ["signet-system/global"])
        let store = await reader.credentials(namespace: "billing", pullSecrets: ["pod-secret"], serviceAccount: "builder")
        #expect(store.credential(for: "ghcr.io")?.username == "pod")
        #expect(store.credential(for: "quay.io")?.username == "sa")
        #expect(store.credential(for: "registry.example.com")?.username == "global")
        #expect(store.credential(for: "docker.io") == nil)
    }

    /// A `kubernetes.io/dockerconfigjson` Secret giving `user` (password `pw`) for `registry`.
    static func pullSecret(_ namespace: String, _ name: String, registry: String, user: String) -> [String: Any] {
        let auth = Data("\(user):pw".utf8).base64EncodedString()
        let config = #"{"auths":{"\#(registry)":{"auth":"\#(auth)"}}}"#
        return ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": name, "namespace": namespace],
                "type": "kubernetes.io/dockerconfigjson", "data": [".dockerconfigjson": Data(config.utf8).base64EncodedString()]]
    }

    /// A burst of pods with the same secrets costs one round of API reads; with no cache
    /// lifetime every pod reads again (so a rotated secret is seen).
    @Test func pullSecretsAreReadOncePerLifetime() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("secrets", Self.pullSecret("shop", "pull", registry: "ghcr.io", user: "pod"))
        func secretReads() throws -> Int {
            try server.requests().filter { $0.hasPrefix("GET /api/v1/namespaces/shop/secrets/pull") }.count
        }
        let cached = PullSecretReader(client: try Self.client(server))
        for _ in 0..<5 {
            let store = await cached.credentials(namespace: "shop", pullSecrets: ["pull"], serviceAccount: nil)
            #expect(store.credential(for: "ghcr.io")?.username == "pod")
        }
        #expect(try secretReads() == 1)
        // Another pull secret list is another entry.
        _ = await cached.credentials(namespace: "shop", pullSecrets: ["pull", "other"], serviceAccount: nil)
        #expect(try secretReads() == 2)

        // A pod naming thousands of pull secrets (or one name thousands of times) costs at most
        // `maximumPullSecrets` reads: distinct names, in order.
        let crowded = ["pull"] + (0..<5_000).map { "s\($0 % 2_500)" }
        _ = await cached.credentials(namespace: "shop", pullSecrets: crowded, serviceAccount: nil)
        let reads = try server.requests().filter { $0.hasPrefix("GET /api/v1/namespaces/shop/secrets/") }
        #expect(reads.filter { $0.hasPrefix("GET /api/v1/namespaces/shop/secrets/s") }.count == PullSecretNames.maximum - 1)
        #expect(try secretReads() == 3)

        let uncached = PullSecretReader(client: try Self.client(server), cacheLifetime: .zero)
        for _ in 0..<3 {
            _ = await uncached.credentials(namespace: "shop", pullSecrets: ["pull"], serviceAccount: nil)
        }
        #expect(try secretReads() == 6)
    }

    /// A namespace's pods cause at most their share of API reads: a tenant naming 32 new pull
    /// secrets at every dry run made 33 reads each time, which filled signet's API priority level
    /// for every other namespace. Beyond the share the reads are not made (and what was read is
    /// not cached, so the next pod reads again); another namespace has its own share, signet's
    /// own secrets are read once for every namespace and charged to none, and pods asking at
    /// once with the same secrets (a rollout) share one read.
    @Test func aNamespaceCausesAtMostItsShareOfSecretReads() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("secrets", Self.pullSecret("shop", "pull", registry: "ghcr.io", user: "pod"))
        try server.apply("secrets", Self.pullSecret("signet-system", "global", registry: "registry.example.com", user: "global"))
        let reader = PullSecretReader(
            client: try Self.client(server), configuredSecrets: ["signet-system/global"], readBurst: 10, readsPerSecond: 0.001)
        func reads(_ namespace: String) throws -> Int {
            try server.requests().filter { $0.hasPrefix("GET /api/v1/namespaces/\(namespace)/") }.count
        }
        var last = RegistryCredentialStore()
        for attempt in 0..<20 {
            last = await reader.credentials(namespace: "flood", pullSecrets: (0..<32).map { "s\(attempt)-\($0)" }, serviceAccount: nil)
        }
        let flood = try reads("flood")
        #expect(flood == 10, "\(flood) reads for one namespace")
        #expect(last.credential(for: "registry.example.com")?.username == "global", "signet's own secret was charged to the namespace")
        // What a registry's refusal of the pod then says: why its secrets were not read.
        #expect(last.withheld?.contains("the pods of namespace flood asked for more API reads of pull secrets than signet makes for one namespace (10 at once") == true,
                "\(last.withheld ?? "nothing withheld")")
        #expect(try reads("signet-system") == 1)

        // Forty pods of one rollout at once: one read of the service account and one of the secret.
        let stores = await withTaskGroup(of: RegistryCredentialStore.self) { group in
            for _ in 0..<40 { group.addTask { await reader.credentials(namespace: "shop", pullSecrets: ["pull"], serviceAccount: nil) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.allSatisfy { $0.credential(for: "ghcr.io")?.username == "pod" && $0.withheld == nil })
        #expect(try reads("shop") == 2)
    }

    /// A pull secret or service account name is one path segment, whatever the pod spec says
    /// (the API server does not check these names): `../../victim/secrets/regcred` used to
    /// read the Secret of another namespace, which then verified the tenant's images.
    @Test func aPullSecretNameCannotReachAnotherNamespace() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("secrets", Self.pullSecret("victim", "regcred", registry: "ghcr.io", user: "victim"))
        try server.apply("serviceaccounts", ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "builder", "namespace": "victim"],
                                             "imagePullSecrets": [["name": "regcred"]]])
        let reader = PullSecretReader(client: try Self.client(server))
        for (secrets, account) in [(["../../victim/secrets/regcred"], nil), (["..", "."], "../../victim/serviceaccounts/builder")] as [([String], String?)] {
            let store = await reader.credentials(namespace: "tenant", pullSecrets: secrets, serviceAccount: account)
            #expect(store.credential(for: "ghcr.io") == nil, "\(secrets) \(account ?? "")")
        }
        let requests = try server.requests()
        #expect(!requests.contains { $0.contains("/namespaces/victim/") }, "\(requests)")
        #expect(requests.contains { $0.hasPrefix("GET /api/v1/namespaces/tenant/secrets/..%2F..%2Fvictim%2Fsecrets%2Fregcred") }, "\(requests)")
        #expect(requests.contains { $0.hasPrefix("GET /api/v1/namespaces/tenant/secrets/%2E%2E") }, "\(requests)")
    }

    /// A service account naming a hundred pull secrets, with the pod's own: the two lists together
    /// cost at most `PullSecretNames.maximum` secret reads.
    @Test func aServiceAccountsPullSecretsCountTowardsTheBound() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try server.apply("serviceaccounts", ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "crowded", "namespace": "shop"],
                                             "imagePullSecrets": (0..<100).map { ["name": "sa-\($0)"] }])
        let reader = PullSecretReader(client: try Self.client(server))
        _ = await reader.credentials(namespace: "shop", pullSecrets: ["own"], serviceAccount: "crowded")
        let reads = try server.requests().filter { $0.hasPrefix("GET /api/v1/namespaces/shop/secrets/") }
        #expect(reads.count == PullSecretNames.maximum, "\(reads.count) secret reads")
        #expect(reads.first?.hasPrefix("GET /api/v1/namespaces/shop/secrets/own") == true)
    }
}
