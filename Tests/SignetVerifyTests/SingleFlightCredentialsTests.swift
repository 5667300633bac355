import Foundation
import NIOConcurrencyHelpers
import SignetPolicy
import SignetTestSupport
import SignetVerify
import Testing

@testable import SignetRegistry

/// Concurrent verifications of one image share one computation, but not the refusal of one
/// admission's credentials: an admission with other credentials that joined it tries again.
@Suite("Single flight and credentials", .serialized)
struct SingleFlightCredentialsTests {
    /// Credentials by name; the identity is the name, so two sources of one name share.
    struct NamedCredentials: RegistryCredentialSource {
        let name: String
        func credential(for registry: String, repository: String?) async -> RegistryCredential? { nil }
        var identity: String? { name }
    }

    /// Refuses (as a registry answering 401) unless the task's credentials are `team`; holds the
    /// first call until opened, so the others join it.
    final class CredentialCheckingVerifier: SignatureVerifier, Sendable {
        let calls = NIOLockedValueBox<[String]>([])
        private let gate: AsyncStream<Void>
        private let release: AsyncStream<Void>.Continuation

        init() {
            (gate, release) = AsyncStream<Void>.makeStream()
        }

        var format: SignatureFormat { SignatureFormat("test") }
        var callers: [String] { calls.withLockedValue { $0 } }
        func handles(_ authority: CompiledAuthority) -> Bool { true }
        func open() { release.finish() }

