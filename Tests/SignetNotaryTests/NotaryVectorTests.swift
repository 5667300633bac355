import Foundation
import SignetCrypto
import SignetNotary
import SignetTUF
import SignetTestSupport
import Testing

/// Real Notary client repositories (`Tests/Vectors/notary`, made by Notary 0.1 and 0.3):
/// `ecdsa-x509` roots, `ecdsa` top-level roles and an RSA-PSS (`rsa-x509`) `targets/releases`
/// delegation, verified from the pinned root key at a pinned time.
@Suite("Notary v1 vector repositories")
struct NotaryVectorTests {
    static let gun03 = "docker.com/notary0.3/tst"
    static let roles03 = ["root", "timestamp", "snapshot", "targets", "targets/releases"]

    @Test("Notary 0.3 repository verifies from its pinned root, with the RSA-PSS targets/releases delegation")
    func notary03() throws {
        let files = try NotaryTest.files(version: "0.3", gun: Self.gun03, roles: Self.roles03)
        let collection = try NotaryTrustedCollection(
            gun: Self.gun03, files: files, pinnedRootKeys: [try NotaryTest.rootKey(files["root"]!)],
            delegations: ["targets/releases"], at: NotaryTest.vectorTime)
        #expect(collection.root.header.version == 1)
        #expect(collection.timestamp.header.version == 4)
        #expect(collection.snapshot.header.version == 5)
        #expect(Set(collection.roles["targets"]!.targets.keys) == ["LICENSE", "change"])
        let releases = try #require(collection.roles["targets/releases"])
        #expect(releases.targets.keys.sorted() == ["hello"])
        #expect(releases.signedBy == ["68243a1f948be7841403f65fc8f24d5eda9050c337e727e2eacc3d3cb5227d73"])
        #expect(releases.signerKeys.values.first?.keyType == "rsa-x509")
        // sha256 of the empty file, as the vector README says.
        #expect(releases.targets["hello"]!.hashes["sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("Notary 0.1 repository verifies from its pinned root")
    func notary01() throws {
        let gun = "docker.com/notary0.1/samplerepo"
        let files = try NotaryTest.files(version: "0.1", gun: gun, roles: ["root", "timestamp", "snapshot", "targets"])
        let collection = try NotaryTrustedCollection(
            gun: gun, files: files, pinnedRootKeys: [try NotaryTest.rootKey(files["root"]!)], delegations: [], at: NotaryTest.vectorTime)
        #expect(collection.roles["targets"]!.targets.keys.sorted() == ["LICENSE"])
    }

    @Test("another pinned root key is refused: the root is never trusted on first use")
    func wrongRoot() async throws {
        let files = try NotaryTest.files(version: "0.3", gun: Self.gun03, roles: Self.roles03)
        let other01 = try NotaryTest.rootKey(NotaryTest.files(version: "0.1", gun: "docker.com/notary0.1/samplerepo", roles: ["root"])["root"]!)
        for pinned in [other01, try await NotaryTest.unrelatedKey()] {
            let error = try #require(throws: TUFError.self) {
                _ = try NotaryTrustedCollection(
                    gun: Self.gun03, files: files, pinnedRootKeys: [pinned], delegations: ["targets/releases"], at: NotaryTest.vectorTime)
            }
            #expect(error.code == .thresholdNotMet)
            #expect(error.reason.contains("pinned root key"))
        }
    }

