import Foundation
import SignetHTTP
import Testing

@testable import SignetConsole

/// A POST a browser sends from another site is refused before the token is looked at: the
/// sign-in form cannot be posted by another site to sign the browser in as the attacker's
/// account (login CSRF), while the console's own forms and clients without a browser work.
@Suite struct ConsoleCrossSiteTests {
    static func post(_ path: String, body: String, _ fields: [(String, String)]) async -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "console.example:8443")
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        for (name, value) in fields { headers.add(name: name, value: value) }
        return await ConsoleHistoryTests.handler(nil).handle(
            HTTPRequest(method: "POST", target: path, headers: headers, body: Array(body.utf8)), context: HTTPRequestContext(remoteAddress: "127.0.0.1:1"))
    }

    @Test(arguments: [
        [("Origin", "https://evil.example")],
        [("Origin", "https://console.example")],
        [("Origin", "https://console.example:9443")],
        [("Origin", "null"), ("Sec-Fetch-Site", "cross-site")],
        [("Sec-Fetch-Site", "cross-site")],
        [("Sec-Fetch-Site", "same-site"), ("Origin", "https://other.example:8443")],
    ])
    func aSignInPostedFromAnotherSiteIsRefused(fields: [(String, String)]) async throws {
        let response = await Self.post("/login", body: "token=reader", fields)
        #expect(response.status == 403)
        #expect(response.headers["Set-Cookie"] == nil, "no session for a cross-site sign-in")
        #expect(String(decoding: response.body, as: UTF8.self).contains("posted from another site"))
    }

    @Test(arguments: [
        [("Origin", "https://console.example:8443"), ("Sec-Fetch-Site", "same-origin")],
        [("Origin", "https://CONSOLE.example:8443")],
        // The console's own form: its pages' no-referrer policy makes the browser send `Origin: null`.
        [("Origin", "null"), ("Sec-Fetch-Site", "same-origin")],
        [],
    ])
    func aSignInFromTheConsoleOrACommandLineClientWorks(fields: [(String, String)]) async throws {
        let response = await Self.post("/login", body: "token=reader", fields)
        #expect(response.status == 303)
        #expect(response.headers["Set-Cookie"]?.hasPrefix("\(ConsoleCredentials.cookieName)=reader;") == true)
    }

    @Test func theAPIAnswersACrossSitePostInJSON() async throws {
        let response = await Self.post("/api/verifications", body: #"{"image":"nginx"}"#, [("Origin", "https://evil.example"), ("Authorization", "Bearer reader")])
        #expect(response.status == 403)
        #expect(String(decoding: response.body, as: UTF8.self).contains(#""error""#))
    }
}
