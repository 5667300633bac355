import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `signet serve` with a `notaryV1` policy against a real Notary server over TLS: one admission
/// of a pod with 20 signed images of one repository fetches each role once, and an unsigned tag
/// is denied with the image, the policy and the reason.
@Suite("signet serve verifies Docker Content Trust", .serialized)
struct NotaryServeTests {
    @Test func twentySignedImagesFetchEachRoleOnce() async throws {
        let world = try await NotaryWorld.start()
        defer { world.stop() }
        var images: [String] = []
        for index in 0..<20 {
            let descriptor = try await NotaryWorld.push(world.client, try ImageReference(parsing: "\(world.gun):t\(index)"))
            try await world.sign("t\(index)", descriptor, roles: ["targets/releases"])
            images.append("\(world.gun):t\(index)")
        }
        try await world.notary.notary(["publish", world.gun])
        try await NotaryWorld.push(world.client, try ImageReference(parsing: "\(world.gun):unsigned"))

        let policies = TemporaryDirectory(prefix: "signet-notary-policies")
        _ = try policies.write("dct.yaml", try await world.policyText())
        let server = try await SignetServerFixture.start(policyDirectory: policies.path, arguments: ["--allow-insecure-registry", world.registry.host])
        defer { server.stop() }
        let scratch = TemporaryDirectory(prefix: "signet-notary-reviews")

        let crowd = try Self.reviewFile(in: scratch, named: "crowd", images: images)
        let allowed = try AdmissionAnswer(decoding: try await offThePool { try server.review(crowd) }.body)
        #expect(allowed.allowed, "\(allowed.message)")
        let requests = try await offThePool { try server.metricValue("signet_notary_metadata_requests_total") }
        // root, timestamp, snapshot, targets, targets/releases: once each for the 20 images.
        #expect(requests == 5)

        let unsigned = try Self.reviewFile(in: scratch, named: "unsigned", images: ["\(world.gun):unsigned"])
        let denied = try AdmissionAnswer(decoding: try await offThePool { try server.review(unsigned) }.body)
        #expect(!denied.allowed)
        #expect(denied.message.contains("\(world.gun):unsigned"), "\(denied.message)")
        #expect(denied.message.contains("content-trust"))
        #expect(denied.message.contains("targets/releases has not signed tag unsigned"))
        #expect(try await offThePool { try server.metricValue("signet_notary_metadata_requests_total") } == 5, "the verified metadata is cached")
    }

    @Test func verifyCommandPrintsTheRolesKeysThresholdsAndExpiry() async throws {
        let world = try await NotaryWorld.start()
        defer { world.stop() }
        try await NotaryWorld.push(world.client, try ImageReference(parsing: "\(world.gun):unsigned"))
        let scratch = TemporaryDirectory(prefix: "signet-notary-cli")
        let rootFile = try scratch.write("root.pub", NotaryTest.pem(try await world.rootKey())).path
        let common = ["--notary-server", world.notary.url, "--root-key", rootFile, "--notary-ca", world.notary.caFile,
                      "--allow-insecure-registry", world.registry.host]
        let verified = try await TestProcess.run(TestPaths.signetBinary.path, ["verify", "\(world.gun):v1"] + common)
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        #expect(verified.stdout.contains("VERIFIED: \(world.gun):v1"))
        #expect(verified.stdout.contains("targets/releases signed tag v1 as \(world.signed.digest)"))
        #expect(verified.stdout.contains("(threshold 1 of 1 key(s)), expires "))
        #expect(verified.stdout.contains("root v1 (root key "))
        #expect(verified.stdout.contains("signer: targets/releases: targets/releases key "))
        #expect(verified.stdout.contains("rsa-x509"))

        let refused = try await TestProcess.run(TestPaths.signetBinary.path, ["verify", "\(world.gun):unsigned", "--delegation", "targets/releases"] + common)
        #expect(refused.status == 1, "\(refused.stdout) \(refused.stderr)")
        #expect(refused.stdout.contains("targets/releases has not signed tag unsigned"))

        // --root-threshold reaches the authority: two of one pinned key cannot be met.
        let threshold = try await TestProcess.run(TestPaths.signetBinary.path, ["verify", "\(world.gun):v1", "--root-threshold", "2"] + common)
        #expect(threshold.status == 2, "\(threshold.stdout) \(threshold.stderr)")
        #expect((threshold.stdout + threshold.stderr).contains("rootThreshold must be between 1 and the number of rootKeys (1)"), "\(threshold.stderr)")

        let missing = try await TestProcess.run(TestPaths.signetBinary.path, ["verify", "\(world.gun):v1", "--notary-server", world.notary.url])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("--root-key"))
    }

    /// An AdmissionReview (`admission.k8s.io/v1`) for a Pod running `images`, written to a file.
    static func reviewFile(in directory: TemporaryDirectory, named name: String, images: [String]) throws -> String {
        try ReviewFiles.pod(in: directory, named: name, images: images)
    }
}