    @Test("metadata past its expiry at the injected time is refused")
    func expired() throws {
        let files = try NotaryTest.files(version: "0.3", gun: Self.gun03, roles: Self.roles03)
        let later = Date(timeIntervalSince1970: 4_700_000_000)  // 2118
        let error = try #require(throws: TUFError.self) {
            _ = try NotaryTrustedCollection(
                gun: Self.gun03, files: files, pinnedRootKeys: [try NotaryTest.rootKey(files["root"]!)], delegations: [], at: later)
        }
        #expect(error.code == .expired)
    }

    @Test("a changed byte in a delegated role, the snapshot or the root is refused by hash or signature")
    func tampered() throws {
        let original = try NotaryTest.files(version: "0.3", gun: Self.gun03, roles: Self.roles03)
        let pinned = try NotaryTest.rootKey(original["root"]!)
        for (role, from, to) in [("targets/releases", "\"hello\"", "\"hellx\""), ("snapshot", "\"version\":5", "\"version\":6"),
                                 ("targets", "\"change\"", "\"chanGe\""), ("timestamp", "\"version\":4", "\"version\":9")] {
            var files = original
            let text = String(decoding: files[role]!, as: UTF8.self)
            #expect(text.contains(from), "\(role) holds \(from)")
            files[role] = Array(text.replacingOccurrences(of: from, with: to).utf8)
            if role == "targets/releases" {
                // A delegation vouches for nothing; the repository's other roles stand.
                let collection = try NotaryTrustedCollection(
                    gun: Self.gun03, files: files, pinnedRootKeys: [pinned], delegations: ["targets/releases"], at: NotaryTest.vectorTime)
                #expect(collection.roles["targets/releases"] == nil && collection.roles["targets"] != nil)
                #expect(collection.untrustedRoles["targets/releases"]?.contains("targets/releases.json") == true, "\(collection.untrustedRoles)")
                continue
            }
            let error = try #require(throws: TUFError.self, "\(role)") {
                _ = try NotaryTrustedCollection(
                    gun: Self.gun03, files: files, pinnedRootKeys: [pinned], delegations: ["targets/releases"], at: NotaryTest.vectorTime)
            }
            #expect([TUFError.Code.hashMismatch, .lengthMismatch, .thresholdNotMet].contains(error.code), "\(role): \(error)")
        }
    }

    @Test("a signature whose method does not fit its key, or a key listed under another ID, counts for nothing")
    func keyConfusion() throws {
        var files = try NotaryTest.files(version: "0.3", gun: Self.gun03, roles: Self.roles03)
        let pinned = try NotaryTest.rootKey(files["root"]!)
        let releases = String(decoding: files["targets/releases"]!, as: UTF8.self)
        files["targets/releases"] = Array(releases.replacingOccurrences(of: "\"method\":\"rsapss\"", with: "\"method\":\"rsapkcs1v15\"").utf8)
        // The role's bytes changed, so the snapshot's hash no longer matches: both checks stand,
        // and the role vouches for nothing.
        let collection = try NotaryTrustedCollection(
            gun: Self.gun03, files: files, pinnedRootKeys: [pinned], delegations: ["targets/releases"], at: NotaryTest.vectorTime)
        #expect(collection.roles["targets/releases"] == nil)
        #expect(collection.untrustedRoles["targets/releases"] != nil)
        // The key check on its own: an ID that is not the key's hash is refused.
        let key = TUFKey(id: String(repeating: "0", count: 64), keyType: "ecdsa", scheme: "", keyValue: ["public": .string(Data(pinned.subjectPublicKeyInfo).base64EncodedString()), "private": .null])
        #expect(throws: TUFError.self) { _ = try NotaryKeys.verifier(for: key) }
    }

    @Test("served at their GUN paths by a local server, fetched once per role and cached")
    func served() async throws {
        var routes: [String: [RegistryStubServer.Response]] = [:]
        let files = try NotaryTest.files(version: "0.3", gun: Self.gun03, roles: Self.roles03)
        for (role, bytes) in files { routes["GET /v2/\(Self.gun03)/_trust/tuf/\(role).json"] = [.init(body: bytes)] }
        let server = try await RegistryStubServer.start(routes: routes)
        defer { server.stop() }
        let client = NotaryRepositoryClient(clock: { NotaryTest.vectorTime })
        let request = NotaryRepositoryClient.Request(
            server: "http://\(server.host)", gun: Self.gun03, pinnedRootKeys: [try NotaryTest.rootKey(files["root"]!)],
            delegations: ["targets/releases"])
        for _ in 0..<3 {
            guard case .trusted(let collection) = try await client.collection(request, deadline: TestBudget.deadline()) else {
                Issue.record("the served vector did not verify")
                return
            }
            #expect(collection.roles["targets/releases"]?.targets["hello"] != nil)
        }
        #expect(server.requests.count == 5, "\(server.requests)")

        var wrong = request
        wrong.pinnedRootKeys = [try await NotaryTest.unrelatedKey()]
        guard case .untrusted(let error) = try await client.collection(wrong, deadline: TestBudget.deadline()) else {
            Issue.record("a wrong pinned root key was accepted")
            return
        }
        #expect(error.code == .thresholdNotMet)

        let unknown = NotaryRepositoryClient.Request(
            server: "http://\(server.host)", gun: "docker.com/other/repo", pinnedRootKeys: request.pinnedRootKeys, delegations: [])
        guard case .untrusted(let missing) = try await client.collection(unknown, deadline: TestBudget.deadline()) else {
            Issue.record("a GUN without trust data was accepted")
            return
        }
        #expect(missing.code == .notFound)
    }

    @Test("a version lower than one already trusted for the same server and GUN is a rollback")
    func versionGuard() {
        let guardian = NotaryVersionGuard()
        #expect(guardian.admit(["snapshot": 5, "timestamp": 4, "targets": 5], for: "a") == nil)
        #expect(guardian.admit(["snapshot": 5, "timestamp": 5, "targets": 5], for: "a") == nil)
        let refusal = guardian.admit(["snapshot": 4, "timestamp": 6, "targets": 5], for: "a")
        #expect(refusal?.contains("snapshot version 4 is older than version 5") == true)
        #expect(guardian.admit(["snapshot": 1], for: "b") == nil, "another repository has its own versions")
    }
}
