import SignetPolicy
import SignetRegistry
import SignetVerify

/// The admission engine, watched: each authority the ``PolicyEvaluator`` consults goes to the
/// same verifier admission uses, and its full result (signers, steps, timings, cache outcome)
/// is reported as it arrives. The decision logic stays the evaluator's and the engine's.
struct ObservingVerifier: AuthorityVerifier {
    let inner: any AuthorityVerifier
    let report: @Sendable (AuthorityReport) -> Void

    func verify(
        image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant
    ) async throws -> AuthorityVerdict {
        let started = ContinuousClock.now
        func elapsed() -> Double { (ContinuousClock.now - started).consoleMilliseconds }
        do {
            if let engine = inner as? VerificationEngine {
                let result = try await engine.verify(
                    image: image, authority: authority, policy: policy.name, revision: VerificationEngine.revision(of: policy), deadline: deadline)
                report(AuthorityReport(
                    policy: policy.name, authority: authority.name, trustRoot: authority.trustRoot, result: result, error: nil,
                    elapsedMilliseconds: elapsed()))
                return result.verdict
            }
            let verdict = try await inner.verify(image: image, authority: authority, policy: policy, deadline: deadline)
            report(AuthorityReport(
                policy: policy.name, authority: authority.name, trustRoot: authority.trustRoot, result: nil,
                error: verdict.passed ? nil : verdict.reason, elapsedMilliseconds: elapsed()))
            return verdict
        } catch {
            report(AuthorityReport(
                policy: policy.name, authority: authority.name, trustRoot: authority.trustRoot, result: nil, error: "\(error)",
                elapsedMilliseconds: elapsed()))
            throw error
        }
    }
}
