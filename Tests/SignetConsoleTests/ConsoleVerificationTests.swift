import Foundation
import Logging
import SignetHistory
import SignetPolicy
import SignetTestSupport
import Testing

@testable import SignetConsole

/// Verifications run from the console: decided like a Pod at admission, including policies
/// selected by namespace labels, and written to the history as console verifications.
@Suite struct ConsoleVerificationTests {
    /// Refuses every Docker Hub image, but only in namespaces labelled environment=production.
    static let productionOnly = """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: production-hub
        spec:
          images:
            - glob: "docker.io/**"
          namespaceSelector:
            matchLabels:
              environment: production
          authorities:
            - name: block
              static:
                action: fail
                message: Docker Hub images are not allowed in production
        """

    static func runner(labels: [String: [String: String]]) throws -> VerificationRunner {
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "policy.yaml", bytes: Array(productionOnly.utf8))])
        let evaluator = PolicyEvaluator(policies: set, noMatchAction: .allow)
        return VerificationRunner(evaluator: { evaluator }, namespaceLabels: { labels[$0] })
    }

    @Test func aNamespaceSelectorIsMatchedAgainstTheNamespaceLabelsAdmissionKnows() async throws {
        let runner = try Self.runner(labels: ["shop": ["environment": "production"], "sandbox": ["environment": "staging"]])
        func outcome(_ namespace: String?) async throws -> ImageOutcome? {
            try #require(await runner.verify(image: "docker.io/library/nginx:1.27", namespace: namespace, user: "alice")).verdict?.outcome
        }
        // Labelled production: the policy applies and refuses.
        #expect(try await outcome("shop") == .deny)
        // Labelled staging: not selected, as at admission.
        let staging = try #require(await runner.verify(image: "docker.io/library/nginx:1.27", namespace: "sandbox", user: "alice"))
        #expect(staging.verdict?.outcome == .allow)
        #expect(staging.verdict?.reason.contains("not enforced for this Pod") == true, "\(staging.verdict?.reason ?? "")")
        // Labels unknown, or no namespace given (a Pod is never cluster-scoped): the policy
        // applies; missing information never exempts an image.
        #expect(try await outcome("unknown") == .deny)
        let anywhere = try #require(await runner.verify(image: "docker.io/library/nginx:1.27", namespace: nil, user: "alice"))
        #expect(anywhere.verdict?.outcome == .deny)
        #expect(anywhere.verdict?.reason.contains("production-hub") == true, "\(anywhere.verdict?.reason ?? "")")
    }

    /// A verification in a namespace uses its pull secrets and exceptions: the log line that
    /// records it names the namespace as well as the user and the image.
    @Test func theLogLineOfAVerificationNamesItsNamespace() async throws {
        let handler = CapturingLogHandler()
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "policy.yaml", bytes: Array(Self.productionOnly.utf8))])
        let evaluator = PolicyEvaluator(policies: set, noMatchAction: .allow)
        let runner = VerificationRunner(evaluator: { evaluator }, logger: Logger(label: "test") { _ in handler })
        _ = try #require(await runner.verify(image: "docker.io/library/nginx:1.27", namespace: "team-a", user: "alice"))
        let line = try #require(handler.events.withLockedValue { $0 }.first { $0.message == "console verification" })
        #expect(line.metadata?["namespace"] == "team-a", "\(String(describing: line.metadata))")
        #expect(line.metadata?["user"] == "alice")
    }

    @Test func aFinishedVerificationIsAConsoleHistoryEntry() async throws {
        let runner = try Self.runner(labels: [:])
        let run = try #require(await runner.verify(image: "docker.io/library/nginx:1.27", namespace: "shop", user: "alice@example.com"))
        let time = Date(timeIntervalSince1970: 1_780_272_000)
        let entry = try #require(HistoryEntry.console(run, time: time))
        #expect(entry.source == .console)
        #expect(entry.user == "alice@example.com")
        #expect(entry.namespace == "shop")
        #expect(entry.dryRun)
        #expect(entry.uid == run.id)
        #expect(entry.time == time)
        #expect(!entry.allowed)
        #expect(entry.reason?.contains("Docker Hub images are not allowed in production") == true)
        let image = try #require(entry.images.first)
        #expect(image.image == "docker.io/library/nginx:1.27")
        #expect(image.policies == ["production-hub"])
        #expect(image.authorities == ["production-hub/block: failed"])
        #expect(image.verdict == "deny")
        #expect(image.container == nil)
        // A run still going is not written.
        var running = run
        running.state = .running
        #expect(HistoryEntry.console(running, time: time) == nil)
    }
}
