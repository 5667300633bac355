import Foundation
import SignetTestSupport
import Testing

/// `signet scan` (the built binary) with the Sigstore TUF flags `signet serve` takes: a running
/// Pod's image, signed by a key whose authority requires the transparency log of the root in
/// force, is logged by a Rekor log that only the root the test's own TUF repository delivers
/// names. The scan fetches and verifies that root once (TUF specification section 5) before it
/// decides, as the webhook keeps it current; under the embedded root the same image is
/// untrusted, and a repository that cannot be reached ends the scan with exit 2, naming it.
///
/// The Pods are listed from the Kubernetes API double (one list call; the chart's CronJob against
/// the real API server is the end-to-end suite's T05bScan); the registry, the TUF repository and
/// the log are real servers on 127.0.0.1.
@Suite("signet scan with the Sigstore root from TUF", .serialized)
struct ScanSigstoreTUFTests {
    @Test("signet scan --sigstore-tuf decides under the root it fetched once, and fails closed without it")
    func scanDecidesUnderTheRootFetchedOnce() async throws {
        let setup = try await KeyTransparencyLogTests.setup()
        let image = try await PrivateTUFServeTests.loggedImage("scan-tuf", setup)
        let repository = try await TestTUFRepository.start(trustedRoot: try setup.log.trustedRootJSON())
        defer { repository.stop() }
        let harness = try await ScanHarness.start(podImage: "\(image)")
        defer { harness.stop() }
        let policies = TemporaryDirectory(prefix: "signet-scan-tuf-policies")
        try policies.write("key.yaml", PrivateTUFServeTests.loggedKeyPolicy(setup))
        func scan(_ extra: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await harness.scan([
                "--policy-source", "directory", "--policy-dir", policies.path, "--audit-log", "off",
                "--allow-insecure-registry", setup.fixture.registry.host,
            ] + extra)
        }
        func tuf(cache: TemporaryDirectory) -> [String] {
            [
                "--sigstore-tuf", "--sigstore-tuf-mirror", repository.mirrorURL, "--sigstore-tuf-root", repository.bootstrapRootFile,
                "--sigstore-tuf-cache-dir", cache.path, "--sigstore-tuf-refresh-interval", "1h",
                "--sigstore-tuf-now-unsafe", PrivateTUFServeTests.repositoryTime,
            ]
        }

        // The root from the repository names the test log: the running image is trusted.
        let cache = TemporaryDirectory(prefix: "signet-scan-tuf-cache")
        let trusted = try await scan(tuf(cache: cache))
        #expect(trusted.status == 0, "\(trusted.stdout)\n\(trusted.stderr)")
        #expect(ScanHarness.results(trusted.stdout) == ["pass"], "\(trusted.stdout)")
        #expect(repository.requestCount > 0, "the scan asked the repository")
        #expect(FileManager.default.fileExists(atPath: cache.file("timestamp.json").path), "the verified metadata is kept in the cache directory")

        // Under the embedded root (no TUF flags), which does not name the test log, it is not.
        let embedded = try await scan([])
        #expect(embedded.status == 1, "\(embedded.stdout)\n\(embedded.stderr)")
        #expect(ScanHarness.results(embedded.stdout) == ["fail"], "\(embedded.stdout)")
        #expect(embedded.stderr.contains("which the trusted root does not name"), "\(embedded.stderr)")

        // A repository that cannot be reached: no decision under another root than admission's.
        repository.stop()
        let unreachable = try await scan(tuf(cache: TemporaryDirectory(prefix: "signet-scan-tuf-cold")))
        #expect(unreachable.status == 2, "\(unreachable.stdout)\n\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("cannot refresh the Sigstore trusted root through TUF from \(repository.mirrorURL)"), "\(unreachable.stderr)")
        #expect(ScanHarness.results(unreachable.stdout).isEmpty, "nothing is decided: \(unreachable.stdout)")
        await setup.fixture.stop()
    }

    /// A policy naming a TUF repository of its own as the trust root of its log
    /// (`trustRoot.tuf`): the scan refreshes that repository once and decides under the root it
    /// delivers, as `signet serve` keeps it current. Before, the scan never fetched it, the
    /// authority trusted nothing, and every running image under the policy was reported untrusted.
    @Test("signet scan decides under the root a policy's own TUF repository delivers")
    func scanDecidesUnderAPolicysOwnTUFRoot() async throws {
        let setup = try await KeyTransparencyLogTests.setup()
        let image = try await PrivateTUFServeTests.loggedImage("scan-policy-tuf", setup)
        let repository = try await TestTUFRepository.start(trustedRoot: try setup.log.trustedRootJSON())
        defer { repository.stop() }
        let harness = try await ScanHarness.start(podImage: "\(image)")
        defer { harness.stop() }
        let policies = TemporaryDirectory(prefix: "signet-scan-policy-tuf-policies")
        try policies.write("key.yaml", PolicyTUFTrustRootTests.policy(
            glob: "\(setup.fixture.registry.host)/tlog/**", keyFile: setup.key.publicKeyFile, mirror: repository.mirrorURL,
            rootFile: repository.bootstrapRootFile))
        func scan() async throws -> (status: Int32, stdout: String, stderr: String) {
            try await harness.scan([
                "--policy-source", "directory", "--policy-dir", policies.path, "--audit-log", "off",
                "--allow-insecure-registry", setup.fixture.registry.host, "--sigstore-tuf-now-unsafe", PrivateTUFServeTests.repositoryTime,
            ])
        }

        let trusted = try await scan()
        #expect(trusted.status == 0, "\(trusted.stdout)\n\(trusted.stderr)")
        #expect(ScanHarness.results(trusted.stdout) == ["pass"], "\(trusted.stdout)")
        #expect(repository.requestCount > 0, "the scan asked the policy's repository")

        // The repository cannot be reached: no decision under a root that trusts nothing.
        repository.stop()
        let unreachable = try await scan()
        #expect(unreachable.status == 2, "\(unreachable.stdout)\n\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("cannot refresh the trust root of \(repository.mirrorURL) through TUF"), "\(unreachable.stderr)")
        #expect(ScanHarness.results(unreachable.stdout).isEmpty, "nothing is decided: \(unreachable.stdout)")
        await setup.fixture.stop()
    }
}
