import SignetTestSupport
import Testing

@testable import SignetHTTPClient

/// Transfers to one registry run side by side (up to the driver's connections per host), also
/// when the registry closes the connection after every answer (`Connection: close`, RFC 9112
/// section 9.6), as HTTP/1.0 servers and some proxies in front of registries do.
///
/// curl's `CURLOPT_PIPEWAIT` makes a transfer wait for a connection being opened to the same host
/// in case it turns out to multiplex (HTTP/2). Over plain HTTP nothing multiplexes, and curl only
/// learns that from an answer, which it forgets with the connection: against such a registry
/// every transfer waited for the one before it, so 20 cold verifications at a 50 ms registry took
/// seconds each.
@Suite
struct ParallelTransfersTests {
    @Test(arguments: [["Connection": "close"], [:]])
    func transfersToOneHostRunSideBySide(headers: [String: String]) async throws {
        let stub = try await RegistryStubServer.start(routes: [
            "GET /v2/demo/app/blobs/one": [.init(headers: headers, body: Array("blob".utf8), gather: 4)]
        ])
        defer { stub.stop() }
        let driver = try CurlMultiDriver(settings: CurlTransferSettings(
            caBundlePath: nil, connectTimeout: .seconds(30), lowSpeedTimeout: .seconds(300), maximumRedirects: 0,
            userAgent: "signet-test"))
        defer { driver.shutdown() }
        let statuses = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let request = HTTPRequest(
                        method: .get, url: "http://\(stub.host)/v2/demo/app/blobs/one", maximumResponseBytes: 4096,
                        deadline: .now + .seconds(60))
                    return (try? await driver.perform(request))?.status ?? 0
                }
            }
            var statuses: [Int] = []
            for await status in group { statuses.append(status) }
            return statuses
        }
        #expect(statuses == [200, 200, 200, 200])
        #expect(stub.peakConcurrentRequests == 4, "the registry saw at most \(stub.peakConcurrentRequests) of 4 requests at once")
    }
}
