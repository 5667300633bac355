import SignetKube

/// What a console request asks to do, each checked by its own SubjectAccessReview (Kubernetes
/// "Authorization", resource attributes): reading pages and the API, or running a verification,
/// which makes signet contact registries.
public enum ConsoleAction: String, Sendable, Hashable, CaseIterable {
    case read
    case verify
}

/// The outcome of authenticating and authorising one console request.
public enum ConsoleAccessDecision: Sendable, Hashable {
    /// The token's user may do the action.
    case allowed(KubernetesUserInfo)
    /// No token, or the TokenReview did not authenticate it: 401.
    case unauthenticated(String)
    /// Authenticated, but the SubjectAccessReview denied the action: 403.
    case forbidden(KubernetesUserInfo, String)
    /// The API server could not be asked: 503, never an open door.
    case unavailable(String)
    /// Not asked: the caller's address has made more reviews than the console makes for one
    /// address (``ConsoleReviewLimiter``): 429, never an open door.
    case throttled(String)
}

/// Decides who a bearer token is and whether that user may do a ``ConsoleAction``.
public protocol ConsoleAuthorizer: Sendable {
    /// `peer`: the caller's address (`ip:port`), whose share of reviews a review is charged to.
    func decide(token: String, action: ConsoleAction, peer: String) async -> ConsoleAccessDecision
    /// Whether the token's user may create Pods in `namespace`: a verification as if a Pod were
    /// admitted there uses the namespace's pull secrets and exceptions, which only someone who
    /// may create Pods there may have used.
    func decideCreatingPods(token: String, namespace: String, peer: String) async -> ConsoleAccessDecision
}

/// The access rules of the console: the resource attributes each action is checked against.
///
/// Reading needs `get` on `clusterimagepolicies.signet.dev` (whoever may read the policies may
/// read what they decided); verifying needs `create` on `verifications.console.signet.dev`, a
/// virtual resource no API server serves, granted only by RBAC rules that name it (the chart's
/// `signet-console-verifier` ClusterRole).
public struct ConsoleAccessRules: Sendable, Hashable {
    public var read: KubernetesResourceAttributes
    public var verify: KubernetesResourceAttributes

    public init(
        read: KubernetesResourceAttributes = KubernetesResourceAttributes(verb: "get", group: "signet.dev", resource: "clusterimagepolicies"),
        verify: KubernetesResourceAttributes = KubernetesResourceAttributes(verb: "create", group: "console.signet.dev", resource: "verifications")
    ) {
        self.read = read
        self.verify = verify
    }

    public func attributes(for action: ConsoleAction) -> KubernetesResourceAttributes {
        switch action {
        case .read: read
        case .verify: verify
        }
    }
}
