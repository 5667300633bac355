import Foundation
import NIOConcurrencyHelpers
import SignetPolicy
import SignetTestSupport
import SignetVerify
import Testing

@testable import SignetRegistry

/// Concurrent verifications of one image share one computation, which runs under the deadline of
/// whoever started it. Anyone who can post a review can start it with a deadline of a few
/// milliseconds (`?timeout=`), again and again: the admissions that joined it must not fail with
/// that deadline while they have time of their own.
@Suite("Single flight and deadlines", .serialized)
struct SingleFlightDeadlineTests {
    /// Holds the first call until opened; then, like a registry call, fails once the request's
    /// deadline has passed and passes otherwise.
    final class DeadlineBoundVerifier: SignatureVerifier, Sendable {
        let calls = NIOLockedValueBox(0)
        private let gate: AsyncStream<Void>
        private let release: AsyncStream<Void>.Continuation

        init() {
            (gate, release) = AsyncStream<Void>.makeStream()
        }

        var format: SignatureFormat { SignatureFormat("test") }
        var count: Int { calls.withLockedValue { $0 } }
        func handles(_ authority: CompiledAuthority) -> Bool { true }
        func open() { release.finish() }

        func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
            let first = calls.withLockedValue { calls -> Bool in
                calls += 1
                return calls == 1
            }
            if first { for await _ in gate {} }
            guard ContinuousClock.now < request.deadline else {
                throw VerificationError(RegistryError(.deadlineExceeded(operation: "GET signature")))
            }
            return VerificationResult(
                image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
                format: format, passed: true, reason: "signed")
        }
    }

    // The limit catches a hang; on a machine busy with builds the test has taken minutes.
    @Test(.timeLimit(.minutes(5)))
    func aJoinerWithMoreTimeIsNotHandedTheStartersDeadline() async throws {
        let verifier = DeadlineBoundVerifier()
        let client = try RegistryClient()
        defer { client.shutdown() }
        let engine = VerificationEngine(registry: client, verifiers: [verifier])
        let authority = keyAuthority([try trustedKey(file: ConnaisseurVectors.keyFile("alice"))])
        let image = try ImageReference(parsing: "registry.invalid/app@sha256:" + String(repeating: "e", count: 64))

        @Sendable func verify(_ name: String, until deadline: ContinuousClock.Instant) async -> String {
            do {
                let result = try await engine.verify(image: image, authority: authority, policy: "p", revision: "1", deadline: deadline)
                return "\(name): \(result.passed ? "passed" : "failed") (\(result.cache.map { "\($0)" } ?? "-"))"
            } catch {
                return "\(name): \(error)"
            }
        }

        let short = ContinuousClock.now + .milliseconds(20)
        let answers = await withTaskGroup(of: String.self) { group in
            group.addTask { await verify("starter", until: short) }
            // The starter's verification is held; the admission joins it, with an hour to go.
            while verifier.count == 0 { try? await Task.sleep(for: .milliseconds(1)) }
            // Deadlines that catch a hang, not time anything: a busy machine may take minutes here.
            group.addTask { await verify("admission", until: .now + .seconds(3600)) }
            group.addTask { await verify("same deadline", until: short) }
            for _ in 0..<20 { try? await Task.sleep(for: .milliseconds(1)) }
            while ContinuousClock.now < short { try? await Task.sleep(for: .milliseconds(5)) }
            // Both joined the starter's verification: none of their own has started.
            #expect(verifier.count == 1)
            verifier.open()
            var answers: [String] = []
            for await answer in group { answers.append(answer) }
            return answers.sorted()
        }
        // The starter, and a joiner with no more time than it, share the failure; the admission
        // verifies in its own time, and its result is cached for everyone.
        #expect(answers == ["admission: passed (miss)", "same deadline: the verification deadline passed", "starter: the verification deadline passed"])
        #expect(verifier.count == 2)
        #expect(await verify("later", until: .now + .seconds(3600)) == "later: passed (hit)")
    }
}
