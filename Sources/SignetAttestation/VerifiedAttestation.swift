/// An in-toto attestation whose DSSE signature verified with a requirement's signer and whose
/// statement names the image's digest as a subject: what a verification keeps of it (the
/// requirement, the predicate type, who signed, where it was found, and only the predicate
/// fields the requirement's conditions read), so conditions can be evaluated again on a cache
/// hit without the predicate.
public struct VerifiedAttestation: Sendable, Hashable, Codable {
    /// The name of the requirement it satisfies the signature and subject checks of.
    public var requirement: String
    public var predicateType: String
    /// The statement type (`https://in-toto.io/Statement/v1` or `v0.1`).
    public var statementType: String
    /// The keys that signed, as the policy names them.
    public var signers: [String]
    /// Where it was found: `<repo>:sha256-<hex>.att layer 0`.
    public var source: String
    /// The subjects' digests (`sha256:<hex>`), for display.
    public var subjects: [String]
    public var fields: PredicateFields

    public init(
        requirement: String, predicateType: String, statementType: String, signers: [String], source: String, subjects: [String],
        fields: PredicateFields
    ) {
        self.requirement = requirement
        self.predicateType = predicateType
        self.statementType = statementType
        self.signers = signers
        self.source = source
        self.subjects = subjects
        self.fields = fields
    }
}