        func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
            let caller: String
            switch RequestCredentials.identity {
            case .source(let name): caller = name
            case .client: caller = "client"
            case .unshared: caller = "unshared"
            }
            let first = calls.withLockedValue { calls -> Bool in
                calls.append(caller)
                return calls.count == 1
            }
            if first { for await _ in gate {} }
            guard caller == "team" else {
                throw VerificationError(RegistryError(.unauthorized(registry: "registry.invalid", detail: "no access for \(caller)")))
            }
            return VerificationResult(
                image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
                format: format, passed: true, reason: "signed")
        }
    }

    // The limit catches a hang; on a machine busy with builds the test has taken minutes.
    @Test(.timeLimit(.minutes(5)))
    func aJoinerWithOtherCredentialsIsNotHandedTheRefusalButOneWithTheSameIs() async throws {
        let verifier = CredentialCheckingVerifier()
        let client = try RegistryClient()
        defer { client.shutdown() }
        let engine = VerificationEngine(registry: client, verifiers: [verifier])
        let authority = keyAuthority([try trustedKey(file: ConnaisseurVectors.keyFile("alice"))])
        let image = try ImageReference(parsing: "registry.invalid/app@sha256:" + String(repeating: "d", count: 64))

        @Sendable func verify(as name: String) async -> String {
            await RequestCredentials.using(NamedCredentials(name: name)) {
                do {
                    let result = try await engine.verify(image: image, authority: authority, policy: "p", revision: "1", deadline: deadline())
                    return "\(name): \(result.passed ? "passed" : "failed") (\(result.cache.map { "\($0)" } ?? "-"))"
                } catch {
                    return "\(name): error"
                }
            }
        }

        let answers = await withTaskGroup(of: String.self) { group in
            group.addTask { await verify(as: "other") }
            // The first verification (for `other`) is held; the others join it.
            while verifier.callers.isEmpty { await Task.yield() }
            group.addTask { await verify(as: "other") }
            group.addTask { await verify(as: "team") }
            for _ in 0..<200 { await Task.yield() }
            verifier.open()
            var answers: [String] = []
            for await answer in group { answers.append(answer) }
            return answers.sorted()
        }
        // `other` shares its own refusal once; `team` verifies with its own credentials.
        #expect(answers == ["other: error", "other: error", "team: passed (miss)"])
        #expect(verifier.callers.sorted() == ["other", "team"])
        // What `team` verified is cached for everyone.
        #expect(await verify(as: "other") == "other: passed (hit)")
    }

    /// Policy `p`: a key authority for every image of `registry.invalid`.
    static func policies() throws -> PolicySet {
        let yaml = """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata: {name: p}
            spec:
              images: [{glob: "registry.invalid/**"}]
              authorities:
                - name: keys
                  key:
                    publicKeys: [{file: \(ConnaisseurVectors.keyFile("alice"))}]
            """
        return try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(yaml.utf8))])
    }

    /// Finds no signature unless the task's credentials are `team` (as a registry that answers
    /// "not found" to credentials that may not see a private repository).
    struct SeenOnlyByTeamVerifier: SignatureVerifier {
        let calls = NIOLockedValueBox<[String]>([])
        /// The prefix of the credentials' identity that sees the repository.
        var team = "team"
        var format: SignatureFormat { SignatureFormat("test") }
        func handles(_ authority: CompiledAuthority) -> Bool { true }

        func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
            let caller: String
            if case .source(let name) = RequestCredentials.identity { caller = name } else { caller = "client" }
            calls.withLockedValue { $0.append(caller) }
            let seen = caller == team || (team.hasSuffix("\u{0}") && caller.hasPrefix(team))
            return VerificationResult(
                image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
                format: format, passed: seen, reason: seen ? "signed" : "no cosign signatures", failure: seen ? nil : .noSignatures)
        }
    }

    /// A failure found with one admission's credentials is not handed to another's: naming a
    /// private image with credentials of one's own must not get everyone's reviews of it denied
    /// for the negative cache's lifetime. A pass is a pass whoever found it.
    @Test func aFailureFoundWithOnesOwnCredentialsIsNotCachedForOthers() async throws {
        let verifier = SeenOnlyByTeamVerifier()
        let client = try RegistryClient()
        defer { client.shutdown() }
        let engine = VerificationEngine(registry: client, verifiers: [verifier])
        let policy = try #require(try Self.policies()["p"])
        let authority = policy.authorities[0]
        let image = try ImageReference(parsing: "registry.invalid/private@sha256:" + String(repeating: "9", count: 64))

        @Sendable func verify(as name: String) async -> String {
            await RequestCredentials.using(NamedCredentials(name: name)) {
                do {
                    let result = try await engine.verify(image: image, authority: authority, policy: "p", revision: VerificationEngine.revision(of: policy), deadline: deadline())
                    return "\(name): \(result.passed ? "passed" : "failed") (\(result.cache.map { "\($0)" } ?? "-"))"
                } catch {
                    return "\(name): error"
                }
            }
        }
        @Sendable func cached(as name: String) async -> Bool? {
            await RequestCredentials.using(NamedCredentials(name: name)) {
                engine.cachedVerdict(image: image, authority: authority, policy: policy)?.passed
            }
        }

        #expect(await verify(as: "intruder") == "intruder: failed (miss)")
        #expect(await verify(as: "intruder") == "intruder: failed (hit)")
        #expect(await cached(as: "team") == nil)
        #expect(await verify(as: "team") == "team: passed (miss)")
        // The pass is everyone's.
        #expect(await verify(as: "intruder") == "intruder: passed (hit)")
        #expect(await cached(as: "intruder") == true)
        #expect(verifier.calls.withLockedValue { $0 } == ["intruder", "team"])
    }

    /// Credentials of which some were not read (the namespace's share of secret reads spent).
    struct WithheldSecrets: RegistryCredentialProvider {
        func credentials(for subject: AdmissionSubject) async -> RegistryCredentialStore {
            var store = RegistryCredentialStore()
            store.withheld = "the pods of namespace \(subject.namespace ?? "") asked for more API reads of pull secrets"
            return store
        }
    }

    /// A pod verified without the pull secrets signet did not read for it: the registry's
    /// refusal, in the denial, says why there were none (not that the pod names no secret).
    @Test func aDenialForWithheldCredentialsSaysWhy() async throws {
        let registry = try await offThePool { try RegistryFixture(authentication: .htpasswd(username: "alice", password: "s3cret")) }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        defer { client.shutdown() }
        let yaml = """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata: {name: private-signed}
            spec:
              images: [{glob: "\(registry.host)/**"}]
              authorities:
                - name: keys
                  key:
                    publicKeys: [{file: \(ConnaisseurVectors.keyFile("alice"))}]
            """
        let policies = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(yaml.utf8))])
        let engine = VerificationEngine(registry: client, verifiers: [CosignKeyVerifier(registry: client)])
        let image = "\(registry.host)/private/app@sha256:" + String(repeating: "7", count: 64)
        let subject = AdmissionSubject(namespace: "flood", name: "web", kind: "Pod", imagePullSecrets: ["regcred"])
        for provider in [WithheldSecrets(), NoSecrets()] as [any RegistryCredentialProvider] {
            let evaluator = PolicyEvaluator(policies: policies, verifier: engine, credentialProvider: provider)
            let decision = await evaluator.evaluate([ImageUse(image: image, container: "app")], subject: subject, deadline: deadline())
            #expect(!decision.allowed)
            let reason = decision.denials.joined(separator: "; ")
            #expect(reason.contains("no credentials for this registry"), "\(reason)")
            #expect(reason.contains("the pods of namespace flood asked for more API reads of pull secrets") == (provider is WithheldSecrets), "\(reason)")
        }
    }

    /// No credentials from any secret: what matters here is whose they would be.
    struct NoSecrets: RegistryCredentialProvider {
        func credentials(for subject: AdmissionSubject) async -> RegistryCredentialStore { RegistryCredentialStore() }
    }

    /// Through the evaluator: a failure found for one namespace's pull secrets is answered from
    /// the cache, without waiting, to that namespace's next admission, and never to another's.
    @Test func aCachedFailureIsServedWarmToTheSameCredentialsOnly() async throws {
        let verifier = SeenOnlyByTeamVerifier(team: "team\u{0}")
        let client = try RegistryClient()
        defer { client.shutdown() }
        let engine = VerificationEngine(registry: client, verifiers: [verifier])
        let policies = try Self.policies()
        let evaluator = PolicyEvaluator(policies: policies, verifier: engine, credentialProvider: NoSecrets())
        let images = [ImageUse(image: "registry.invalid/private@sha256:" + String(repeating: "8", count: 64), container: "app")]
        let intruder = AdmissionSubject(namespace: "intruders", name: "probe", kind: "Pod", imagePullSecrets: ["mine"])
        let team = AdmissionSubject(namespace: "team", name: "web", kind: "Pod", imagePullSecrets: ["regcred"])

        #expect(await !evaluator.evaluate(images, subject: intruder, deadline: deadline()).allowed)
        guard case .decided(let warm) = evaluator.begin(images, subject: intruder) else {
            Issue.record("the same credentials' cached failure was not answered without waiting")
            return
        }
        #expect(!warm.allowed)
        guard case .verifying = evaluator.begin(images, subject: team) else {
            Issue.record("another namespace was answered with the intruder's failure")
            return
        }
        #expect(await evaluator.evaluate(images, subject: team, deadline: deadline()).allowed)
        #expect(verifier.calls.withLockedValue { $0.count } == 2)
    }
}
