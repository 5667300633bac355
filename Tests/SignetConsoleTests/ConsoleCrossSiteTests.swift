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
        // Another site's form with referrerpolicy="no-referrer", from a browser without Fetch Metadata.
        [("Origin", "null")],
    ])
    func aSignInPostedFromAnotherSiteIsRefused(fields: [(String, String)]) async throws {
        let response = await Self.post("/login", body: "token=reader", fields)
        #expect(response.status == 403)
        #expect(response.headers["Set-Cookie"] == nil, "no session for a cross-site sign-in")
        #expect(String(decoding: response.body, as: UTF8.self).contains("posted from another site"))
        // The console's pages make the browser send their origin with their own forms.
        #expect(response.headers["Referrer-Policy"] == "same-origin")
    }

    @Test(arguments: [
        [("Origin", "https://console.example:8443"), ("Sec-Fetch-Site", "same-origin")],
        [("Origin", "https://CONSOLE.example:8443")],
        // A browser with Fetch Metadata that sends `Origin: null` for a form of the console's own.
        [("Origin", "null"), ("Sec-Fetch-Site", "same-origin")],
        // Behind an ingress that rewrites Host: the browser says same-origin, which decides.
        [("Origin", "https://console.public.example"), ("Sec-Fetch-Site", "same-origin")],
        [],
    ])
    func aSignInFromTheConsoleOrACommandLineClientWorks(fields: [(String, String)]) async throws {
        let response = await Self.post("/login", body: "token=reader", fields)
        #expect(response.status == 303)
        #expect(response.headers["Set-Cookie"]?.hasPrefix("\(ConsoleCredentials.cookieName)=reader;") == true)
    }

    /// The right a request needs is decided on its path and the page it reaches on the path's
    /// segments: another spelling of a page that starts verifications (a trailing slash, doubled
    /// or dot segments) is no page at all, never that page under the read right.
    @Test(arguments: ["/verify/", "//verify", "/verify//", "/./verify", "/api/verifications/", "/api//verifications", "//api/verifications",
                      "/api/./verifications", "/api/x/../verifications"])
    func anotherSpellingOfAVerifyPathIsNoPage(path: String) async throws {
        let response = await Self.post(path, body: #"{"image":"nginx"}"#, [("Authorization", "Bearer reader")])
        #expect(response.status == 404, "\(path): \(response.status)")
        let form = await Self.post(path, body: "image=nginx", [("Authorization", "Bearer reader"), ("Origin", "https://console.example:8443")])
        #expect(form.status == 404, "\(path): \(form.status)")
        // The right spelling asks for the verify right, which the reader lacks.
        let canonical = path.hasPrefix("/api") || path.hasPrefix("//api") ? "/api/verifications" : "/verify"
        #expect(await Self.post(canonical, body: #"{"image":"nginx"}"#, [("Authorization", "Bearer reader")]).status == 403)
    }

    /// A verification as if in a namespace uses that namespace's pull secrets and exceptions:
    /// it needs the right to create Pods there, and a namespace that is no namespace name (one
    /// that would reach other API paths) is refused before anything is asked.
    @Test func verifyingInANamespaceNeedsTheRightToCreatePodsThere() async throws {
        let json = [("Authorization", "Bearer verifier")]
        let allowed = await Self.post("/api/verifications", body: #"{"image":"nginx","namespace":"team"}"#, json)
        #expect(allowed.status == 200, "\(String(decoding: allowed.body, as: UTF8.self))")
        #expect(await Self.post("/api/verifications", body: #"{"image":"nginx"}"#, json).status == 200)
        let elsewhere = await Self.post("/api/verifications", body: #"{"image":"nginx","namespace":"payments"}"#, json)
        #expect(elsewhere.status == 403)
        #expect(String(decoding: elsewhere.body, as: UTF8.self).contains("may not create pods in namespace payments"))
        for name in ["x/../../apis", "Payments", "-a", "a b", "a%2Fb"] {
            let refused = await Self.post("/api/verifications", body: #"{"image":"nginx","namespace":"\#(name)"}"#, json)
            #expect(refused.status == 400, "\(name)")
            #expect(String(decoding: refused.body, as: UTF8.self).contains("not a namespace name"), "\(name)")
        }
        let form = await Self.post("/verify", body: "image=nginx&namespace=payments", json)
        #expect(form.status == 403)
        #expect(String(decoding: form.body, as: UTF8.self).contains("may not create pods in namespace payments"))
    }

    @Test func theAPIAnswersACrossSitePostInJSON() async throws {
        let response = await Self.post("/api/verifications", body: #"{"image":"nginx"}"#, [("Origin", "https://evil.example"), ("Authorization", "Bearer reader")])
        #expect(response.status == 403)
        #expect(String(decoding: response.body, as: UTF8.self).contains(#""error""#))
    }
}
