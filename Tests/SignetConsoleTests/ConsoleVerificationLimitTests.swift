import Foundation
import NIOConcurrencyHelpers
import SignetHTTP
import SignetKube
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import Testing

@testable import SignetConsole

/// Console verifications are bounded: while the most that may run at once are waiting on a
/// registry (here a verifier held until the test lets it go), another start is refused (429
/// with `Retry-After` on the form and the API), and once one finishes the next is accepted.
@Suite struct ConsoleVerificationLimitTests {
    /// Passes every image once released; until then it waits (bounded, a hang catcher).
    final class HeldVerifier: AuthorityVerifier {
        let released = NIOLockedValueBox(false)

        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            let end = ContinuousClock.now + TestBudget.seconds(60)
            while !released.withLockedValue({ $0 }), ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(10)) }
            return AuthorityVerdict(passed: true, authority: authority.name, reason: "signed")
        }
    }

    /// Everyone may do everything.
    struct OpenDoor: ConsoleAuthorizer {
        func decide(token: String, action: ConsoleAction, peer: String) async -> ConsoleAccessDecision { .allowed(KubernetesUserInfo(username: "dev")) }
        func decideCreatingPods(token: String, namespace: String, peer: String) async -> ConsoleAccessDecision { .allowed(KubernetesUserInfo(username: "dev")) }
    }

    @Test func startsBeyondTheLimitAreRefusedUntilOneFinishes() async throws {
        let keyless = try PolicyLoader().load(files: [PolicySourceFile(
            name: "keyless.yaml",
            bytes: Array(try Data(contentsOf: TestPaths.packageRoot.appendingPathComponent("policies/examples/keyless-github-actions.yaml"))))])
        let verifier = HeldVerifier()
        let evaluator = PolicyEvaluator(policies: PolicySet(policies: keyless.policies, revision: "test"), verifier: verifier)
        let runner = VerificationRunner(evaluator: { evaluator }, maximumRunning: 2)
        let handler = ConsoleRequestHandler(authorizer: OpenDoor(), runner: runner, feed: DecisionFeed(), policies: { evaluator.policies })
        let image = "ghcr.io/my-org/my-app:v1.2.3"

        let first = try #require(runner.start(image: image, namespace: nil, user: "dev"))
        let second = try #require(runner.start(image: image, namespace: nil, user: "dev"))
        #expect(runner.start(image: image, namespace: nil, user: "dev") == nil)
        #expect(runner.recent().count == 2, "a refused start keeps no run")

        let api = await Self.post(handler, api: #"{"image":"\#(image)"}"#)
        #expect(api.status == 429)
        #expect(api.headers["Retry-After"] == "5")
        #expect(String(decoding: api.body, as: UTF8.self).contains("2 verifications are running"))
        let form = await Self.post(handler, form: "image=\(image)")
        #expect(form.status == 429)
        #expect(String(decoding: form.body, as: UTF8.self).contains("2 verifications are running"))

        verifier.released.withLockedValue { $0 = true }
        for id in [first, second] {
            for await _ in runner.updates(of: id) {}
            #expect(runner.run(id)?.state == .finished)
        }
        let again = await Self.post(handler, api: #"{"image":"\#(image)"}"#)
        #expect(again.status == 200)
    }

    /// An image text longer than any reference (or a namespace longer than any) is refused with
    /// a 400 naming why, on the form and the API, and no run keeps it.
    @Test func textsLongerThanAnyReferenceAreRefused() async throws {
        let evaluator = PolicyEvaluator(policies: PolicySet(policies: [], revision: "test"), verifier: HeldVerifier())
        let runner = VerificationRunner(evaluator: { evaluator })
        let handler = ConsoleRequestHandler(authorizer: OpenDoor(), runner: runner, feed: DecisionFeed(), policies: { evaluator.policies })
        let huge = "ghcr.io/" + String(repeating: "a", count: 1 << 20)
        let api = await Self.post(handler, api: #"{"image":"\#(huge)"}"#)
        #expect(api.status == 400)
        #expect(String(decoding: api.body, as: UTF8.self).contains("longer than any (at most \(VerificationRunner.maximumImageBytes))"))
        let namespace = await Self.post(handler, api: #"{"image":"nginx","namespace":"\#(String(repeating: "n", count: 64))"}"#)
        #expect(namespace.status == 400)
        let form = await Self.post(handler, form: "image=\(huge)")
        #expect(form.status == 400)
        #expect(String(decoding: form.body, as: UTF8.self).contains("longer than any"))
        #expect(runner.recent().isEmpty)
    }

    /// The verify form's error pages need the verify right alone: they list the caller's own
    /// recent verifications, not other users' images and verdicts (which the read right guards).
    @Test func aRefusedVerificationShowsTheCallersOwnRunsOnly() async throws {
        let verifier = HeldVerifier()
        verifier.released.withLockedValue { $0 = true }
        let evaluator = PolicyEvaluator(policies: PolicySet(policies: [], revision: "test"), verifier: verifier)
        let runner = VerificationRunner(evaluator: { evaluator })
        let handler = ConsoleRequestHandler(authorizer: OpenDoor(), runner: runner, feed: DecisionFeed(), policies: { evaluator.policies })
        _ = try #require(runner.start(image: "ghcr.io/ops/secret-app:v1", namespace: nil, user: "ops"))
        _ = try #require(runner.start(image: "ghcr.io/dev/app:v1", namespace: nil, user: "dev"))
        let page = String(decoding: await Self.post(handler, form: "image=").body, as: UTF8.self)
        #expect(page.contains("enter an image reference"))
        #expect(page.contains("ghcr.io/dev/app:v1"), "\(page)")
        #expect(!page.contains("secret-app"), "another user's verification is listed")
    }

    /// A signed-in POST of `body` to the verification API.
    static func post(_ handler: ConsoleRequestHandler, api body: String) async -> HTTPResponse {
        await handler.handle(
            HTTPRequest(method: "POST", target: "/api/verifications", headers: signedIn(), body: Array(body.utf8)),
            context: HTTPRequestContext(remoteAddress: "127.0.0.1:1"))
    }

    /// A signed-in POST of the verify form with `body`.
    static func post(_ handler: ConsoleRequestHandler, form body: String) async -> HTTPResponse {
        var headers = signedIn()
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        return await handler.handle(
            HTTPRequest(method: "POST", target: "/verify", headers: headers, body: Array(body.utf8)),
            context: HTTPRequestContext(remoteAddress: "127.0.0.1:1"))
    }

    static func signedIn() -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer any")
        return headers
    }
}
