import Foundation
import SignetHTTPClient
import SignetRegistry
import SignetTUF

/// Fetches Notary v1 metadata over HTTPS (Notary server API, `GET
/// /v2/<gun>/_trust/tuf/<role>.json`) through SignetHTTPClient (libcurl on a thread of its own),
/// authenticating as Notary's clients do: a server behind token authentication answers 401 with
/// `WWW-Authenticate: Bearer realm=...,service=...`, and the registry client's
/// ``TokenAuthenticator`` fetches a token for scope `repository:<gun>:pull` (Docker registry
/// token authentication specification) with the credential for the server's host: the calling
/// task's ``RequestCredentials`` (the pod's pull secrets) first, then the configured
/// ``RegistryCredentialStore``, as for registries. A server that challenges with Basic gets the
/// same credential.
public final class NotaryHTTPFetcher: TUFFetcher {
    /// Transport settings: the CA bundle the server's certificate chains to (the system store
    /// when nil), how long one file may take (connection and token included), the user agent.
    public typealias Configuration = HTTPTUFFetcher.Configuration

    private let client: HTTPClient
    private let configuration: Configuration
    private let authenticator: TokenAuthenticator
    private let credentials: RegistryCredentialStore

    /// `authenticator` may be shared with other fetchers (tokens are kept per server, scope and
    /// credential); `credentials` are the deployment's own, used when the task has none.
    public init(
        configuration: Configuration = Configuration(requestTimeout: .seconds(10), userAgent: "signet-notary"),
        authenticator: TokenAuthenticator = TokenAuthenticator(),
        credentials: RegistryCredentialStore = RegistryCredentialStore()
    ) throws(TUFError) {
        self.configuration = configuration
        self.authenticator = authenticator
        self.credentials = credentials
        client = try HTTPTUFFetcher.makeClient(configuration)
    }

    /// Stops the transfer thread.
    public func shutdown() { client.shutdown() }

    public func fetch(_ url: String, maximumLength: Int) async throws(TUFError) -> [UInt8]? {
        guard let components = URLComponents(string: url), let host = components.host, let scheme = components.scheme?.lowercased() else {
            throw TUFError(.fetchFailed, "\(url) is not a URL")
        }
        let serverName = components.port.map { "\(host):\($0)" } ?? host
        let server = TokenAuthenticator.Server(name: serverName, allowsPlainHTTPRealm: scheme == "http")
        let scope = Self.scope(ofPath: components.path)
        let deadline = ContinuousClock.now + configuration.requestTimeout
        let credential: RegistryCredential?
        let gun = Self.gun(ofPath: components.path)
        if let fromTask = await RequestCredentials.credential(for: serverName, repository: gun) {
            credential = fromTask
        } else {
            credential = credentials.credential(for: serverName, repository: gun)
        }
        let client = self.client
        let exchange: TokenAuthenticator.Exchange = { tokenURL, headers, deadline in
            let response = try await client.send(
                method: "GET", url: tokenURL, headers: headers.map { (name: $0.0, value: $0.1) }, maximumResponseBytes: 1 << 20, deadline: deadline)
            return (response.status, response.body)
        }
        do {
            var answered = false
            while true {
                let authorization = try await authenticator.authorization(
                    for: server, scope: scope, credential: credential, deadline: deadline, exchange: exchange)
                let response = try await client.send(
                    method: "GET", url: url, headers: authorization.map { [(name: "Authorization", value: $0)] } ?? [],
                    maximumResponseBytes: maximumLength, deadline: deadline)
                if response.status == 401 && !answered {
                    answered = true
                    let challenges = response.headers.filter { $0.name == "www-authenticate" }.map(\.value)
                    if try await authenticator.answer(
                        challenges: challenges, server: server, scope: scope, credential: credential, sent: authorization,
                        deadline: deadline, exchange: exchange) {
                        continue
                    }
                }
                switch response.status {
                case 200: return response.body
                case 404: return nil
                case 403:
                    // Notary's server answers a repository it has no data for with 404; a 403 is
                    // a refusal of the credential (a token without pull on the GUN), which read as
                    // "no trust data" sent the on-call engineer looking for a signing problem.
                    throw TUFError(
                        .fetchFailed,
                        "\(url): HTTP 403, " + (credential.map { "\($0.username) may not read \(gun)" } ?? "anonymous access to \(gun) is refused"),
                        refusedCredentials: true)
                case 401:
                    throw TUFError(
                        .fetchFailed,
                        "\(url): HTTP 401, " + (credential.map { "the credentials of \($0.username) were refused" } ?? "no credentials for \(serverName)"),
                        refusedCredentials: true)
                case 429, 502, 503, 504: throw TUFError(.fetchFailed, "\(url): HTTP status \(response.status)", transient: true)
                default: throw TUFError(.fetchFailed, "\(url): HTTP status \(response.status)")
                }
            }
        } catch let error as TUFError {
            throw error
        } catch let error as HTTPClient.Failure {
            if error.description.hasPrefix("response larger than") {
                throw TUFError(.lengthMismatch, "\(url) is longer than \(maximumLength) bytes")
            }
            throw TUFError(.fetchFailed, "\(url): \(error.description)", transient: !error.isRefusedAddress)
        } catch let error as RegistryError {
            // From the token service: a refused credential is met again, an unreachable one not.
            throw TUFError(
                .fetchFailed, "\(url): \(error)", transient: error.isTransient,
                refusedCredentials: error.kind == .unauthorized || error.kind == .denied)
        } catch {
            throw TUFError(.fetchFailed, "\(url): \(error)", transient: true)
        }
    }

    /// `repository:<gun>:pull` for `/v2/<gun>/_trust/tuf/<role>.json`, the scope Notary's
    /// clients ask a token for.
    static func scope(ofPath path: String) -> String {
        "repository:\(gun(ofPath: path)):pull"
    }

    /// The GUN a metadata path names (`/v2/<gun>/_trust/tuf/<role>.json`): the repository the
    /// Notary server authorises, and the one a credential keyed with a path must serve.
    static func gun(ofPath path: String) -> String {
        var gun = path.hasPrefix("/v2/") ? String(path.dropFirst(4)) : path
        if let range = gun.range(of: "/_trust/") { gun = String(gun[..<range.lowerBound]) }
        return gun
    }
}
