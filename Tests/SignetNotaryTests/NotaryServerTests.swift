import Foundation
import SignetCrypto
import SignetNotary
import SignetPolicy
import SignetRegistry
import SignetTUF
import SignetTestSupport
import SignetVerify
import Testing

/// End to end with Debian's `notary-server` (TLS from a test CA, memory storage) and
/// `docker-registry`: an image pushed, its tag signed with the real `notary` client in a
/// `targets/releases` delegation, then verified through the engine as admission does.
@Suite("Notary v1 against a real Notary server")
struct NotaryServerTests {
    @Test("the signed tag is allowed, by tag and by digest; the reason names the role and the digest")
    func signedTagAllowed() async throws {
        let world = try await NotaryWorld.start()
        defer { world.stop() }
        let policy = try await world.authority()
        let notaryClient = NotaryRepositoryClient()
        let byTag = try await world.verify("\(world.gun):v1", policy, notaryClient: notaryClient)
        #expect(byTag.passed, "\(byTag.reason)")
        #expect(byTag.reason.contains("targets/releases signed tag v1 as \(world.signed.digest)"))
        #expect(byTag.signers.first?.identity == "targets/releases")
        #expect(byTag.signers.first?.algorithm == "rsa-x509")
        let byDigest = try await world.verify("\(world.gun)@\(world.signed.digest)", policy, notaryClient: notaryClient)
        #expect(byDigest.passed, "\(byDigest.reason)")
        #expect(byDigest.reason.contains("as tag v1"))
        // Pinned: the tag and the digest it names must agree.
        let pinned = try await world.verify("\(world.gun):v1@\(world.signed.digest)", policy, notaryClient: notaryClient)
        #expect(pinned.passed, "\(pinned.reason)")
        // Without delegations in the policy, targets/releases is the role (docker trust's default).
        let defaults = try await world.verify("\(world.gun):v1", try await world.authority(delegations: nil), notaryClient: notaryClient)
        #expect(defaults.passed, "\(defaults.reason)")
    }

    @Test("a tag re-pushed to another digest without re-signing is denied, naming both digests")
    func retaggedDenied() async throws {
        let world = try await NotaryWorld.start()
        defer { world.stop() }
        let other = try await NotaryWorld.push(world.client, try ImageReference(parsing: "\(world.gun):v1"))
        let result = try await world.verify("\(world.gun):v1", try await world.authority(), notaryClient: NotaryRepositoryClient())
        #expect(!result.passed)
        #expect(result.digest == other.digest)
        #expect(result.reason.contains("signed tag v1 as \(world.signed.digest), but the image is \(other.digest)"), "\(result.reason)")
        // A digest the pod names that no tag was signed with is denied too.
        let unsigned = try await world.verify("\(world.gun)@\(other.digest)", try await world.authority(), notaryClient: NotaryRepositoryClient())
        #expect(!unsigned.passed)
        #expect(unsigned.reason.contains("has signed no tag as \(other.digest)"))
        // And a pod pinning the signed tag to another digest is denied.
        let mismatch = try await world.verify("\(world.gun):v1@\(other.digest)", try await world.authority(), notaryClient: NotaryRepositoryClient())
        #expect(!mismatch.passed)

        // The right digest with another length (a signer's error, or a hash-only forgery attempt) is denied.
        var wrongLength = try await NotaryWorld.push(world.client, try ImageReference(parsing: "\(world.gun):v4"))
        wrongLength.size += 1
        try await world.sign("v4", wrongLength, roles: ["targets/releases"])
        try await world.notary.notary(["publish", world.gun])
        let length = try await world.verify("\(world.gun):v4", try await world.authority(), notaryClient: NotaryRepositoryClient())
        #expect(!length.passed)
        #expect(length.reason.contains("with length \(wrongLength.size), but the manifest of \(wrongLength.digest) is \(wrongLength.size - 1) bytes"), "\(length.reason)")

        // A target lists every hash its file must have (TUF 5.7.3): a sha512 beside the right
        // sha256 that the manifest does not have is denied, by tag and by digest; the right one passes.
        let wrongHash = try await NotaryWorld.push(world.client, try ImageReference(parsing: "\(world.gun):v5"))
        try await world.sign("v5", wrongHash, roles: ["targets/releases"], sha512: String(repeating: "ab", count: 64))
        let rightHash = try await NotaryWorld.push(world.client, try ImageReference(parsing: "\(world.gun):v6"))
        let manifest = try await world.client.manifest(try ImageReference(parsing: "\(world.gun)@\(rightHash.digest)"), deadline: TestBudget.deadline()).bytes
        try await world.sign("v6", rightHash, roles: ["targets/releases"], sha512: DigestAlgorithm.sha512.hexHash(manifest))
        try await world.notary.notary(["publish", world.gun])
        let hash = try await world.verify("\(world.gun):v5", try await world.authority(), notaryClient: NotaryRepositoryClient())
        #expect(!hash.passed)
        #expect(hash.reason.contains("signed tag v5 with sha512 hash \(String(repeating: "ab", count: 64)), but the manifest of \(wrongHash.digest) has sha512 "), "\(hash.reason)")
        let hashByDigest = try await world.verify("\(world.gun)@\(wrongHash.digest)", try await world.authority(), notaryClient: NotaryRepositoryClient())
        #expect(!hashByDigest.passed, "\(hashByDigest.reason)")
        let right = try await world.verify("\(world.gun):v6", try await world.authority(), notaryClient: NotaryRepositoryClient())
        #expect(right.passed, "\(right.reason)")
        let rightByDigest = try await world.verify("\(world.gun)@\(rightHash.digest)", try await world.authority(), notaryClient: NotaryRepositoryClient())
        #expect(rightByDigest.passed, "\(rightByDigest.reason)")
    }

