import Foundation
import NIOConcurrencyHelpers
@testable import SignetRegistry
import SignetTestSupport
import Testing

/// Basic and bearer authentication against a real distribution registry.
@Suite
struct RegistryAuthenticationTests {
    static func makeClient(_ host: String, _ credentials: RegistryCredentialStore) throws -> RegistryClient {
        try RegistryClient(
            configuration: RegistryClientConfiguration(allowInsecureRegistries: [host]), credentials: credentials)
    }

    /// A 401 that comes back from where a redirect led (a storage host, a proxy's upstream: any
    /// host but the registry) is not the registry's challenge: answering it stored its realm as
    /// the registry's for an hour, and every later request to the registry fetched its token
    /// there, sending the registry's credentials (other tenants' pull secrets, signet's own).
    @Test func aChallengeFromWhereARedirectLedIsNotAnswered() async throws {
        typealias Response = RegistryStubServer.Response
        let realm = try await RegistryStubServer.start(routes: [:])
        let elsewhere = try await RegistryStubServer.start(routes: [
            "HEAD /v2/lure": [Response(status: 401, headers: ["WWW-Authenticate": #"Bearer realm="http://\#(realm.host)/token",service="evil""#])],
            "GET /v2/lure": [Response(status: 401, headers: ["WWW-Authenticate": #"Bearer realm="http://\#(realm.host)/token",service="evil""#])],
        ])
        let toElsewhere = Response(status: 307, headers: ["Location": "http://\(elsewhere.host)/v2/lure"])
        let registry = try await RegistryStubServer.start(routes: [
            "HEAD /v2/team/app/manifests/v1": [toElsewhere], "GET /v2/team/app/manifests/v1": [toElsewhere],
        ])
        defer {
            registry.stop()
            elsewhere.stop()
            realm.stop()
        }
        let credentials = RegistryCredentialStore([registry.host: RegistryCredential(username: "tenant", password: "pull-secret")])
        let client = try RegistryClient(
            configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host, elsewhere.host]), credentials: credentials)
        defer { client.shutdown() }
        for repository in ["team/app:v1", "team/other:v1"] {
            let reference = try TestImages.reference("\(registry.host)/\(repository)")
            await #expect(throws: RegistryError.self) { try await client.resolve(reference, deadline: TestImages.deadline()) }
        }
        #expect(elsewhere.requests.contains { $0.hasSuffix("/v2/lure") }, "the redirect was followed: \(elsewhere.requests)")
        #expect(realm.requests.isEmpty, "a token was asked from the redirect target's realm: \(realm.requests)")
    }

    @Test func htpasswdBasicAuthentication() async throws {
        let registry = try await RegistryFixture.start(authentication: .htpasswd(username: "alice", password: "s3cret"))
        let good = try Self.makeClient(registry.host, RegistryCredentialStore([registry.host: RegistryCredential(username: "alice", password: "s3cret")]))
        defer { good.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/app:v1")
        let pushed = try await TestImages.pushImage(client: good, reference: reference)

        // The first call learns the Basic challenge; later calls send credentials up front.
        let (resolved, requests) = try await RegistryRequestCounter.counting {
            try await good.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(resolved.digest == pushed.digest)
        #expect(requests == 1)

        let wrong = try Self.makeClient(registry.host, RegistryCredentialStore([registry.host: RegistryCredential(username: "alice", password: "wrong")]))
        defer { wrong.shutdown() }
        let error = await #expect(throws: RegistryError.self) {
            try await wrong.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(error?.kind == .unauthorized)
        #expect(error?.description.contains(registry.host) == true)

        let anonymous = try Self.makeClient(registry.host, RegistryCredentialStore())
        defer { anonymous.shutdown() }
        let anonymousError = await #expect(throws: RegistryError.self) {
            try await anonymous.manifest(reference, deadline: TestImages.deadline())
        }
        #expect(anonymousError?.kind == .unauthorized)
        #expect(anonymousError?.description.contains(registry.host) == true)

        // Sent without credentials because the source withheld them: the 401 says why.
        var withheld = RegistryCredentialStore()
        withheld.withheld = "the pods of namespace flood asked for more API reads"
        let unread = await #expect(throws: RegistryError.self) {
            try await RequestCredentials.using(withheld) { try await anonymous.manifest(reference, deadline: TestImages.deadline()) }
        }
        #expect(unread?.description.contains("no credentials for this registry: the pods of namespace flood") == true, "\(unread?.description ?? "")")
    }

    @Test func bearerTokenAuthenticationWithCachedTokens() async throws {
        let issuer = try await TokenIssuer.start(username: "bob", password: "hunter2")
        let registry = try await RegistryFixture.start(authentication: .token(issuer))
        let config = """
            {"auths":{"\(registry.host)":{"auth":"\(Data("bob:hunter2".utf8).base64EncodedString())"}}}
            """
        let credentials = try RegistryCredentialStore(dockerConfigJSON: Array(config.utf8))
        let client = try Self.makeClient(registry.host, credentials)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/app:v1")
        let pushed = try await TestImages.pushImage(client: client, reference: reference)

        // The pull-and-push token from the push serves the pull: one request.
        let (first, firstRequests) = try await RegistryRequestCounter.counting {
            try await client.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(first.digest == pushed.digest)
        #expect(firstRequests == 1)

        // A new client: HEAD (401 with the challenge), token, HEAD again; then the cached token.
        let fresh = try Self.makeClient(registry.host, credentials)
        defer { fresh.shutdown() }
        let (cold, coldRequests) = try await RegistryRequestCounter.counting {
            try await fresh.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(cold.digest == pushed.digest)
        #expect(coldRequests == 3)
        let issuedBefore = issuer.issuedCount
        let (second, secondRequests) = try await RegistryRequestCounter.counting {
            try await fresh.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(second.digest == pushed.digest)
        #expect(secondRequests == 1)
        #expect(issuer.issuedCount == issuedBefore)

        // Concurrent first calls of a new client share one token request.
        let concurrent = try Self.makeClient(registry.host, credentials)
        defer { concurrent.shutdown() }
        let issuedBeforeConcurrent = issuer.issuedCount
        let digests = try await withThrowingTaskGroup(of: ImageDigest.self) { group in
            for _ in 0..<8 {
                group.addTask { try await concurrent.resolve(reference, deadline: TestImages.deadline()).digest }
            }
            return try await group.reduce(into: Set<ImageDigest>()) { $0.insert($1) }
        }
        #expect(digests == [pushed.digest])
        #expect(issuer.issuedCount - issuedBeforeConcurrent == 1)

        let fetched = try await client.manifest(reference, deadline: TestImages.deadline())
        #expect(fetched.descriptor.digest == pushed.digest)
    }

    @Test func bearerTokenWithWrongCredentialsIsUnauthorizedNamingTheRegistry() async throws {
        let issuer = try await TokenIssuer.start(username: "bob", password: "hunter2")
        let registry = try await RegistryFixture.start(authentication: .token(issuer))
        let secretData = [
            ".dockerconfigjson": Data("""
                {"auths":{"http://\(registry.host)/v2/":{"username":"bob","password":"nope"}}}
                """.utf8).base64EncodedString()
        ]
        let client = try Self.makeClient(registry.host, try RegistryCredentialStore(kubernetesSecretData: secretData))
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/app:v1")
        let error = await #expect(throws: RegistryError.self) {
            try await client.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(error?.kind == .unauthorized)
        #expect(error?.description.contains(registry.host) == true)
    }

    /// Credentials of one piece of work (a pod's pull secrets) given to a client that has none of
    /// its own: they authenticate that work only, and the token they earned is not reused
    /// without them or with another credential.
    @Test func requestCredentialsBearerTokensStayWithTheirCredential() async throws {
        let issuer = try await TokenIssuer.start(username: "bob", password: "hunter2")
        let registry = try await RegistryFixture.start(authentication: .token(issuer))
        let bob = RegistryCredentialStore([registry.host: RegistryCredential(username: "bob", password: "hunter2")])
        let pusher = try Self.makeClient(registry.host, bob)
        defer { pusher.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/private/app:v1")
        let pushed = try await TestImages.pushImage(client: pusher, reference: reference)

        let client = try Self.makeClient(registry.host, RegistryCredentialStore())
        defer { client.shutdown() }
        let anonymous = await #expect(throws: RegistryError.self) {
            try await client.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(anonymous?.kind == .unauthorized)
        #expect(anonymous?.description.contains("no credentials for this registry") == true, "\(anonymous?.description ?? "")")

        let issuedBefore = issuer.issuedCount
        let resolved = try await RequestCredentials.using(bob) {
            try await client.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(resolved.digest == pushed.digest)
        #expect(issuer.issuedCount == issuedBefore + 1)
        // The cached token serves the same credential again.
        let again = try await RequestCredentials.using(bob) {
            try await client.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(again.digest == pushed.digest)
        #expect(issuer.issuedCount == issuedBefore + 1)

        // Without the credential, or with another one, bob's token is not used.
        let afterwards = await #expect(throws: RegistryError.self) {
            try await client.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(afterwards?.kind == .unauthorized)
        let mallory = RegistryCredentialStore([registry.host: RegistryCredential(username: "bob", password: "guessed")])
        let impostor = await #expect(throws: RegistryError.self) {
            try await RequestCredentials.using(mallory) {
                try await client.resolve(reference, deadline: TestImages.deadline())
            }
        }
        #expect(impostor?.kind == .unauthorized)
        #expect(impostor?.description.contains("refused the credentials of bob") == true, "\(impostor?.description ?? "")")

        // A source whose credentials were not all read (a namespace that spent its share of
        // secret reads): the refusal says so, not only that there were none; when a credential
        // was sent and refused, beside it (the right one may be among those not read).
        var withheld = RegistryCredentialStore()
        withheld.withheld = "the pods of namespace flood asked for more API reads"
        let unread = await #expect(throws: RegistryError.self) {
            try await RequestCredentials.using(withheld) {
                try await client.resolve(reference, deadline: TestImages.deadline())
            }
        }
        #expect(unread?.kind == .unauthorized)
        #expect(unread?.description.contains("no credentials for this registry: the pods of namespace flood asked for more API reads") == true,
                "\(unread?.description ?? "")")
        var partial = mallory.merging(RegistryCredentialStore())
        partial.withheld = withheld.withheld
        let sent = await #expect(throws: RegistryError.self) {
            try await RequestCredentials.using(partial) {
                try await client.resolve(reference, deadline: TestImages.deadline())
            }
        }
        #expect(sent?.description.contains("refused the credentials of bob; the pods of namespace flood") == true, "\(sent?.description ?? "")")
    }

    /// The token cache is bounded: a client that fetched tokens for more repositories than it
    /// keeps drops the one stored longest ago, so the first repository's token is fetched again and
    /// the newest is still served from the cache.
    @Test func bearerTokenCacheIsBounded() async throws {
        let issuer = try await TokenIssuer.start(username: "bob", password: "hunter2")
        let registry = try await RegistryFixture.start(authentication: .token(issuer))
        let bob = RegistryCredentialStore([registry.host: RegistryCredential(username: "bob", password: "hunter2")])
        let client = try RegistryClient(
            configuration: RegistryClientConfiguration(
                allowInsecureRegistries: [registry.host], tokenCacheLimits: TokenAuthenticator.Limits(tokens: 4, servers: 4)),
            credentials: bob)
        defer { client.shutdown() }
        /// Resolves a tag that does not exist: the token flow runs, the registry answers 404.
        func resolve(_ repository: String) async throws {
            let reference = try TestImages.reference("\(registry.host)/tenant/\(repository):v1")
            let error = await #expect(throws: RegistryError.self) { try await client.resolve(reference, deadline: TestImages.deadline()) }
            #expect(error?.kind == .notFound, "\(error?.description ?? "")")
        }
        try await resolve("r0")
        let first = issuer.issuedCount
        for index in 1..<10 {
            try await resolve("r\(index)")
        }
        #expect(issuer.issuedCount == first + 9, "one token per repository")
        let before = issuer.issuedCount
        try await resolve("r9")
        #expect(issuer.issuedCount == before, "the newest token is kept")
        try await resolve("r0")
        #expect(issuer.issuedCount == before + 1, "the oldest token made room and is fetched again")
    }

    /// A token server that says its tokens live ten years: they are kept an hour at most, and
    /// when the cache is full they make room in the order they were stored, as every other
    /// server's do. The table dropped the soonest to expire, so a server answering years kept its
    /// entries while the five-minute tokens of real registries pushed each other out.
    @Test func tokensThatClaimYearsNeitherLiveLongerNorStayLonger() async throws {
        #expect(TokenAuthenticator.keptLifetime(expiresIn: 315_360_000, default: .seconds(60)) == .seconds(3_590))
        #expect(TokenAuthenticator.keptLifetime(expiresIn: 300, default: .seconds(60)) == .seconds(290))
        #expect(TokenAuthenticator.keptLifetime(expiresIn: nil, default: .seconds(60)) == .seconds(54))
        #expect(TokenAuthenticator.keptLifetime(expiresIn: -5, default: .seconds(60)) == .zero)
        #expect(TokenAuthenticator.keptLifetime(expiresIn: Int.max, default: .seconds(60)) == .seconds(3_590))

        let authenticator = TokenAuthenticator(limits: TokenAuthenticator.Limits(tokens: 4, servers: 4))
        let issued = NIOLockedValueBox(0)
        func exchange(expiresIn: Int) -> TokenAuthenticator.Exchange {
            { _, _, _ in
                let count = issued.withLockedValue { $0 += 1; return $0 }
                return (200, Array(#"{"token":"t\#(count)","expires_in":\#(expiresIn)}"#.utf8))
            }
        }
        func fetch(_ server: String, _ repository: String, expiresIn: Int) async throws {
            let server = TokenAuthenticator.Server(name: server, allowsPlainHTTPRealm: false)
            let scope = "repository:\(repository):pull"
            let challenge = #"Bearer realm="https://\#(server.name)/token",service="\#(server.name)""#
            if try await authenticator.authorization(
                for: server, scope: scope, credential: nil, deadline: .now + .seconds(30), exchange: exchange(expiresIn: expiresIn)) == nil {
                _ = try await authenticator.answer(
                    challenges: [challenge], server: server, scope: scope, credential: nil, sent: nil,
                    deadline: .now + .seconds(30), exchange: exchange(expiresIn: expiresIn))
            }
        }
        for index in 0..<4 { try await fetch("years.example", "r\(index)", expiresIn: 315_360_000) }
        for index in 0..<4 { try await fetch("registry.example", "r\(index)", expiresIn: 300) }
        #expect(issued.withLockedValue { $0 } == 8)
        // The real registry's four tokens are all kept: asking again fetches none.
        for index in 0..<4 { try await fetch("registry.example", "r\(index)", expiresIn: 300) }
        #expect(issued.withLockedValue { $0 } == 8, "the five-minute tokens pushed each other out")
    }

    /// A token service that is busy or down (429, 502 to 504) fails transiently, as the registry
    /// itself would: a later try may get a token. A refusal or another status does not.
    @Test func aBusyTokenServiceFailsTransientlyARefusalDoesNot() async throws {
        let server = TokenAuthenticator.Server(name: "registry.example", allowsPlainHTTPRealm: false)
        let challenge = #"Bearer realm="https://auth.registry.example/token",service="registry.example""#
        for (status, transient) in [(429, true), (502, true), (503, true), (504, true), (500, false), (401, false), (403, false)] {
            let exchange: TokenAuthenticator.Exchange = { _, _, _ in (status, []) }
            do {
                _ = try await TokenAuthenticator().answer(
                    challenges: [challenge], server: server, scope: "repository:tenant/app:pull", credential: nil, sent: nil,
                    deadline: .now + .seconds(30), exchange: exchange)
                Issue.record("HTTP \(status) from the token service gave a token")
            } catch let error as RegistryError {
                #expect(error.isTransient == transient, "HTTP \(status): \(error)")
            }
        }
    }

    /// A token server that answers with enormous tokens (a mebibyte each, for every repository
    /// named): each is used for its request, none is kept; an ordinary token is kept.
    @Test func enormousTokensAreUsedButNotKept() async throws {
        let authenticator = TokenAuthenticator()
        let server = TokenAuthenticator.Server(name: "registry.example", allowsPlainHTTPRealm: false)
        let size = NIOLockedValueBox(TokenAuthenticator.maximumCachedTokenBytes + 1)
        let exchange: TokenAuthenticator.Exchange = { _, _, _ in
            let token = String(repeating: "t", count: size.withLockedValue { $0 })
            return (200, Array(#"{"token":"\#(token)","expires_in":3600}"#.utf8))
        }
        let challenge = #"Bearer realm="https://auth.registry.example/token",service="registry.example""#
        for index in 0..<20 {
            let retry = try await authenticator.answer(
                challenges: [challenge], server: server, scope: "repository:tenant/r\(index):pull", credential: nil, sent: nil,
                deadline: .now + .seconds(30), exchange: exchange)
            #expect(retry)
            let authorization = try await authenticator.authorization(
                for: server, scope: "repository:tenant/r\(index):pull", credential: nil, deadline: .now + .seconds(30), exchange: exchange)
            #expect(authorization?.utf8.count == "Bearer ".utf8.count + TokenAuthenticator.maximumCachedTokenBytes + 1)
        }
        #expect(authenticator.cachedTokenCount == 0)
        size.withLockedValue { $0 = 1_000 }
        _ = try await authenticator.answer(
            challenges: [challenge], server: server, scope: "repository:tenant/small:pull", credential: nil, sent: nil,
            deadline: .now + .seconds(30), exchange: exchange)
        #expect(authenticator.cachedTokenCount == 1)
    }

    /// The same with Basic authentication, where there is no token: the request's credential is
    /// sent with its own requests only; the client's own credential is the fallback.
    @Test func requestCredentialsWithBasicAuthenticationAndTheClientsOwnAsFallback() async throws {
        let registry = try await RegistryFixture.start(authentication: .htpasswd(username: "alice", password: "s3cret"))
        let alice = RegistryCredentialStore([registry.host: RegistryCredential(username: "alice", password: "s3cret")])
        let pusher = try Self.makeClient(registry.host, alice)
        defer { pusher.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/private/app:v1")
        let pushed = try await TestImages.pushImage(client: pusher, reference: reference)

        let client = try Self.makeClient(registry.host, RegistryCredentialStore())
        defer { client.shutdown() }
        let resolved = try await RequestCredentials.using(alice) {
            try await client.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(resolved.digest == pushed.digest)
        let afterwards = await #expect(throws: RegistryError.self) {
            try await client.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(afterwards?.kind == .unauthorized)

        // A source with nothing for this registry leaves the client's own credential in force.
        let unrelated = RegistryCredentialStore(["ghcr.io": RegistryCredential(username: "someone", password: "x")])
        let fallback = try await RequestCredentials.using(unrelated) {
            try await pusher.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(fallback.digest == pushed.digest)
        let wrong = RegistryCredentialStore([registry.host: RegistryCredential(username: "alice", password: "wrong")])
        let refused = await #expect(throws: RegistryError.self) {
            try await RequestCredentials.using(wrong) {
                try await pusher.resolve(reference, deadline: TestImages.deadline())
            }
        }
        #expect(refused?.kind == .unauthorized)
        #expect(refused?.description.contains("credentials of alice refused") == true, "\(refused?.description ?? "")")
    }

    /// A pull secret's key with a path (`HOST/private`) is sent for the repositories under it
    /// only: a pod that names another repository of the same registry does not borrow it.
    @Test func aCredentialKeyedByPathIsSentForItsRepositoriesOnly() async throws {
        let registry = try await RegistryFixture.start(authentication: .htpasswd(username: "alice", password: "s3cret"))
        let alice = RegistryCredential(username: "alice", password: "s3cret")
        let pusher = try Self.makeClient(registry.host, RegistryCredentialStore([registry.host: alice]))
        defer { pusher.shutdown() }
        let inside = try TestImages.reference("\(registry.host)/private/app:v1")
        let outside = try TestImages.reference("\(registry.host)/other/app:v1")
        let pushed = try await TestImages.pushImage(client: pusher, reference: inside)
        _ = try await TestImages.pushImage(client: pusher, reference: outside)

        let client = try Self.makeClient(registry.host, RegistryCredentialStore())
        defer { client.shutdown() }
        let scoped = RegistryCredentialStore(["\(registry.host)/private": alice])
        let resolved = try await RequestCredentials.using(scoped) { try await client.resolve(inside, deadline: TestImages.deadline()) }
        #expect(resolved.digest == pushed.digest)
        let refused = await #expect(throws: RegistryError.self) {
            try await RequestCredentials.using(scoped) { try await client.resolve(outside, deadline: TestImages.deadline()) }
        }
        #expect(refused?.kind == .unauthorized)
        #expect(refused?.description.contains("alice") == false, "\(refused?.description ?? "")")
    }
}
