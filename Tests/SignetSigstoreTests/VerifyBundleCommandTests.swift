import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import Testing

/// `signet verify-bundle` says precisely why it refuses, on standard error, with exit status 1.
@Suite("signet verify-bundle refusals")
struct VerifyBundleCommandTests {
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = TestPaths.signetBinary.path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build signet first: swift build")
        return try TestProcess.run(binary, ["verify-bundle"] + arguments, timeout: .seconds(60))
    }

    static let happyPath = ConformanceCase(name: "happy-path-v0.3")

    @Test("another identity")
    func anotherIdentity() throws {
        let result = try Self.run([
            "--bundle", Self.happyPath.bundleURL.path, "--certificate-identity", "bob@example.com",
            "--certificate-oidc-issuer", ConformanceCase.defaultIssuer, Self.happyPath.artifactURL.path,
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("identity: SAN \(ConformanceCase.defaultIdentity) does not match \"bob@example.com\""), "\(result.stderr)")
    }

    @Test("another digest")
    func anotherDigest() throws {
        let digest = "sha256:" + DigestAlgorithm.sha256.hexHash(Array("something else".utf8))
        let result = try Self.run([
            "--bundle", Self.happyPath.bundleURL.path, "--certificate-identity", ConformanceCase.defaultIdentity,
            "--certificate-oidc-issuer", ConformanceCase.defaultIssuer, digest,
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("is not the artifact's"), "\(result.stderr)")
    }

    @Test("verified output lists every step")
    func verifiedOutput() throws {
        let result = try Self.run([
            "--bundle", Self.happyPath.bundleURL.path, "--certificate-identity", ConformanceCase.defaultIdentity,
            "--certificate-oidc-issuer", ConformanceCase.defaultIssuer, Self.happyPath.artifactURL.path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        for step in ["tlog: passed", "timestamps: passed", "chain: passed", "sct: passed", "signature: passed", "identity: passed"] {
            #expect(result.stdout.contains(step), "\(result.stdout)")
        }
    }

    @Test("identity and key are exclusive")
    func usage() throws {
        let result = try Self.run(["--bundle", Self.happyPath.bundleURL.path, Self.happyPath.artifactURL.path])
        #expect(result.status != 0 && result.status != 1)
    }
}
