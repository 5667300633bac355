import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `signet resolve` (the built binary) against a real distribution registry, compared with
/// what `skopeo inspect` reports for the same image.
@Suite
struct ResolveCommandTests {
    @Test func resolvePrintsTheDigestSkopeoReports() async throws {
        let registry = try await RegistryFixture.start()
        let client = try RegistryClientTests.makeClient(registry)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/app:v1")
        _ = try await TestImages.pushImage(client: client, reference: reference)
        _ = try await TestImages.pushMultiPlatformImage(client: client, reference: try TestImages.reference("\(registry.host)/demo/multi:v1"))

        let inspect = try await TestProcess.run("skopeo", ["inspect", "--tls-verify=false", "docker://\(registry.host)/demo/app:v1"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        struct Inspect: Decodable { var Digest: String }
        let skopeoDigest = try JSONDecoder().decode(Inspect.self, from: Data(inspect.stdout.utf8)).Digest

        let resolve = try await TestProcess.run(
            TestPaths.signetBinary.path,
            ["resolve", "--allow-insecure-registry", registry.host, "\(registry.host)/demo/app:v1"])
        #expect(resolve.status == 0, "\(resolve.stderr)")
        #expect(resolve.stdout.contains(skopeoDigest))

        let multi = try await TestProcess.run(
            TestPaths.signetBinary.path,
            ["resolve", "--referrers", "--allow-insecure-registry", registry.host, "\(registry.host)/demo/multi:v1"])
        #expect(multi.status == 0, "\(multi.stderr)")
        #expect(multi.stdout.contains("linux/amd64"))
        #expect(multi.stdout.contains("linux/arm64"))
    }

    @Test func resolveFailsClearly() async throws {
        let registry = try await RegistryFixture.start()
        let missing = try await TestProcess.run(
            TestPaths.signetBinary.path, ["resolve", "--allow-insecure-registry", registry.host, "\(registry.host)/demo/none:v9"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("demo/none:v9"))
        let invalid = try await TestProcess.run(TestPaths.signetBinary.path, ["resolve", "Nginx:latest"])
        #expect(invalid.status == 2)
        #expect(invalid.stderr.contains("lowercase"))
        // Plain HTTP is refused unless the registry is named insecure.
        let refused = try await TestProcess.run(TestPaths.signetBinary.path, ["resolve", "--timeout", "5s", "\(registry.host)/demo/none:v9"])
        #expect(refused.status == 2)
    }
}
