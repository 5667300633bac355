/// One image of a ``HistoryEntry``: the reference as written and as resolved, the policies and
/// authorities that judged it, the verdict and why, the trust chain that vouched for it, and the
/// PolicyExceptions or EmergencyBypasses that let it in.
///
/// Verdicts are signet's `ImageOutcome` values (`allow`, `deny`, `warn`, `audit`); on-demand
/// verifications use `allow` (verified) and `deny` (not verified).
public struct HistoryImageRecord: Sendable, Hashable, Codable {
    /// The image as written in the pod spec (or on the command line).
    public var image: String
    /// The normalised reference, pinned to a digest when one is known.
    public var reference: String?
    /// `sha256:…` of the image, when known.
    public var digest: String?
    /// The container that names the image; nil for a verification.
    public var container: String?
    /// The policies whose globs matched.
    public var policies: [String]
    /// How each consulted authority decided: `policy/authority: status`.
    public var authorities: [String]
    public var verdict: String
    public var reason: String
    /// Who vouched for the image, from the trust root or key to the signature, in one line
    /// (for example `policy/keyless: passed via sigstore-public-good (embedded, sha256:…)`).
    public var trustChain: String
    /// The PolicyExceptions and EmergencyBypasses used (`PolicyException ns/name`,
    /// `EmergencyBypass name`).
    public var exemptions: [String]

    public init(
        image: String, reference: String? = nil, digest: String? = nil, container: String? = nil, policies: [String] = [],
        authorities: [String] = [], verdict: String, reason: String, trustChain: String = "", exemptions: [String] = []
    ) {
        self.image = image
        self.reference = reference
        self.digest = digest
        self.container = container
        self.policies = policies
        self.authorities = authorities
        self.verdict = verdict
        self.reason = reason
        self.trustChain = trustChain
        self.exemptions = exemptions
    }

    /// The repository of the image (`registry/path`, without tag or digest): what a query by
    /// image matches besides the exact spelling.
    public var repository: String {
        Self.repository(of: reference ?? image)
    }

    /// `registry/path` of `reference`: the digest (`@…`) and the tag (`:…` after the last `/`)
    /// removed.
    public static func repository(of reference: String) -> String {
        var text = Substring(reference)
        if let at = text.firstIndex(of: "@") { text = text[..<at] }
        let lastSlash = text.lastIndex(of: "/") ?? text.startIndex
        if let colon = text[lastSlash...].lastIndex(of: ":") { text = text[..<colon] }
        return String(text)
    }
}
