import SignetAttestation

/// An `attestations` authority compiled: the in-toto attestations an image must carry, each
/// with its predicate type, its own signer and the conditions its predicate must meet.
///
/// Semantics (in-toto Attestation Framework v1, `spec/v1/statement.md`; DSSE `protocol.md`;
/// cosign's attestation layout, sigstore/cosign `specs/ATTESTATION_SPEC.md`): the image passes
/// when, for every requirement, at least one DSSE envelope signed by the requirement's signer
/// holds a statement of its predicate type whose subject names the image's digest and whose
/// predicate meets every condition. An attestation signed by anyone else does not count.
public struct CompiledAttestationAuthority: Sendable, Hashable {
    /// One required attestation.
    public struct Requirement: Sendable, Hashable {
        /// `name`, or the predicate type as written when absent (`slsaprovenance1`).
        public let name: String
        /// The predicate type URI (an alias resolved).
        public let predicateType: String
        /// Who must have signed the envelope: keys, or a keyless identity.
        public let signer: AttestationSigner
        /// All must hold (an implicit `allOf`); empty when the attestation need only exist.
        public let conditions: [AttestationCondition]

        public init(name: String, predicateType: String, signer: AttestationSigner, conditions: [AttestationCondition]) {
            self.name = name
            self.predicateType = predicateType
            self.signer = signer
            self.conditions = conditions
        }

        /// The conditions as one group.
        public var condition: AttestationCondition { .allOf(conditions) }

        /// Every predicate path the conditions read.
        public var paths: Set<PredicatePath> { condition.paths }
    }

    public let requirements: [Requirement]

    public init(requirements: [Requirement]) {
        self.requirements = requirements
    }
}
