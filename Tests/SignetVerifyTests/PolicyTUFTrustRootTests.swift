import Foundation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetSigstore
import SignetTestSupport
import Testing

/// A `trustRoot` naming a TUF repository of its own (`trustRoot.tuf`: a mirror and its bootstrap
/// `root.json`), kept current by signet serve's TUF client: fail closed until the repository has
/// delivered a root, then verify with it, and a new root from the repository retires the
/// verdicts cached under the old one.
@Suite("A policy's trust root from a TUF repository of its own", .serialized)
struct PolicyTUFTrustRootTests {
    static func policy(glob: String, keyFile: String, mirror: String, rootFile: String) -> String {
        """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: private-sigstore
        spec:
          images:
            - glob: "\(glob)"
          authorities:
            - name: release
              key:
                publicKeys:
                  - file: \(keyFile)
                transparencyLog: require
                trustRoot:
                  tuf:
                    mirror: \(mirror)
                    root: {file: \(rootFile)}
        """
    }

    @Test func theLoaderFailsClosedUntilTheRepositoryDeliversThenUsesItsRoot() async throws {
        let directory = TemporaryDirectory(prefix: "signet-policy-tuf")
        let rootFile = try directory.write("root.json", #"{"signed":{"_type":"root"},"signatures":[]}"#).path
        let key = try await TestSigningKey.generate(.ecP256)
        let log = try await TestRekorLog.make()
        let roots = PolicyTUFTrustRoots()
        var loader = PolicyLoader()
        loader.tufTrustRoots = roots
        let text = Self.policy(glob: "**", keyFile: key.publicKeyFile, mirror: "https://tuf.signet.test", rootFile: rootFile)
        let files = [PolicySourceFile(name: "p.yaml", bytes: Array(text.utf8))]

        let pending = try loader.load(files: files)
        guard case .key(let before) = pending.policies[0].authorities[0].kind else { Issue.record("not a key authority"); return }
        #expect(before.transparencyLog.trustRootSource == "TUF https://tuf.signet.test (not fetched yet)")
        #expect(before.transparencyLog.trustedRoot.transparencyLogs.isEmpty, "nothing is trusted before the repository delivers")
        let repository = try #require(roots.repositories.first, "the repository is registered for the TUF client")
        #expect(pending.pendingTUFRepositories == [repository], "the set says which repository it waits for")
        #expect(repository.mirrorURL == "https://tuf.signet.test")
        #expect(repository.bootstrapRoot == Array(try Data(contentsOf: URL(fileURLWithPath: rootFile))))

        let json = try log.trustedRootJSON()
        roots.publish(.init(root: try TrustedRoot(json: Array(json.utf8)), digest: DigestAlgorithm.sha256.hexHash(Array(json.utf8)),
                            origin: "TUF https://tuf.signet.test (targets version 1)"), for: repository)
        let delivered = try loader.load(files: files)
        #expect(delivered.pendingTUFRepositories.isEmpty, "compiled with the delivered root, it waits for nothing")
        guard case .key(let after) = delivered.policies[0].authorities[0].kind else { Issue.record("not a key authority"); return }
        #expect(after.transparencyLog.trustRootSource == "TUF https://tuf.signet.test (targets version 1)")
        #expect(after.transparencyLog.trustedRoot.transparencyLogs.count == 1)
        #expect(delivered.revision != pending.revision, "a delivered root is a new revision")
        #expect(delivered.policies[0].authorities[0].trustFingerprint != pending.policies[0].authorities[0].trustFingerprint)
        #expect(delivered.policies[0].authorities[0].trustRoot?.hasPrefix("TUF https://tuf.signet.test (targets version 1) sha256:") == true)

        // The watcher sees a delivered root as a change.
        let policies = TemporaryDirectory(prefix: "signet-policy-tuf-watch")
        try policies.write("p.yaml", text)
        let watcher = PolicyDirectoryWatcher(directory: policies.path, interval: .seconds(1), loader: loader)
        _ = try await watcher.loadInitial()
        #expect(await watcher.poll() == nil)
        let rotated = try await TestRekorLog.make(slot: 11).trustedRootJSON()
        roots.publish(.init(root: try TrustedRoot(json: Array(rotated.utf8)), digest: DigestAlgorithm.sha256.hexHash(Array(rotated.utf8)),
                            origin: "TUF https://tuf.signet.test (targets version 2)"), for: repository)
        guard case .reloaded(let reloaded)? = await watcher.poll() else {
            Issue.record("a new root from the policy's repository must recompile the policies")
            return
        }
        guard case .key(let rotatedTrust) = reloaded.policies[0].authorities[0].kind else { Issue.record("not a key authority"); return }
        #expect(rotatedTrust.transparencyLog.trustRootSource == "TUF https://tuf.signet.test (targets version 2)")
    }

    @Test func theLoaderRefusesABadRepositoryReference() throws {
        let key = "publicKeys:\n  - pem: |\n      " + KeyTransparencyLogTests.pem.replacingOccurrences(of: "\n", with: "\n      ") + "\n"
        #expect(throws: PolicyLoadError.self) {
            try compiledKeyAuthority(key + "transparencyLog: require\ntrustRoot: {tuf: {mirror: ftp://x, root: {inline: '{}'}}}\n")
        }
        #expect(throws: PolicyLoadError.self) {
            try compiledKeyAuthority(key + "transparencyLog: require\ntrustRoot: {tuf: {mirror: https://x, root: {}}}\n")
        }
        #expect(throws: PolicyLoadError.self) {
            try compiledKeyAuthority(key + "transparencyLog: require\ntrustRoot: {tuf: {mirror: https://x, root: {inline: '{}'}, extra: 1}}\n")
        }
        #expect(throws: PolicyLoadError.self) {
            try compiledKeyAuthority(key + "transparencyLog: require\ntrustRoot: {inline: '{}', tuf: {mirror: https://x, root: {inline: '{}'}}}\n")
        }
    }

    /// End to end: `signet serve` (no `--sigstore-tuf`) runs a TUF client for the repository the
    /// policy names, bootstrapped from the policy's root.json; the logged signature is admitted
    /// once the repository's root is delivered, and denied within one refresh interval after the
    /// repository rotates its log.
    @Test func serveKeepsThePolicysRepositoryCurrent() async throws {
        let setup = try await KeyTransparencyLogTests.setup()
        let image = try await KeyTransparencyLogTests.signedImage("policy-tuf", setup) { payload, signature in
            let entry = try await setup.log.log(signature: signature, digest: DigestAlgorithm.sha256.hash(payload), signer: setup.key)
            return ["dev.sigstore.cosign/bundle": entry.cosignAnnotation]
        }
        let repository = try await TestTUFRepository.start(trustedRoot: try setup.log.trustedRootJSON())
        defer { repository.stop() }
        let policies = TemporaryDirectory(prefix: "signet-policy-tuf-serve")
        try policies.write("key.yaml", Self.policy(
            glob: "\(setup.fixture.registry.host)/tlog/**", keyFile: setup.key.publicKeyFile, mirror: repository.mirrorURL,
            rootFile: repository.bootstrapRootFile))
        let server = try await SignetServerFixture.start(policyDirectory: policies.path, arguments: [
            "--allow-insecure-registry", setup.fixture.registry.host, "--policy-reload-interval", "1s",
            "--sigstore-tuf-refresh-interval", "1s", "--sigstore-tuf-now-unsafe", PrivateTUFServeTests.repositoryTime,
        ])
        let reviews = TemporaryDirectory(prefix: "signet-policy-tuf-reviews")
        let review = try PrivateTUFServeTests.review(for: image, in: reviews)
        let allowed = try await PrivateTUFServeTests.reviewUntil(server, review) { $0.allowed }
        #expect(allowed.allowed, "\(allowed.message)\n\(server.process.stderr.suffix(3000))")
        #expect(server.process.stderr.contains("policy trust root from TUF in force"), "\(server.process.stderr.suffix(2000))")

        let rotated = try await TestRekorLog.make(slot: 11)
        try await repository.publish(trustedRoot: try rotated.trustedRootJSON(), version: 2)
        let denied = try await PrivateTUFServeTests.reviewUntil(server, review) { !$0.allowed }
        #expect(!denied.allowed, "the policy's repository rotated its log: \(denied.message)")
        #expect(denied.message.contains("which the trusted root does not name"), "\(denied.message)")
        #expect(denied.message.contains("TUF \(repository.mirrorURL) (targets version 2)"), "\(denied.message)")
        _ = try? await offThePool { server.stop() }
        await setup.fixture.stop()
    }

    /// A policy's repository under `signet serve --sigstore-tuf-cache-dir`: its last good
    /// metadata is kept in a directory of its own under the cache; when no policy in force names
    /// it any longer its client stops asking the mirror; and a restart with the mirror down puts
    /// the root the stored metadata vouches for (verified again) in force without the mirror.
    @Test func aPolicysRepositorySurvivesARestartAndStopsWithItsPolicy() async throws {
        let setup = try await KeyTransparencyLogTests.setup()
        let image = try await KeyTransparencyLogTests.signedImage("policy-tuf-cache", setup) { payload, signature in
            let entry = try await setup.log.log(signature: signature, digest: DigestAlgorithm.sha256.hash(payload), signer: setup.key)
            return ["dev.sigstore.cosign/bundle": entry.cosignAnnotation]
        }
        let repository = try await TestTUFRepository.start(trustedRoot: try setup.log.trustedRootJSON())
        defer { repository.stop() }
        let policies = TemporaryDirectory(prefix: "signet-policy-tuf-cache")
        let named = Self.policy(
            glob: "\(setup.fixture.registry.host)/tlog/**", keyFile: setup.key.publicKeyFile, mirror: repository.mirrorURL,
            rootFile: repository.bootstrapRootFile)
        try policies.write("key.yaml", named)
        let cache = TemporaryDirectory(prefix: "signet-policy-tuf-cache-dir")
        let arguments = [
            "--allow-insecure-registry", setup.fixture.registry.host, "--policy-reload-interval", "1s",
            "--sigstore-tuf-cache-dir", cache.path, "--sigstore-tuf-refresh-interval", "1s",
            "--sigstore-tuf-now-unsafe", PrivateTUFServeTests.repositoryTime,
        ]
        let server = try await SignetServerFixture.start(policyDirectory: policies.path, arguments: arguments)
        let reviews = TemporaryDirectory(prefix: "signet-policy-tuf-cache-reviews")
        let review = try PrivateTUFServeTests.review(for: image, in: reviews)
        let allowed = try await PrivateTUFServeTests.reviewUntil(server, review) { $0.allowed }
        #expect(allowed.allowed, "\(allowed.message)\n\(server.process.stderr.suffix(3000))")
        // One directory for the repository, holding its metadata and target.
        let directories = try FileManager.default.contentsOfDirectory(atPath: cache.file("repositories").path)
        #expect(directories.count == 1)
        let stored = cache.file("repositories").appendingPathComponent(directories.first ?? "-")
        let files = Set((try? FileManager.default.contentsOfDirectory(atPath: stored.path)) ?? [])
        #expect(files.isSuperset(of: ["root.json", "timestamp.json", "snapshot.json", "targets.json", "targets"]), "\(files)")

        // The policy stops naming the repository: its client stops, and the mirror hears no more.
        try policies.write("key.yaml", named.replacingOccurrences(of: "transparencyLog: require", with: "transparencyLog: ignore")
            .components(separatedBy: "\n").prefix { !$0.contains("trustRoot:") }.joined(separator: "\n"))
        let stopped = "stopped keeping a trust root current through TUF"
        let start = ContinuousClock.now
        while !server.process.stderr.contains(stopped), ContinuousClock.now - start < TestBudget.seconds(60) {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(server.process.stderr.contains(stopped), "\(server.process.stderr.suffix(3000))")
        let requests = repository.requestCount
        // Three refresh intervals: a client still running would have asked for the timestamp.
        try await Task.sleep(for: .seconds(3))
        #expect(repository.requestCount == requests, "no request to a mirror no policy names")
        _ = try? await offThePool { server.stop() }

        // Restart with the policy back and the mirror down: the stored metadata vouches.
        try policies.write("key.yaml", named)
        repository.stop()
        let restarted = try await SignetServerFixture.start(policyDirectory: policies.path, arguments: arguments)
        let again = try await PrivateTUFServeTests.reviewUntil(restarted, review) { $0.allowed }
        #expect(again.allowed, "\(again.message)\n\(restarted.process.stderr.suffix(3000))")
        #expect(restarted.process.stderr.contains("policy trust root from the last good TUF metadata on disk in force"),
                "\(restarted.process.stderr.suffix(3000))")
        _ = try? await offThePool { restarted.stop() }
        await setup.fixture.stop()
    }
}
