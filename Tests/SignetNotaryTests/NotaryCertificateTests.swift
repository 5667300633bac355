import Foundation
import NIOConcurrencyHelpers
import SignetCrypto
import SignetRegistry
@testable import SignetNotary
import SignetTUF
import SignetTestSupport
import Testing

/// Root keys carried as certificates count only inside their validity at the injected time, and
/// RSA-PSS signatures must use Notary's salt length (32 bytes, `tuf/signed/verifiers.go`).
@Suite("Notary v1 root certificates and RSA-PSS")
struct NotaryCertificateTests {
    static let gun = "registry.example/team/app"

    /// With no delegation in the policy, `targets/releases` must vouch when the owner-signed
    /// `targets` delegates to it, even when the snapshot (the server's signature) leaves it out;
    /// `targets` vouches only in a repository without that delegation.
    @Test("the default role follows targets' own delegations, not the snapshot")
    func defaultRoleFollowsTheOwnersDelegations() async throws {
        let repository = try await NotaryTestRepository.make(gun: Self.gun, kind: .ecdsa, days: 1)
        let pinned = try repository.certificate.publicKey()
        let at = repository.certificate.notValidBefore.addingTimeInterval(3600)
        let delegated = try NotaryTrustedCollection(
            gun: Self.gun, files: try await repository.files(delegations: ["targets/releases"]), pinnedRootKeys: [pinned],
            delegations: ["targets/releases"], at: at)
        #expect(delegated.roles["targets/releases"] == nil, "the snapshot lists no targets/releases file")
        #expect(delegated.roles["targets"]?.targets["v1"] != nil, "targets itself signed v1")
        #expect(NotaryV1Verifier.defaultRole(in: delegated) == "targets/releases")
        let plain = try NotaryTrustedCollection(
            gun: Self.gun, files: try await repository.files(), pinnedRootKeys: [pinned], delegations: ["targets/releases"], at: at)
        #expect(NotaryV1Verifier.defaultRole(in: plain) == "targets")
    }