    /// Notary v1 signs a tag as a digest: another tag pointed at the same manifest is not signed,
    /// even right after the signed tag's verdict was cached, and a reference naming no tag runs
    /// `latest`, which must be signed as the digest itself.
    @Test("another tag or an implicit latest pointed at a signed digest is denied, also after the signed tag's verdict was cached")
    func tagsAreJudgedByTheirOwnSignatures() async throws {
        let world = try await NotaryWorld.start()
        defer { world.stop() }
        let policy = try await world.authority()
        let engine = VerificationEngine(registry: world.client, verifiers: [NotaryV1Verifier(registry: world.client, client: NotaryRepositoryClient())])
        func verify(_ image: String) async throws -> VerificationResult {
            try await engine.verify(
                image: try ImageReference(parsing: image), authority: policy.authorities[0], policy: policy.name,
                revision: VerificationEngine.revision(of: policy), deadline: TestBudget.deadline())
        }
        let signed = try await verify("\(world.gun):v1")
        #expect(signed.passed, "\(signed.reason)")
        // The pass holds no longer than the collection it came from is reused (the client's
        // five minutes, before the timestamp role expires): a target the signer removes is seen
        // within that, not a cache TTL later.
        let validUntil = try #require(signed.validUntil)
        #expect(validUntil > Date() && validUntil <= Date() + 300, "\(validUntil)")
        let fetched = try await world.client.manifest(try ImageReference(parsing: "\(world.gun):v1"), deadline: TestBudget.deadline())
        for tag in ["v2", "latest"] {
            let pushed = try await world.client.pushManifest(
                fetched.bytes, mediaType: world.signed.mediaType, to: try ImageReference(parsing: "\(world.gun):\(tag)"), deadline: TestBudget.deadline())
            #expect(pushed.digest == world.signed.digest)
        }
        let otherTag = try await verify("\(world.gun):v2")
        #expect(!otherTag.passed, "v2 was never signed: \(otherTag.reason)")
        #expect(otherTag.reason.contains("has not signed tag v2"), "\(otherTag.reason)")
        let implicit = try await verify(world.gun)
        #expect(!implicit.passed, "latest was never signed: \(implicit.reason)")
        #expect(implicit.reason.contains("has not signed tag latest"), "\(implicit.reason)")
        // Signed as latest too: the reference without a tag passes.
        try await world.sign("latest", world.signed, roles: ["targets/releases"])
        try await world.notary.notary(["publish", world.gun])
        let engineAfter = VerificationEngine(registry: world.client, verifiers: [NotaryV1Verifier(registry: world.client, client: NotaryRepositoryClient())])
        let latest = try await engineAfter.verify(
            image: try ImageReference(parsing: world.gun), authority: policy.authorities[0], policy: policy.name,
            revision: VerificationEngine.revision(of: policy), deadline: TestBudget.deadline())
        #expect(latest.passed, "\(latest.reason)")
    }

    /// `rootThreshold` reaches the verification from the policy: the real repository's root,
    /// signed by its one root key, passes with that key and another pinned, and is denied when
    /// the policy asks for two of them.
    @Test("a policy's rootThreshold of pinned root keys is required of the server's root")
    func rootThresholdFromThePolicy() async throws {
        let world = try await NotaryWorld.start()
        defer { world.stop() }
        let other = try await NotaryTest.unrelatedKey()
        let either = try await world.verify("\(world.gun):v1", try await world.authority(alsoPinned: [other]), notaryClient: NotaryRepositoryClient())
        #expect(either.passed, "\(either.reason)")
        let both = try await world.verify(
            "\(world.gun):v1", try await world.authority(alsoPinned: [other], rootThreshold: 2), notaryClient: NotaryRepositoryClient())
        #expect(!both.passed)
        #expect(both.reason.contains("the policy's rootThreshold requires 2"), "\(both.reason)")
    }

