import Foundation
import SignetCrypto
import SignetHTTP

/// Where a console request's bearer token comes from, and the CSRF token tied to it.
///
/// A token arrives in `Authorization: Bearer` (RFC 6750 §2.1; API clients, `kubectl`-minted
/// tokens) or in the session cookie the login form sets (RFC 6265: `HttpOnly`, `Secure`,
/// `SameSite=Strict`, path `/`). A form POST that rides on the cookie must carry the CSRF token
/// derived from it (HMAC-SHA256 under a key made when signet starts, RFC 2104), so another site
/// cannot make a logged-in browser run verifications; a request with the header needs none,
/// since browsers never add it by themselves.
public struct ConsoleCredentials: Sendable {
    /// The session cookie's name. The `__Host-` prefix (RFC 6265bis §4.1.3.2) makes browsers
    /// accept it only from this host, `Secure`, with `Path=/` and no `Domain`: a page on a
    /// sibling subdomain cannot plant a session of its own choosing (a login CSRF).
    public static let cookieName = "__Host-signet-console-token"

    private let key: [UInt8]

    /// `key`: the CSRF key; random by default (sessions end when signet restarts).
    public init(key: [UInt8]? = nil) {
        if let key {
            self.key = key
        } else {
            var generator = SystemRandomNumberGenerator()
            self.key = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        }
    }

    /// The token of `request` and whether it came from the cookie.
    public func token(of request: HTTPRequest) -> (token: String, fromCookie: Bool)? {
        if request.headers["Authorization"] != nil {
            return Self.bearerToken(of: request).map { ($0, false) }
        }
        guard let cookie = Self.cookie(named: Self.cookieName, in: request), !cookie.isEmpty else { return nil }
        return (cookie, true)
    }

    /// The token of `Authorization: Bearer <token>` (RFC 6750 section 2.1, the scheme's name in
    /// any case); nil without one, or with another scheme or an empty token.
    public static func bearerToken(of request: HTTPRequest) -> String? {
        guard let authorization = request.headers["Authorization"] else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    /// The CSRF token a form of the session holding `token` must send back.
    public func csrfToken(for token: String) -> String {
        Hex.encode(HMACSHA256.authenticate(Array("csrf:".utf8) + Array(token.utf8), key: key))
    }

    /// Whether `presented` is the CSRF token for `token`, compared in constant time.
    public func isValidCSRF(_ presented: String?, for token: String) -> Bool {
        guard let presented else { return false }
        let expected = Array(csrfToken(for: token).utf8)
        let given = Array(presented.utf8)
        guard expected.count == given.count else { return false }
        var difference: UInt8 = 0
        for index in expected.indices { difference |= expected[index] ^ given[index] }
        return difference == 0
    }

    /// `Set-Cookie` for a session holding `token` (RFC 6265 §4.1).
    public static func sessionCookie(_ token: String, maxAgeSeconds: Int) -> String {
        "\(cookieName)=\(token); Path=/; Max-Age=\(maxAgeSeconds); HttpOnly; Secure; SameSite=Strict"
    }

    /// `Set-Cookie` that ends the session.
    public static let clearedCookie = "\(cookieName)=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"

    /// The value of cookie `name` in the request's `Cookie` fields (RFC 6265 §5.4).
    static func cookie(named name: String, in request: HTTPRequest) -> String? {
        for value in request.headers.values(for: "Cookie") {
            for pair in value.split(separator: ";") {
                let trimmed = pair.trimmingCharacters(in: .whitespaces)
                guard let equals = trimmed.firstIndex(of: "=") else { continue }
                if trimmed[..<equals] == name { return String(trimmed[trimmed.index(after: equals)...]) }
            }
        }
        return nil
    }
}

/// HMAC with SHA-256 (RFC 2104, block size 64 bytes).
enum HMACSHA256 {
    static func authenticate(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        var block = key.count > 64 ? DigestAlgorithm.sha256.hash(key) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        let inner = DigestAlgorithm.sha256.hash(block.map { $0 ^ 0x36 } + message)
        return DigestAlgorithm.sha256.hash(block.map { $0 ^ 0x5c } + inner)
    }
}
