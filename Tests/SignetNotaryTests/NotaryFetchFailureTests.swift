import Foundation
import SignetNotary
import SignetTUF
import SignetTestSupport
import Testing

/// A Notary server's failures say whether a later try could succeed: one that cannot be reached
/// or answers 429 or 502 to 504 is transient (a scan of a running image then reports `error`,
/// not `fail`); a refusal (401, 403) or another status is met again (a `fail`), and a 403 is a
/// refused credential, never "no trust data".
@Suite("Notary fetch failures say whether a later try could succeed")
struct NotaryFetchFailureTests {
    @Test func unreachableAndOverloadedServersAreTransientRefusalsAreNot() async throws {
        let stub = try await RegistryStubServer.start(routes: [
            "GET /v2/busy/_trust/tuf/root.json": [.init(status: 503)],
            "GET /v2/broken/_trust/tuf/root.json": [.init(status: 500)],
            "GET /v2/private/_trust/tuf/root.json": [.init(status: 401)],
            "GET /v2/forbidden/_trust/tuf/root.json": [.init(status: 403)],
        ])
        defer { stub.stop() }
        let fetcher = try NotaryHTTPFetcher()
        defer { fetcher.shutdown() }
        func failure(_ url: String) async -> TUFError? {
            do {
                _ = try await fetcher.fetch(url, maximumLength: 1 << 20)
                return nil
            } catch {
                return error
            }
        }
        let busy = await failure("http://\(stub.host)/v2/busy/_trust/tuf/root.json")
        #expect(busy?.isTransient == true, "\(String(describing: busy))")
        let broken = await failure("http://\(stub.host)/v2/broken/_trust/tuf/root.json")
        #expect(broken?.isTransient == false, "\(String(describing: broken))")
        let refused = await failure("http://\(stub.host)/v2/private/_trust/tuf/root.json")
        #expect(refused?.isTransient == false && refused?.reason.contains("401") == true, "\(String(describing: refused))")
        // A refusal of the credential, not a repository without trust data (that is a 404).
        let forbidden = await failure("http://\(stub.host)/v2/forbidden/_trust/tuf/root.json")
        #expect(
            forbidden?.isTransient == false && forbidden?.refusedCredentials == true && forbidden?.reason.contains("403") == true
                && forbidden?.reason.contains("anonymous access to forbidden is refused") == true,
            "\(String(describing: forbidden))")
        let gone = await failure("http://127.0.0.1:\(FreePort.make())/v2/gone/_trust/tuf/root.json")
        #expect(gone?.isTransient == true, "\(String(describing: gone))")
    }
}