    @Test("an unsigned tag, a repository never signed, and a wrong pinned root key are denied")
    func unsignedAndWrongRoot() async throws {
        let world = try await NotaryWorld.start()
        defer { world.stop() }
        try await NotaryWorld.push(world.client, try ImageReference(parsing: "\(world.gun):v2"))
        let policy = try await world.authority()
        let unsigned = try await world.verify("\(world.gun):v2", policy, notaryClient: NotaryRepositoryClient())
        #expect(!unsigned.passed)
        #expect(unsigned.reason.contains("targets/releases has not signed tag v2"), "\(unsigned.reason)")

        try await NotaryWorld.push(world.client, try ImageReference(parsing: "\(world.registry.host)/other:v1"))
        let never = try await world.verify("\(world.registry.host)/other:v1", policy, notaryClient: NotaryRepositoryClient())
        #expect(!never.passed)
        #expect(never.failure == .noSignatures)
        #expect(never.reason.contains("no Docker Content Trust data for \(world.registry.host)/other"), "\(never.reason)")

        let wrongRoot = try await world.authority(rootKey: try await NotaryTest.unrelatedKey())
        let refused = try await world.verify("\(world.gun):v1", wrongRoot, notaryClient: NotaryRepositoryClient())
        #expect(!refused.passed)
        #expect(refused.reason.contains("pinned root key"), "\(refused.reason)")
    }

