import Foundation
import SignetCrypto
import SignetRegistry
import SignetTestSupport
import Testing

/// A TUF repository of the test's own (`Tests/SigstoreFixture/tuf_repository.py`: keys made by the
/// test, metadata signed over canonical JSON, served by Python's `http.server` on 127.0.0.1) that
/// delivers a Sigstore `trusted_root.json`. The repository is tested against; `signet serve` is
/// the client under test.
struct TestTUFRepository: @unchecked Sendable {
    // Immutable after init; the server is a child process.
    let directory: TemporaryDirectory
    let server: TestProcess
    let port: Int

    var mirrorURL: String { "http://127.0.0.1:\(port)" }
    /// The root a client bootstraps from (root version 1).
    var bootstrapRootFile: String { directory.file("mirror/1.root.json").path }

    static let script = TestPaths.packageRoot.appendingPathComponent("Tests/SigstoreFixture/tuf_repository.py").path

    /// Makes the keys and root 1, publishes `trustedRoot` as targets version 1 (its timestamp
    /// expiring at `timestampExpires`, RFC 3339, or with the other metadata in 2030), and serves it.
    static func start(trustedRoot: String, timestampExpires: String? = nil) async throws -> TestTUFRepository {
        let directory = TemporaryDirectory(prefix: "signet-private-tuf")
        let rootFile = try directory.write("trusted_root-1.json", trustedRoot).path
        let made = try await TestProcess.run(
            "python3", [script, "init", directory.path, rootFile], environment: timestampExpires.map { ["TUF_TIMESTAMP_EXPIRES": $0] } ?? [:])
        guard made.status == 0 else { throw TestProcessError(message: "tuf_repository.py init: \(made.stderr)") }
        return try await serve(directory)
    }

