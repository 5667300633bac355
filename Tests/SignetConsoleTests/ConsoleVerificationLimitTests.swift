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
        func decide(token: String, action: ConsoleAction) async -> ConsoleAccessDecision { .allowed(KubernetesUserInfo(username: "dev")) }
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

        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer any")
        let context = HTTPRequestContext(remoteAddress: "127.0.0.1:1")
        let api = await handler.handle(
            HTTPRequest(method: "POST", target: "/api/verifications", headers: headers, body: Array(#"{"image":"\#(image)"}"#.utf8)), context: context)
        #expect(api.status == 429)
        #expect(api.headers["Retry-After"] == "5")
        #expect(String(decoding: api.body, as: UTF8.self).contains("2 verifications are running"))
        var formHeaders = headers
        formHeaders.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        let form = await handler.handle(
            HTTPRequest(method: "POST", target: "/verify", headers: formHeaders, body: Array("image=\(image)".utf8)), context: context)
        #expect(form.status == 429)
        #expect(String(decoding: form.body, as: UTF8.self).contains("2 verifications are running"))

        verifier.released.withLockedValue { $0 = true }
        for id in [first, second] {
            for await _ in runner.updates(of: id) {}
            #expect(runner.run(id)?.state == .finished)
        }
        let again = await handler.handle(
            HTTPRequest(method: "POST", target: "/api/verifications", headers: headers, body: Array(#"{"image":"\#(image)"}"#.utf8)), context: context)
        #expect(again.status == 200)
    }

    /// An image text longer than any reference (or a namespace longer than any) is refused with
    /// a 400 naming why, on the form and the API, and no run keeps it.
    @Test func textsLongerThanAnyReferenceAreRefused() async throws {
        let evaluator = PolicyEvaluator(policies: PolicySet(policies: [], revision: "test"), verifier: HeldVerifier())
        let runner = VerificationRunner(evaluator: { evaluator })
        let handler = ConsoleRequestHandler(authorizer: OpenDoor(), runner: runner, feed: DecisionFeed(), policies: { evaluator.policies })
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer any")
        let context = HTTPRequestContext(remoteAddress: "127.0.0.1:1")
        let huge = "ghcr.io/" + String(repeating: "a", count: 1 << 20)
        let api = await handler.handle(
            HTTPRequest(method: "POST", target: "/api/verifications", headers: headers, body: Array(#"{"image":"\#(huge)"}"#.utf8)), context: context)
        #expect(api.status == 400)
        #expect(String(decoding: api.body, as: UTF8.self).contains("longer than any (at most \(VerificationRunner.maximumImageBytes))"))
        let namespace = await handler.handle(HTTPRequest(
            method: "POST", target: "/api/verifications", headers: headers,
            body: Array(#"{"image":"nginx","namespace":"\#(String(repeating: "n", count: 64))"}"#.utf8)), context: context)
        #expect(namespace.status == 400)
        var formHeaders = headers
        formHeaders.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        let form = await handler.handle(
            HTTPRequest(method: "POST", target: "/verify", headers: formHeaders, body: Array("image=\(huge)".utf8)), context: context)
        #expect(form.status == 400)
        #expect(String(decoding: form.body, as: UTF8.self).contains("longer than any"))
        #expect(runner.recent().isEmpty)
    }
}
