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