    /// A delegated role that cannot be trusted (here expired) vouches for nothing, and the
    /// others are judged without it, as Notary's client skips it: a policy needing one of
    /// `targets/releases` and `targets/qa` is not stopped by the qa key holder's lapse.
    @Test("an expired delegation vouches for nothing and does not stop the others")
    func anExpiredDelegationIsSkipped() async throws {
        let repository = try await NotaryTestRepository.make(gun: Self.gun, kind: .ecdsa, days: 1)
        let at = repository.certificate.notValidBefore.addingTimeInterval(3600)
        let files = try await repository.files(
            delegations: ["targets/releases", "targets/qa"],
            published: ["targets/releases": "2100-01-01T00:00:00Z", "targets/qa": "2020-01-01T00:00:00Z"])
        let collection = try NotaryTrustedCollection(
            gun: Self.gun, files: files, pinnedRootKeys: [try repository.certificate.publicKey()],
            delegations: ["targets/releases", "targets/qa"], at: at)
        #expect(collection.roles["targets/releases"]?.targets["v1"] != nil)
        #expect(collection.roles["targets/qa"] == nil)
        #expect(collection.untrustedRoles["targets/qa"]?.contains("expired") == true, "\(collection.untrustedRoles)")
        // A policy that needs targets/qa (or a role below it) is told why it vouches for nothing.
        #expect(NotaryV1Verifier.absence(of: "targets/qa", in: collection).hasPrefix("targets/qa is not trusted: targets/qa version 1 of \(Self.gun) expired at 2020-01-01T00:00:00Z"))
        #expect(NotaryV1Verifier.absence(of: "targets/qa/alice", in: collection).hasPrefix("targets/qa/alice is not trusted: the role delegating to it, targets/qa, is not: targets/qa version 1"))
        #expect(NotaryV1Verifier.absence(of: "targets/ops", in: collection) == "targets/ops did not sign (the repository does not delegate to it or never published it)")
        // The owner's targets role is no delegation: expired, nothing is trusted.
        let expiredTargets = try await repository.files(published: ["targets": "2020-01-01T00:00:00Z"])
        let refused = try #require(throws: TUFError.self) {
            _ = try NotaryTrustedCollection(
                gun: Self.gun, files: expiredTargets, pinnedRootKeys: [try repository.certificate.publicKey()], delegations: [], at: at)
        }
        #expect(refused.reason.contains("expired"), "\(refused)")
    }

    /// TUF 5.3.4: a root is judged by the threshold already trusted, never by its own. With two
    /// pinned keys and `rootThreshold: 2`, a root signed by one of them (which names itself alone
    /// with threshold 1, as one made with a leaked key would) is refused; without it, one suffices.
    @Test("the policy's rootThreshold of pinned keys must sign the root, whatever the root's own threshold says")
    func rootThresholdOfThePolicy() async throws {
        let repository = try await NotaryTestRepository.make(gun: Self.gun, kind: .ecdsa, days: 1)
        let other = try await NotaryTestRepository.make(gun: Self.gun, kind: .ecdsa, days: 1)
        let pinned = [try repository.certificate.publicKey(), try other.certificate.publicKey()]
        let files = try await repository.files()
        let at = repository.certificate.notValidBefore.addingTimeInterval(3600)
        let one = try NotaryTrustedCollection(gun: Self.gun, files: files, pinnedRootKeys: pinned, delegations: [], at: at)
        #expect(one.roles["targets"]?.targets["v1"] != nil)
        let refused = try #require(throws: TUFError.self) {
            _ = try NotaryTrustedCollection(gun: Self.gun, files: files, pinnedRootKeys: pinned, pinnedRootThreshold: 2, delegations: [], at: at)
        }
        #expect(refused.code == .thresholdNotMet)
        #expect(refused.reason.contains("is signed by 1 of the policy's 2 pinned root key(s); the policy's rootThreshold requires 2"), "\(refused)")
    }

    /// The policy's rootThreshold holds for every root of a rotation chain, not only the one
    /// the chain starts from: root 1 names the two pinned keys with threshold 1 (a root role
    /// Notary's server accepts a rotation of with either key), so one leaked pinned key could
    /// otherwise sign a root 2 of its own choosing and every image its new keys sign.
    @Test("each root of a rotation chain needs the policy's rootThreshold of its predecessor's keys")
    func rootThresholdAlongTheRotationChain() async throws {
        var keys: [NotaryTestRepository] = []
        for _ in 0..<4 { keys.append(try await NotaryTestRepository.make(gun: Self.gun, kind: .ecdsa, days: 1)) }
        let (first, second, third, fourth) = (keys[0], keys[1], keys[2], keys[3])
        let pinned = [try first.certificate.publicKey(), try second.certificate.publicKey()]
        let at = first.certificate.notValidBefore.addingTimeInterval(3600)
        let root1 = try await first.rootFile(version: 1, rootKeys: [first, second], signers: [first, second])

        // A leaked first key rotates to itself alone: refused, where one key sufficed before.
        let leaked = try await first.rootFile(version: 2, rootKeys: [first], signers: [first])
        let leakedFiles = try await first.files(root: leaked)
        let refused = try #require(throws: TUFError.self) {
            _ = try NotaryTrustedCollection(
                gun: Self.gun, files: leakedFiles, pinnedRootKeys: pinned, pinnedRootThreshold: 2, delegations: [],
                at: at, olderRoots: [root1])
        }
        #expect(refused.code == .thresholdNotMet, "\(refused)")
        #expect(refused.reason.contains("the policy's rootThreshold requires 2"), "\(refused)")
        _ = try NotaryTrustedCollection(
            gun: Self.gun, files: leakedFiles, pinnedRootKeys: pinned, delegations: [], at: at, olderRoots: [root1])

        // An owner's rotation: root 2 signed by both pinned keys moves to two new keys, and
        // root 3, which no pinned key signs, is followed when both new keys sign it; one is not enough.
        let root2 = try await third.rootFile(version: 2, rootKeys: [third, fourth], signers: [first, second, third])
        let root3 = try await third.rootFile(version: 3, rootKeys: [third, fourth], signers: [third, fourth])
        let followed = try NotaryTrustedCollection(
            gun: Self.gun, files: try await third.files(root: root3), pinnedRootKeys: pinned, pinnedRootThreshold: 2, delegations: [],
            at: at, olderRoots: [root1, root2])
        #expect(followed.roles["targets"]?.targets["v1"] != nil)
        let alone = try await third.rootFile(version: 3, rootKeys: [third], signers: [third])
        let aloneFiles = try await third.files(root: alone)
        let refusedAlone = try #require(throws: TUFError.self) {
            _ = try NotaryTrustedCollection(
                gun: Self.gun, files: aloneFiles, pinnedRootKeys: pinned, pinnedRootThreshold: 2, delegations: [],
                at: at, olderRoots: [root1, root2])
        }
        #expect(refusedAlone.code == .thresholdNotMet, "\(refusedAlone)")
    }

    @Test("an ecdsa-x509 root verifies inside its certificate's validity, and is refused before notBefore and after notAfter")
    func rootCertificateValidity() async throws {
        let repository = try await NotaryTestRepository.make(gun: Self.gun, kind: .ecdsa, days: 1)
        let files = try await repository.files()
        let pinned = try repository.certificate.publicKey()
        let start = repository.certificate.notValidBefore
        let inside = try NotaryTrustedCollection(gun: Self.gun, files: files, pinnedRootKeys: [pinned], delegations: [], at: start.addingTimeInterval(3600))
        #expect(inside.roles["targets"]?.targets["v1"]?.length == 1234)
        // The metadata expires in 2100: what the collection vouches for ends with the root certificate.
        #expect(inside.earliestExpiry == repository.certificate.notValidAfter)

        let early = try #require(throws: TUFError.self) {
            _ = try NotaryTrustedCollection(gun: Self.gun, files: files, pinnedRootKeys: [pinned], delegations: [], at: start.addingTimeInterval(-3600))
        }
        #expect(early.code == .certificateNotValid)
        #expect(early.reason.contains("is not yet valid"), "\(early)")
        #expect(early.reason.contains("CN=\(Self.gun)") || early.reason.contains(Self.gun), "\(early)")
        #expect(early.reason.contains(repository.key.id), "names the key: \(early)")

        let late = try #require(throws: TUFError.self) {
            _ = try NotaryTrustedCollection(
                gun: Self.gun, files: files, pinnedRootKeys: [pinned], delegations: [],
                at: repository.certificate.notValidAfter.addingTimeInterval(3600))
        }
        #expect(late.code == .certificateNotValid)
        #expect(late.reason.contains("has expired"), "\(late)")
        #expect(late.reason.contains(repository.certificate.notValidAfter.formatted(.iso8601)), "names notAfter: \(late)")
    }

    /// One signer's root key signs the root of every repository it initialises (docker trust
    /// reuses it): the metadata of another of its repositories, served whole for this GUN, must
    /// not pass for this one's, as Notary's client refuses a root certificate naming another GUN.
    @Test("the signed metadata of another repository with the same root key is refused, naming both repositories")
    func anotherRepositorysRootIsRefused() async throws {
        let debug = try await NotaryTestRepository.make(gun: "registry.example/team/debug", kind: .ecdsa, days: 1)
        let files = try await debug.files()
        let pinned = try debug.certificate.publicKey()
        let at = debug.certificate.notValidBefore.addingTimeInterval(3600)
        _ = try NotaryTrustedCollection(gun: "registry.example/team/debug", files: files, pinnedRootKeys: [pinned], delegations: [], at: at)
        let swapped = try #require(throws: TUFError.self) {
            _ = try NotaryTrustedCollection(gun: Self.gun, files: files, pinnedRootKeys: [pinned], delegations: [], at: at)
        }
        #expect(swapped.code == .certificateNotValid)
        #expect(swapped.reason.contains(#"names "registry.example/team/debug", not "\#(Self.gun)": it is the root of another repository"#), "\(swapped)")
    }

    /// `repository`'s files served at their GUN paths (each answer after `delay` seconds), and
    /// a request for them pinning its root certificate's key.
    static func serve(_ repository: NotaryTestRepository, delay: Double = 0) async throws -> (RegistryStubServer, NotaryRepositoryClient.Request) {
        var routes: [String: [RegistryStubServer.Response]] = [:]
        for (role, bytes) in try await repository.files() { routes["GET /v2/\(gun)/_trust/tuf/\(role).json"] = [.init(body: bytes, delay: delay)] }
        let server = try await RegistryStubServer.start(routes: routes)
        let request = NotaryRepositoryClient.Request(
            server: "http://\(server.host)", gun: gun, pinnedRootKeys: [try repository.certificate.publicKey()], delegations: [])
        return (server, request)
    }

    @Test("the served repository's deny names the expired root certificate")
    func servedExpiredRoot() async throws {
        let repository = try await NotaryTestRepository.make(gun: Self.gun, kind: .ecdsa, days: 1)
        let (server, request) = try await Self.serve(repository)
        defer { server.stop() }
        let later = repository.certificate.notValidAfter.addingTimeInterval(86_400)
        let client = NotaryRepositoryClient(clock: { later })
        guard case .untrusted(let error) = try await client.collection(request, deadline: TestBudget.deadline()) else {
            Issue.record("a root whose certificate expired was trusted")
            return
        }
        #expect(error.code == .certificateNotValid)
        #expect(error.reason.contains("has expired"))
    }

    /// Serves a repository's files by role once ``open()`` is called (a Notary server that
    /// hangs until the test lets it answer), noting every file asked for.
    final class GatedFetcher: TUFFetcher {
        let files: [String: [UInt8]]
        private let state = NIOLockedValueBox<(open: Bool, waiting: [CheckedContinuation<Void, Never>], asked: [String])>((false, [], []))

        init(files: [String: [UInt8]]) { self.files = files }

        var asked: [String] { state.withLockedValue { $0.asked } }

        func open() {
            let waiting = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
                state.open = true
                defer { state.waiting = [] }
                return state.waiting
            }
            waiting.forEach { $0.resume() }
        }

        func fetch(_ url: String, maximumLength: Int) async throws(TUFError) -> [UInt8]? {
            let role = url.components(separatedBy: "/_trust/tuf/").last.map { String($0.dropLast(".json".count)) } ?? url
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let answer = state.withLockedValue { state -> Bool in
                    state.asked.append(role)
                    if !state.open { state.waiting.append(continuation) }
                    return state.open
                }
                if answer { continuation.resume() }
            }
            return files[role]
        }
    }

    /// A review gives up at its deadline, not at the Notary server's request timeouts, and the
    /// load goes on for the next review, which waits for it instead of starting a second one.
    /// The server answers only once the test lets it, so however slow the machine, the waiter
    /// gave up before any answer came.
    @Test("a waiter gives up at its deadline; the load it gave up on is joined by the next caller, not started again", .timeLimit(.minutes(5)))
    func aLoadOutlivesTheWaiterThatGaveUp() async throws {
        let repository = try await NotaryTestRepository.make(gun: Self.gun, kind: .ecdsa, days: 1)
        let fetcher = GatedFetcher(files: try await repository.files())
        let at = repository.certificate.notValidBefore.addingTimeInterval(3600)
        let client = NotaryRepositoryClient(clock: { at }, makeFetcher: { _ in fetcher })
        let request = NotaryRepositoryClient.Request(
            server: "https://notary.example", gun: Self.gun, pinnedRootKeys: [try repository.certificate.publicKey()], delegations: [])
        await #expect(throws: CancellationError.self) { _ = try await client.collection(request, deadline: .now + .milliseconds(100)) }
        #expect(client.cachedCollections == 0)
        let next = Task { try await client.collection(request, deadline: TestBudget.deadline()) }
        fetcher.open()
        guard case .trusted = try await next.value else {
            Issue.record("the repository was not trusted")
            return
        }
        #expect(fetcher.asked.sorted() == ["root", "snapshot", "targets", "timestamp"], "one load, not two: \(fetcher.asked)")
    }

    /// Pull secrets as a Pod names them (made-up names included).
    struct NamedSecrets: RegistryCredentialSource {
        var names: String
        var credential: RegistryCredential?
        func credential(for registry: String, repository: String?) async -> RegistryCredential? { credential }
        var identity: String? { names }
    }

    /// The collection is shared by the credential it is fetched with, not by who asked: Pods
    /// naming made-up pull secrets (each its own identity) reuse one fetch; another credential
    /// gets a fetch of its own.
    @Test("requests with the same credential share the collection whatever pull secrets their Pods name")
    func theCacheIsKeyedByTheCredential() async throws {
        let repository = try await NotaryTestRepository.make(gun: Self.gun, kind: .ecdsa, days: 1)
        let (server, request) = try await Self.serve(repository)
        defer { server.stop() }
        let at = repository.certificate.notValidBefore.addingTimeInterval(3600)
        let client = NotaryRepositoryClient(clock: { at })
        for names in ["made-up-1", "made-up-2", "made-up-3"] {
            _ = try await RequestCredentials.using(NamedSecrets(names: names)) { try await client.collection(request, deadline: TestBudget.deadline()) }
        }
        let once = server.requests.count
        #expect(once > 0 && Set(server.requests).count == once, "one fetch for three Pods: \(server.requests)")
        let other = NamedSecrets(names: "regcred", credential: RegistryCredential(username: "ci", password: "s3cret"))
        _ = try await RequestCredentials.using(other) { try await client.collection(request, deadline: TestBudget.deadline()) }
        #expect(server.requests.count == 2 * once, "another credential fetches anew")
    }

    @Test("rsa-x509 with RSA-PSS: a 32-byte salt, as Notary signs, verifies; another salt length does not")
    func rsaPSSSaltLength() async throws {
        var repository = try await NotaryTestRepository.make(gun: Self.gun, kind: .rsa, days: 1)
        let pinned = try repository.certificate.publicKey()
        let time = repository.certificate.notValidBefore.addingTimeInterval(3600)
        let good = try NotaryTrustedCollection(gun: Self.gun, files: try await repository.files(), pinnedRootKeys: [pinned], delegations: [], at: time)
        #expect(good.roles["targets"]?.signerKeys.values.first?.keyType == "rsa-x509")

        for salt in [20, 64, 0] {
            repository.pssSaltLength = salt
            let files = try await repository.files()
            let error = try #require(throws: TUFError.self, "salt \(salt)") {
                _ = try NotaryTrustedCollection(gun: Self.gun, files: files, pinnedRootKeys: [pinned], delegations: [], at: time)
            }
            #expect(error.code == .thresholdNotMet, "salt \(salt): \(error)")
        }

        // The same check on one signature, through the key's verifier.
        repository.pssSaltLength = 32
        let message = Array("notary".utf8)
        let verifier = try NotaryKeys.verifier(for: TUFKey(id: repository.key.id, keyType: "rsa-x509", scheme: "", keyValue: repository.key.json["keyval"]!.objectValue!))
        #expect(verifier.isValid(TUFSignature(keyID: repository.key.id, bytes: try await repository.sign(message), method: "rsapss"), over: message))
        repository.pssSaltLength = 222
        #expect(!verifier.isValid(TUFSignature(keyID: repository.key.id, bytes: try await repository.sign(message), method: "rsapss"), over: message))
    }
}
