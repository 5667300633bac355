import SignetRegistry

/// A verifier that can answer from what it already holds, without waiting: a fresh cached
/// verdict for an image under one authority of a policy, or `nil` when it would have to verify.
///
/// The ``PolicyEvaluator`` asks the ``PolicyEvaluator/verifier`` through this first when it
/// conforms. A verdict returned here is the one ``AuthorityVerifier/verify(image:authority:policy:deadline:)``
/// would return for a cache hit, so a warm decision runs to its end on the thread that received
/// the request: no child tasks, no deadline timer. `nil` is never a verdict: the evaluator then
/// verifies as usual.
///
/// `caller` is whose registry credentials the admission would verify with (read only when a
/// cached verdict is kept for some credentials alone).
public protocol CachedVerdictSource: Sendable {
    func cachedVerdict(
        image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, caller: () -> RequestCredentials.Identity
    ) -> AuthorityVerdict?
}

extension CachedVerdictSource {
    /// The verdict for the credentials of the current task (``RequestCredentials/identity``).
    public func cachedVerdict(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy) -> AuthorityVerdict? {
        cachedVerdict(image: image, authority: authority, policy: policy, caller: { RequestCredentials.identity })
    }
}
