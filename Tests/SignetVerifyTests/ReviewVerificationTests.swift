import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `signet review` decides as `signet serve` would: the same verification engine and registry
/// flags, against a real registry; `--offline` checks no signature and says so.
@Suite("signet review verifies signatures", .serialized)
struct ReviewVerificationTests {
    @Test func signedAllowedNamingTheKeyUnsignedDeniedOfflineSaysNotChecked() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let images = TestRegistryImages(client: client)
        let key = try await TestSigningKey.generate(.ecP256)
        let signed = try ImageReference(parsing: "\(registry.host)/team/signed:v1")
        let signedDigest = try await images.pushImage(signed)
        try await images.sign(signedDigest, in: signed, with: [key])
        let unsigned = try ImageReference(parsing: "\(registry.host)/team/unsigned:v1")
        try await images.pushImage(unsigned)

        let work = TemporaryDirectory(prefix: "signet-review-verify")
        try work.write("policies/team.yaml", keyPolicyYAML(name: "team-signed", glob: "\(registry.host)/team/**", keyFile: key.publicKeyFile))
        func pod(_ name: String, _ image: ImageReference) throws -> String {
            try work.write("\(name).yaml", """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: \(name)
                spec:
                  containers:
                    - name: app
                      image: \(image)
                """).path
        }
        func review(_ file: String, _ extra: [String] = []) async throws -> (status: Int32, stdout: String, stderr: String) {
            let arguments = ["review", "-f", file, "--policy-dir", work.file("policies").path] + extra
            return try await offThePool { try TestProcess.run(TestPaths.signetBinary.path, arguments, environment: ["HOME": work.path]) }
        }
        let insecure = ["--allow-insecure-registry", registry.host]

        let allowed = try await review(try pod("signed", signed), insecure)
        #expect(allowed.status == 0, "\(allowed.stdout)\(allowed.stderr)")
        #expect(allowed.stdout.hasPrefix("ALLOWED"), "\(allowed.stdout)")
        #expect(allowed.stdout.contains(#"policy "team-signed", authority "release-key": passed: signed by 1 of 1 trusted key(s)"#), "\(allowed.stdout)")
        #expect(allowed.stdout.contains(key.publicKeyFile), "the verdict names the key that verified: \(allowed.stdout)")
        #expect(allowed.stdout.contains(#"patch (the mutating webhook pins verified digests): [{"op":"test","path":"/spec/containers/0/image","value":"\#(signed)"},{"op":"replace","path":"/spec/containers/0/image","value":"\#(signed)@\#(signedDigest)"}]"#), "\(allowed.stdout)")

        let denied = try await review(try pod("unsigned", unsigned), insecure)
        #expect(denied.status == 1, "\(denied.stdout)\(denied.stderr)")
        #expect(denied.stdout.hasPrefix("DENIED"), "\(denied.stdout)")
        #expect(denied.stdout.contains("no cosign signatures"), "\(denied.stdout)")

        // Without the insecure-registry flag the registry is reached over HTTPS and fails: an
        // error is a denial with its reason, never an allow.
        let unreachable = try await review(try pod("signed-over-https", signed))
        #expect(unreachable.status == 1, "\(unreachable.stdout)\(unreachable.stderr)")
        #expect(unreachable.stdout.contains("could not verify"), "\(unreachable.stdout)")

        let offline = try await review(try pod("signed-offline", signed), ["--offline"])
        #expect(offline.status == 1, "\(offline.stdout)\(offline.stderr)")
        #expect(offline.stdout.contains("signatures were not checked (signet review --offline)"), "\(offline.stdout)")
    }
}