    /// Serves the repository in `directory` on a port of its own.
    private static func serve(_ directory: TemporaryDirectory) async throws -> TestTUFRepository {
        // Port 0 and the port the server says it bound: a port picked beforehand could be taken
        // by another test's server in between, and this test would then fetch from that one.
        let server = try TestProcess(
            "python3", ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", directory.file("mirror").path])
        let start = ContinuousClock.now
        while ContinuousClock.now - start < TestBudget.seconds(60), server.isRunning {
            if let range = server.stdout.range(of: #"port (\d+)"#, options: .regularExpression),
               let port = Int(server.stdout[range].dropFirst("port ".count)) {
                return TestTUFRepository(directory: directory, server: server, port: port)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        server.terminate()
        throw TestProcessError(message: "http.server did not start: \(server.stdout) \(server.stderr)")
    }

    /// Publishes `trustedRoot` as the next targets version (with new snapshot and timestamp).
    func publish(trustedRoot: String, version: Int) async throws {
        let rootFile = try directory.write("trusted_root-\(version).json", trustedRoot).path
        let made = try await TestProcess.run("python3", [Self.script, "publish", directory.path, rootFile])
        guard made.status == 0 else { throw TestProcessError(message: "tuf_repository.py publish: \(made.stderr)") }
    }

    /// How many files the server was asked for so far (its request log).
    var requestCount: Int { server.stderr.components(separatedBy: "\"GET ").count - 1 }

    func stop() { server.terminate() }
}

/// Under a running `signet serve --sigstore-tuf` bootstrapped from a test-signed repository
/// (`--sigstore-tuf-root`), a new trusted root delivered over TUF retires a cached allow within
/// one refresh interval: the key authority requires the transparency log of the root in force,
/// the first root names the test's Rekor log, the next one rotates that log to another key.
@Suite("A new Sigstore root over TUF from a private repository under signet serve", .serialized)
struct PrivateTUFServeTests {
    /// The TUF metadata expires in 2030; expiry is judged at this pinned time, not today.
    static let repositoryTime = "2026-12-01T00:00:00Z"
    static let cacheHits = #"signet_verification_cache_hits_total{cache="verification"}"#

    static func review(for image: ImageReference, in directory: TemporaryDirectory) throws -> String {
        try directory.write("review.json", """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"6d0c4d7e-0000-4000-8000-000000000017",\
            "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
            "namespace":"default","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod",\
            "metadata":{"name":"app","namespace":"default"},"spec":{"containers":[{"name":"app","image":"\(image)"}]}}}}
            """).path
    }

    /// Reviews until `done` holds for the answer or the budget (which catches hangs only) ends.
    static func reviewUntil(
        _ server: SignetServerFixture, _ review: String, _ done: (AdmissionAnswer) -> Bool
    ) async throws -> AdmissionAnswer {
        let start = ContinuousClock.now
        var answer = try AdmissionAnswer(decoding: try await server.review(review).body)
        while !done(answer), ContinuousClock.now - start < TestBudget.seconds(60) {
            try await Task.sleep(for: .milliseconds(200))
            answer = try AdmissionAnswer(decoding: try await server.review(review).body)
        }
        return answer
    }

    /// An image signed by the setup's key, its signature logged by the setup's Rekor log (the
    /// entry in the cosign bundle annotation).
    static func loggedImage(_ name: String, _ setup: KeyTransparencyLogTests.Setup) async throws -> ImageReference {
        try await KeyTransparencyLogTests.signedImage(name, setup) { payload, signature in
            let entry = try await setup.log.log(signature: signature, digest: DigestAlgorithm.sha256.hash(payload), signer: setup.key)
            return ["dev.sigstore.cosign/bundle": entry.cosignAnnotation]
        }
    }

    /// A key authority whose signatures must be logged by the Sigstore root in force: no
    /// trustRoot, so the one TUF keeps current.
    static func loggedKeyPolicy(_ setup: KeyTransparencyLogTests.Setup) -> String {
        """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: logged-release
        spec:
          images:
            - glob: "\(setup.fixture.registry.host)/tlog/**"
          authorities:
            - name: release
              key:
                publicKeys:
                  - file: \(setup.key.publicKeyFile)
                transparencyLog: require
        """
    }

    @Test("a log rotated out of the TUF-delivered root retires the cached allow")
    func aRotatedLogRetiresTheCachedAllow() async throws {
        let setup = try await KeyTransparencyLogTests.setup()
        let image = try await Self.loggedImage("tuf-served", setup)
        let repository = try await TestTUFRepository.start(trustedRoot: try setup.log.trustedRootJSON())
        defer { repository.stop() }

        let policies = TemporaryDirectory(prefix: "signet-private-tuf-policies")
        try policies.write("key.yaml", Self.loggedKeyPolicy(setup))
        let server = try await SignetServerFixture.start(policyDirectory: policies.path, arguments: [
            "--allow-insecure-registry", setup.fixture.registry.host, "--policy-reload-interval", "1s",
            "--sigstore-tuf", "--sigstore-tuf-mirror", repository.mirrorURL, "--sigstore-tuf-root", repository.bootstrapRootFile,
            "--sigstore-tuf-refresh-interval", "1s", "--sigstore-tuf-now-unsafe", Self.repositoryTime,
        ])
        let reviews = TemporaryDirectory(prefix: "signet-private-tuf-reviews")
        let review = try Self.review(for: image, in: reviews)

        // Once the first refresh adopts the repository's root (the embedded root, which does not
        // name the test log, is in force until then), the logged signature is admitted.
        let allowed = try await Self.reviewUntil(server, review) { $0.allowed }
        #expect(allowed.allowed, "\(allowed.message)\n\(server.process.stderr.suffix(3000))")
        #expect(server.process.stderr.contains("TUF \(repository.mirrorURL) (targets version 1)"), "\(server.process.stderr.suffix(2000))")
        // The allow is cached: the same review again is a cache hit.
        let hitsBefore = try await server.metricValue(Self.cacheHits) ?? 0
        let again = try AdmissionAnswer(decoding: try await server.review(review).body)
        #expect(again.allowed, "\(again.message)")
        #expect((try await server.metricValue(Self.cacheHits) ?? 0) > hitsBefore, "the second allow came from the cache")

        // The repository rotates the log: the next root names another log key, not the test log.
        let rotated = try await TestRekorLog.make(slot: 11)
        try await repository.publish(trustedRoot: try rotated.trustedRootJSON(), version: 2)
        let denied = try await Self.reviewUntil(server, review) { !$0.allowed }
        #expect(!denied.allowed, "the cached allow must be retired by the new root: \(denied.message)")
        #expect(denied.message.contains("which the trusted root does not name"), "\(denied.message)")
        #expect(server.process.stderr.contains("TUF \(repository.mirrorURL) (targets version 2)"), "\(server.process.stderr.suffix(2000))")
        _ = try? await offThePool { server.stop() }
        await setup.fixture.stop()
    }

    /// Freeze-attack protection under `signet serve`: the mirror stops answering after a good
    /// refresh. Until the timestamp the root was verified under expires (judged at the time the
    /// test writes to the clock file) the root stays in force and the pod stays ready; past it,
    /// every verification that depends on the root is denied, naming the repository, the
    /// metadata, its expiry and the refresh error, and a critical log line and the
    /// `signet_tuf_trust_roots_stale` gauge say so, while `/readyz` still answers 200.
    @Test("a frozen mirror keeps the TUF root only until its timestamp expires")
    func aFrozenMirrorDeniesOnceTheTimestampExpires() async throws {
        let setup = try await KeyTransparencyLogTests.setup()
        let image = try await Self.loggedImage("tuf-frozen", setup)
        let repository = try await TestTUFRepository.start(trustedRoot: try setup.log.trustedRootJSON(), timestampExpires: "2026-12-02T00:00:00Z")
        defer { repository.stop() }
        let policies = TemporaryDirectory(prefix: "signet-frozen-tuf-policies")
        try policies.write("key.yaml", Self.loggedKeyPolicy(setup))
        let clock = TemporaryDirectory(prefix: "signet-frozen-tuf-clock")
        let clockFile = try clock.write("now", Self.repositoryTime).path
        let server = try await SignetServerFixture.start(policyDirectory: policies.path, arguments: [
            "--allow-insecure-registry", setup.fixture.registry.host, "--policy-reload-interval", "1s",
            "--sigstore-tuf", "--sigstore-tuf-mirror", repository.mirrorURL, "--sigstore-tuf-root", repository.bootstrapRootFile,
            "--sigstore-tuf-refresh-interval", "1s", "--sigstore-tuf-now-unsafe", "@" + clockFile,
        ])
        let reviews = TemporaryDirectory(prefix: "signet-frozen-tuf-reviews")
        let review = try Self.review(for: image, in: reviews)
        let allowed = try await Self.reviewUntil(server, review) { $0.allowed }
        #expect(allowed.allowed, "\(allowed.message)\n\(server.process.stderr.suffix(3000))")

        // The mirror stops answering; half a day later the timestamp is still valid.
        repository.stop()
        try clock.write("now", "2026-12-01T12:00:00Z")
        let failing = "TUF refresh of the Sigstore trusted root failed; the root in force stays until its metadata expires"
        let start = ContinuousClock.now
        while !server.process.stderr.contains(failing), ContinuousClock.now - start < TestBudget.seconds(60) {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(server.process.stderr.contains(failing), "\(server.process.stderr.suffix(3000))")
        let stillAllowed = try AdmissionAnswer(decoding: try await server.review(review).body)
        #expect(stillAllowed.allowed, "a transient outage with valid metadata denies nothing: \(stillAllowed.message)")

        // Past the timestamp's expiry the root is stale: denied, naming why.
        try clock.write("now", "2026-12-02T00:00:01Z")
        let denied = try await Self.reviewUntil(server, review) { !$0.allowed }
        #expect(!denied.allowed)
        let stale = "Sigstore trust root is stale: TUF timestamp metadata (version 1) of \(repository.mirrorURL) expired at 2026-12-02T00:00:00Z; refresh failing: fetch failed"
        #expect(denied.message.contains(stale), "\(denied.message)")
        #expect(denied.message.contains("logged-release"), "the deny names the policy: \(denied.message)")
        let gaugeStart = ContinuousClock.now
        let gauge = #"signet_tuf_trust_roots_stale{repository="sigstore"}"#
        while (try await server.metricValue(gauge) ?? 0) < 1, ContinuousClock.now - gaugeStart < TestBudget.seconds(60) {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await server.metricValue(gauge) == 1)
        #expect((try await server.metricValue(#"signet_tuf_metadata_expiry_timestamp_seconds{repository="sigstore"}"#)) == 1_796_169_600)
        #expect(server.process.stderr.contains("its metadata has expired: verification depending on it is denied"), "\(server.process.stderr.suffix(3000))")
        // Readiness stays: the pod keeps answering, and denying, rather than leaving the Service.
        let ready = try await server.curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(server.baseURL)/readyz"])
        #expect(ready.stdout == "200")
        _ = try? await offThePool { server.stop() }
        await setup.fixture.stop()
    }
}
