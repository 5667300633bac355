import Foundation
import SignetRegistry
import SignetTUF
import SignetTestSupport
import Testing

@testable import SignetNotary

/// Root and timestamp files hold a few keys and a hash: a server that sends megabytes of them
/// (up to 32 versioned roots are fetched at once when a root rotated) is refused at
/// `maximumRootBytes` (512 KiB), while `targets` keeps the 4 MiB a repository of many tags needs.
@Suite("Notary v1 metadata bounds")
struct NotaryMetadataBoundsTests {
    /// The vector's repository with `root.json` padded by whitespace, which keeps it valid JSON
    /// and its signature valid (the signature covers the canonical `signed` object).
    static func serve(rootPadding: Int) async throws -> (RegistryStubServer, NotaryRepositoryClient.Request) {
        let gun = NotaryVectorTests.gun03
        var files = try NotaryTest.files(version: "0.3", gun: gun, roles: NotaryVectorTests.roles03)
        let root = files["root"]!
        files["root"] = root + [UInt8](repeating: UInt8(ascii: " "), count: rootPadding)
        var routes: [String: [RegistryStubServer.Response]] = [:]
        for (role, bytes) in files { routes["GET /v2/\(gun)/_trust/tuf/\(role).json"] = [.init(body: bytes)] }
        let server = try await RegistryStubServer.start(routes: routes)
        let request = NotaryRepositoryClient.Request(
            server: "http://\(server.host)", gun: gun, pinnedRootKeys: [try NotaryTest.rootKey(root)], delegations: ["targets/releases"])
        return (server, request)
    }

    @Test func aRootLargerThanTheRootLimitIsRefusedAndTheSameRootWithinItIsRead() async throws {
        let (server, request) = try await Self.serve(rootPadding: 600 << 10)
        defer { server.stop() }
        await #expect {
            _ = try await NotaryRepositoryClient(clock: { NotaryTest.vectorTime }).collection(request, deadline: TestBudget.deadline())
        } throws: { error in
            "\(error)".contains("is longer than \(512 << 10) bytes")
        }
        let roomy = NotaryRepositoryClient(configuration: .init(maximumRootBytes: 1 << 20), clock: { NotaryTest.vectorTime })
        _ = try await roomy.collection(request, deadline: TestBudget.deadline())
    }
}

/// Anyone who may publish a repository on the Notary server can make its current root one the
/// pinned keys did not sign, and so make signet fetch up to 32 older roots at once: together
/// they are bounded by `maximumRootChainBytes` (1 MiB), each by its share (32 KiB of 32), not
/// 512 KiB apiece (16 MiB held per verification).
@Suite("Notary v1 rotation chain bounds")
struct NotaryRootChainBoundsTests {
    /// The vector's repository with its current root claiming `version` (its signature no longer
    /// verifies, so the client follows the chain) and every older version served as the
    /// vector's version-1 root padded with `olderPadding` bytes of whitespace.
    static func serve(version: Int, olderPadding: Int) async throws -> (RegistryStubServer, NotaryRepositoryClient.Request) {
        let gun = NotaryVectorTests.gun03
        var files = try NotaryTest.files(version: "0.3", gun: gun, roles: NotaryVectorTests.roles03)
        let original = try #require(files["root"])
        var root = try #require(try JSONSerialization.jsonObject(with: Data(original)) as? [String: Any])
        var signed = try #require(root["signed"] as? [String: Any])
        signed["version"] = version
        root["signed"] = signed
        files["root"] = Array(try JSONSerialization.data(withJSONObject: root))
        var routes: [String: [RegistryStubServer.Response]] = [:]
        for (role, bytes) in files { routes["GET /v2/\(gun)/_trust/tuf/\(role).json"] = [.init(body: bytes)] }
        let older = original + [UInt8](repeating: UInt8(ascii: " "), count: olderPadding)
        for number in 1..<version { routes["GET /v2/\(gun)/_trust/tuf/\(number).root.json"] = [.init(body: older)] }
        let server = try await RegistryStubServer.start(routes: routes)
        let request = NotaryRepositoryClient.Request(
            server: "http://\(server.host)", gun: gun, pinnedRootKeys: [try NotaryTest.rootKey(original)], delegations: ["targets/releases"])
        return (server, request)
    }

    @Test func olderRootsShareTheChainsBytes() async throws {
        let defaults = NotaryRepositoryClient.Configuration()
        #expect(NotaryRepositoryClient.olderRootLimit(count: 32, configuration: defaults) == 32 << 10)
        #expect(NotaryRepositoryClient.olderRootLimit(count: 1, configuration: defaults) == 512 << 10)

        let (server, request) = try await Self.serve(version: 33, olderPadding: 40 << 10)
        defer { server.stop() }
        let refusal = try await Self.refusal(request)
        #expect(refusal.contains(".root.json is longer than \(32 << 10) bytes: the 32 older roots of a rotation chain may take \(1 << 20) bytes together"), "\(refusal)")
    }

    @Test func olderRootsWithinTheirShareAreReadIntoTheChain() async throws {
        let (server, request) = try await Self.serve(version: 33, olderPadding: 28 << 10)
        defer { server.stop() }
        // Every older root is read (32 copies of version 1, so version 2 is missing): the chain
        // check, not the size, refuses the repository.
        let refusal = try await Self.refusal(request)
        #expect(refusal.contains("root version 2 of \(NotaryVectorTests.gun03) is missing from the rotation chain"), "\(refusal)")
    }

    /// Why the client refuses `request`'s repository; fails the test if it trusts it, and throws
    /// what a fetch threw.
    static func refusal(_ request: NotaryRepositoryClient.Request) async throws -> String {
        let outcome = try await NotaryRepositoryClient(clock: { NotaryTest.vectorTime }).collection(request, deadline: TestBudget.deadline())
        guard case .untrusted(let error) = outcome else {
            Issue.record("the repository was trusted")
            return ""
        }
        return "\(error)"
    }
}