    @Test("expired timestamp at an injected time is denied; a server whose certificate is not trusted is an error")
    func expiredAndUntrustedServer() async throws {
        let world = try await NotaryWorld.start()
        defer { world.stop() }
        let policy = try await world.authority()
        // notary-server signs timestamps for 14 days.
        let later = NotaryRepositoryClient(clock: { Date().addingTimeInterval(15 * 86_400) })
        let expired = try await world.verify("\(world.gun):v1", policy, notaryClient: later)
        #expect(!expired.passed)
        #expect(expired.reason.contains("timestamp version"), "\(expired.reason)")
        #expect(expired.reason.contains("expired"))

        let noCA = try await world.authority(caBundle: false)
        await #expect(throws: VerificationError.self) {
            _ = try await world.verify("\(world.gun):v1", noCA, notaryClient: NotaryRepositoryClient())
        }
    }

    @Test("a required delegation that did not sign is denied naming it; a threshold of delegations passes; roles that disagree on the digest are named with what each signed")
    func requiredDelegations() async throws {
        let world = try await NotaryWorld.start()
        defer { world.stop() }
        let alice = try await world.makeDelegate("alice")
        try await world.notary.notary(["delegation", "add", world.gun, "targets/alice", alice.certificate, "--all-paths"])
        try await world.notary.notary(["key", "import", alice.key, "--role", "alice"])
        let aliceOnly = try await NotaryWorld.push(world.client, try ImageReference(parsing: "\(world.gun):v3"))
        try await world.sign("v3", aliceOnly, roles: ["targets/alice"])
        try await world.notary.notary(["publish", world.gun])

        let both = try await world.authority(delegations: ["targets/releases", "targets/alice"])
        let missing = try await world.verify("\(world.gun):v1", both, notaryClient: NotaryRepositoryClient())
        #expect(!missing.passed)
        #expect(missing.failure == .thresholdNotMet)
        #expect(missing.reason.contains("targets/alice has not signed tag v1"), "\(missing.reason)")
        #expect(missing.reason.contains("1 of the 2 role(s) required"))

        let either = try await world.authority(delegations: ["targets/releases", "targets/alice"], threshold: 1)
        #expect(try await world.verify("\(world.gun):v1", either, notaryClient: NotaryRepositoryClient()).passed)
        #expect(try await world.verify("\(world.gun):v3", either, notaryClient: NotaryRepositoryClient()).passed)

        // The required roles disagree: alice signs v1 as another image. The deny says who signed what.
        try await world.sign("v1", aliceOnly, roles: ["targets/alice"])
        try await world.notary.notary(["publish", world.gun])
        let disagreement = try await world.verify("\(world.gun):v1", both, notaryClient: NotaryRepositoryClient())
        #expect(!disagreement.passed)
        #expect(disagreement.reason.contains("targets/alice signed tag v1 as \(aliceOnly.digest), but the image is \(world.signed.digest)"), "\(disagreement.reason)")

        let undelegated = try await world.authority(delegations: ["targets/bob"])
        let bob = try await world.verify("\(world.gun):v1", undelegated, notaryClient: NotaryRepositoryClient())
        #expect(!bob.passed)
        #expect(bob.reason.contains("targets/bob did not sign"), "\(bob.reason)")
    }

    @Test("a root rotated on the server is followed from the old pinned key: directly, and through the versioned roots after a second rotation")
    func rootRotation() async throws {
        let world = try await NotaryWorld.start()
        defer { world.stop() }
        let originalRoot = try await world.rootKey()
        let policy = try await world.authority(rootKey: originalRoot)
        try await world.notary.notary(["key", "rotate", world.gun, "root"], confirm: true)
        let rotated = try JSONParser().parse(try await world.serverFile("root"))
        #expect(rotated["signed"]?["version"]?.integerValue == 2)
        #expect(try await world.rootKey() != originalRoot)
        let result = try await world.verify("\(world.gun):v1", policy, notaryClient: NotaryRepositoryClient())
        #expect(result.passed, "\(result.reason)")
        #expect(result.steps.contains { $0.name == "trust data" && $0.detail.contains("root v2") }, "\(result.steps)")

        // Rotated again: root v3 carries no signature by the pinned key; the versioned roots
        // 1.root.json and 2.root.json chain the pinned key to it.
        try await world.notary.notary(["key", "rotate", world.gun, "root"], confirm: true)
        let twice = try JSONParser().parse(try await world.serverFile("root"))
        #expect(twice["signed"]?["version"]?.integerValue == 3)
        let followed = try await world.verify("\(world.gun):v1", policy, notaryClient: NotaryRepositoryClient())
        #expect(followed.passed, "\(followed.reason)")
        #expect(followed.steps.contains { $0.name == "trust data" && $0.detail.contains("root v3") }, "\(followed.steps)")
        // A key the chain never reaches is still refused.
        let stranger = try await world.authority(rootKey: try await NotaryTest.unrelatedKey())
        let refused = try await world.verify("\(world.gun):v1", stranger, notaryClient: NotaryRepositoryClient())
        #expect(!refused.passed)
        #expect(refused.reason.contains("pinned root key"), "\(refused.reason)")
    }

    @Test("older metadata served after newer (a rollback) is refused within the process")
    func rollbackRefused() async throws {
        let world = try await NotaryWorld.start()
        defer { world.stop() }
        let roles = ["root", "timestamp", "snapshot", "targets", "targets/releases"]
        var old: [String: [UInt8]] = [:]
        for role in roles { old[role] = try await world.serverFile(role) }
        // A new publish: v1 now names another image; the old metadata still names the first.
        let newer = try await NotaryWorld.push(world.client, try ImageReference(parsing: "\(world.gun):v1"))
        try await world.sign("v1", newer, roles: ["targets/releases"])
        try await world.notary.notary(["publish", world.gun])
        var routes: [String: [RegistryStubServer.Response]] = [:]
        for role in roles {
            // The mirror serves the new file once, then the old one.
            routes["GET /v2/\(world.gun)/_trust/tuf/\(role).json"] = [.init(body: try await world.serverFile(role)), .init(body: old[role]!)]
        }
        let mirror = try await RegistryStubServer.start(routes: routes)
        defer { mirror.stop() }
        let policy = try await world.authority(server: "http://\(mirror.host)", caBundle: false)
        let notaryClient = NotaryRepositoryClient(configuration: .init(cacheTTL: .zero))
        let current = try await world.verify("\(world.gun):v1", policy, notaryClient: notaryClient)
        #expect(current.passed, "\(current.reason)")

        // Roll the registry's tag back too, so only the rollback check stands in the way.
        let original = try await world.client.manifest(try ImageReference(parsing: "\(world.gun)@\(world.signed.digest)"), deadline: TestBudget.deadline())
        try await world.client.pushManifest(original.manifest, to: try ImageReference(parsing: "\(world.gun):v1"), deadline: TestBudget.deadline())
        let rolledBack = try await world.verify("\(world.gun):v1", policy, notaryClient: notaryClient)
        #expect(!rolledBack.passed)
        #expect(rolledBack.reason.contains("rollback"), "\(rolledBack.reason)")
        // A fresh process has no memory of the newer versions and would take the old metadata:
        // which is why the guard lives for the process.
        let fresh = try await world.verify("\(world.gun):v1", policy, notaryClient: NotaryRepositoryClient())
        #expect(fresh.passed, "\(fresh.reason)")
    }
}
