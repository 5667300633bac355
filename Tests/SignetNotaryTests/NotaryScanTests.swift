import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `signet scan` with a `notaryV1` policy against Debian's notary-server behind token
/// authentication (as Docker Hub's Notary runs): the scan fetches the trust metadata with the
/// credentials the docker config names for the Notary host, as `signet serve` does, so a signed
/// running image is trusted. Before, the scan's Notary client had no credentials, the server
/// refused it, and every running image under such a policy was reported untrusted.
@Suite("signet scan verifies Docker Content Trust behind token authentication", .serialized)
struct NotaryScanTests {
    @Test func scanUsesTheDockerConfigCredentialsForTheNotaryServer() async throws {
        let world = try await NotaryWorld.start(tokenAuthentication: (username: "notary-reader", password: "s3cret"))
        defer { world.stop() }
        let issuer = try #require(world.notary.tokenIssuer)
        let harness = try await ScanHarness.start(podImage: "\(world.gun):v1")
        defer { harness.stop() }
        let scratch = TemporaryDirectory(prefix: "signet-notary-scan")
        let policies = TemporaryDirectory(prefix: "signet-notary-scan-policies")
        _ = try policies.write("dct.yaml", try await world.policyText())
        let auth = Data("\(issuer.username):\(issuer.password)".utf8).base64EncodedString()
        let dockerConfig = try scratch.write("config.json", #"{"auths": {"\#(world.notaryHost)": {"auth": "\#(auth)"}}}"#).path
        let arguments = [
            "--policy-source", "directory", "--policy-dir", policies.path, "--audit-log", "off",
            "--allow-insecure-registry", world.registry.host,
        ]

        let before = issuer.issuedCount
        let trusted = try await harness.scan(arguments + ["--docker-config", dockerConfig])
        #expect(trusted.status == 0, "\(trusted.stdout)\n\(trusted.stderr)")
        #expect(ScanHarness.results(trusted.stdout) == ["pass"], "\(trusted.stdout)")
        #expect(issuer.issuedCount > before, "a token was fetched from the realm with the configured credentials")

        // Without credentials the server refuses: untrusted, naming why.
        let anonymous = try await harness.scan(arguments)
        #expect(anonymous.status == 1, "\(anonymous.stdout)\n\(anonymous.stderr)")
        #expect(ScanHarness.results(anonymous.stdout) == ["fail"], "\(anonymous.stdout)")
        #expect(anonymous.stderr.contains("no credentials"), "\(anonymous.stderr)")
    }
}
