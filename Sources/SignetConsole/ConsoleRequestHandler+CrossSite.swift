import Foundation
import SignetHTTP

/// Cross-site POSTs are refused before anything else runs. The session cookie is
/// `SameSite=Strict` and forms carry CSRF tokens, but neither covers the sign-in form: another
/// site could post its own token to `/login` and leave the browser signed in as that account
/// (login CSRF), so whatever the user then verifies or reads is under the other account.
/// A browser says where a POST comes from: Fetch Metadata's `Sec-Fetch-Site` (W3C Fetch
/// Metadata Request Headers §2.1) and the `Origin` header (RFC 6454 §7, Fetch §3.1); clients
/// that are not browsers (curl, scripts with a bearer token) send neither and are not affected.
extension ConsoleRequestHandler {
    /// Whether a browser sent `request` from another site. A browser with Fetch Metadata says so
    /// itself: `Sec-Fetch-Site` `cross-site` or `same-site` (another origin of the registrable
    /// domain) is, `same-origin` or `none` (typed, bookmarked) is not, whatever `Origin` and `Host`
    /// say (an ingress or proxy may rewrite `Host`). Without it, `Origin` decides: one that names
    /// another origin than this request's `Host` is, and so is `Origin: null` (another site's form
    /// with `referrerpolicy="no-referrer"` sends exactly that, Fetch §3.1, "serializing a request
    /// origin"; the console's pages are served with `Referrer-Policy: same-origin`, so its own
    /// forms send their origin). Without either header it is not (curl, scripts).
    static func isCrossSite(_ request: HTTPRequest) -> Bool {
        let site = request.headers["Sec-Fetch-Site"]?.trimmingCharacters(in: .whitespaces).lowercased()
        if site == "cross-site" || site == "same-site" { return true }
        if site == "same-origin" || site == "none" { return false }
        guard let origin = request.headers["Origin"]?.trimmingCharacters(in: .whitespaces) else { return false }
        if origin == "null" { return true }
        guard let host = request.headers["Host"]?.trimmingCharacters(in: .whitespaces).lowercased(),
              let components = URLComponents(string: origin), let originHost = components.host, !originHost.isEmpty else { return true }
        let bracketed = originHost.contains(":") && !originHost.hasPrefix("[") ? "[\(originHost)]" : originHost
        let authority = (bracketed + (components.port.map { ":\($0)" } ?? "")).lowercased()
        return authority != host
    }

    /// The 403 a cross-site POST gets (a page for forms, JSON under `/api/`).
    static func crossSiteRefusal(_ request: HTTPRequest) -> HTTPResponse {
        let why = "a form posted from another site is refused; open the console itself and submit it there"
        return request.path.hasPrefix("/api/")
            ? json(403, ["error": why])
            : page(403, title: "Forbidden", active: "", user: nil, body: "<p class=\"error\" id=\"refusal\">\(HTML.escape(why))</p>")
    }
}
