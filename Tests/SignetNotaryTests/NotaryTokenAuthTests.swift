import Foundation
import SignetCrypto
@testable import SignetNotary
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// Debian's notary-server configured with `auth: token` against the token service the registry
/// tests use (over HTTPS, as a realm for an HTTPS server must be): Notary metadata is fetched
/// through the registry client's ``TokenAuthenticator`` with the credentials signet has for the
/// server's host, from its own configuration or from the pod's pull secrets; without credentials,
/// or with refused ones, the verification cannot find out and fails closed.
@Suite("Notary v1 behind token authentication", .serialized)
struct NotaryTokenAuthTests {
    /// Clients whose fetches (each a token exchange and a metadata request) may take as long as a
    /// sanitized build of the whole suite on two busy cores needs; the default 10 s ran out there.
    static let patient = NotaryRepositoryClient.Configuration(requestTimeout: TestBudget.seconds(120))

    /// A pull secret holding `credential` for `host` only.
    struct PullSecret: RegistryCredentialSource {
        let host: String
        let credential: RegistryCredential
        func credential(for registry: String, repository: String?) async -> RegistryCredential? { registry == host ? credential : nil }
        var identity: String? { "default/notary-\(credential.username)-\(credential.password)" }
    }

    /// Passed, or the reason it did not (a thrown error's description when the engine threw).
    func outcome(_ world: NotaryWorld, _ client: NotaryRepositoryClient, secret: PullSecret? = nil) async throws -> (passed: Bool, reason: String) {
        let policy = try await world.authority()
        do {
            let result = try await RequestCredentials.using(secret) {
                try await world.verify("\(world.gun):v1", policy, notaryClient: client)
            }
            return (result.passed, result.reason)
        } catch {
            return (false, "\(error)")
        }
    }

    @Test func tokenFlowWithConfiguredCredentialsAndPullSecrets() async throws {
        let world = try await NotaryWorld.start(tokenAuthentication: (username: "notary-reader", password: "s3cret"))
        defer { world.stop() }
        let issuer = try #require(world.notary.tokenIssuer)
        let right = RegistryCredential(username: issuer.username, password: issuer.password)

        // The server really asks: anonymous reads are refused with a Bearer challenge.
        let anonymous = try await outcome(world, NotaryRepositoryClient(configuration: Self.patient))
        #expect(!anonymous.passed)
        #expect(anonymous.reason.contains("no credentials"), "\(anonymous.reason)")
        #expect(anonymous.reason.contains(world.notaryHost), "names the Notary server: \(anonymous.reason)")

        // signet's own credentials for the Notary host (a docker config.json entry).
        let before = issuer.issuedCount
        let configured = NotaryRepositoryClient(configuration: Self.patient, credentials: world.notaryCredentials)
        let allowed = try await outcome(world, configured)
        #expect(allowed.passed, "\(allowed.reason)")
        #expect(issuer.issuedCount > before, "a token was fetched from the realm")
        let afterFirst = issuer.issuedCount
        #expect(afterFirst - before <= 2, "one token (per fetcher) serves every role: \(afterFirst - before)")

        // The pod's pull secret, with nothing configured.
        let shared = NotaryRepositoryClient(configuration: Self.patient)
        let viaSecret = try await outcome(world, shared, secret: PullSecret(host: world.notaryHost, credential: right))
        #expect(viaSecret.passed, "\(viaSecret.reason)")

        // Refused credentials, on the same client: neither the collection verified for the first
        // secret nor the token it earned serves another; the token service says no, and the deny
        // names the user.
        let wrong = try await outcome(
            world, shared, secret: PullSecret(host: world.notaryHost, credential: RegistryCredential(username: issuer.username, password: "wrong")))
        #expect(!wrong.passed)
        #expect(wrong.reason.contains("token service refused the credentials of \(issuer.username)"), "\(wrong.reason)")
    }

    @Test("the token scope names the GUN, as Notary clients ask")
    func scope() {
        #expect(NotaryHTTPFetcher.scope(ofPath: "/v2/127.0.0.1:5000/team/app/_trust/tuf/targets/releases.json") == "repository:127.0.0.1:5000/team/app:pull")
        // A credential keyed with a path on the Notary server serves the GUNs under it.
        let gun = NotaryHTTPFetcher.gun(ofPath: "/v2/127.0.0.1:5000/team/app/_trust/tuf/root.json")
        #expect(gun == "127.0.0.1:5000/team/app")
        let scoped = RegistryCredentialStore(["notary.example.com/127.0.0.1:5000/team": RegistryCredential(username: "team", password: "pw")])
        #expect(scoped.credential(for: "notary.example.com", repository: gun)?.username == "team")
        #expect(scoped.credential(for: "notary.example.com", repository: "127.0.0.1:5000/other/app") == nil)
    }
}
