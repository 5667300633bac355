import Foundation
import SignetAttestation

extension PolicyLoader {
    /// Compiles an `attestations` authority:
    ///
    /// ```yaml
    /// attestations:
    ///   require:
    ///     - name: provenance                 # optional; the predicate type as written by default
    ///       predicateType: slsaprovenance1   # a full URI, or a cosign alias
    ///       key:                             # the signer, as a key authority
    ///         publicKeys: [{file: /etc/signet/keys/builder.pub}]
    ///       # or keyless: {identities: [...], trustRoot: ...}, as a keyless authority
    ///       conditions:                      # optional; all must hold
    ///         - {path: runDetails.builder.id, operator: equals, value: https://github.com/actions/runner}
    /// ```
    ///
    /// The signer compiles as a `key` or `keyless` authority does (so a missing key file,
    /// Secret or trust root fails closed the same way); a wrong predicate type, condition or operator refuses the policy,
    /// naming the field.
    func compileAttestationAuthority(
        _ body: PolicyValue, path: String, source: PolicySourceLocation
    ) throws(PolicyLoadError) -> CompiledAttestationAuthority {
        func invalid(_ field: String, _ message: String) -> PolicyLoadError {
            PolicyLoadError(.invalidField, file: source.file, document: source.document, fieldPath: field, message: message)
        }
        guard case .object(let members) = body, Set(members.keys) == ["require"] else {
            throw invalid(path, "an attestations authority has exactly one field, require: a list of required attestations")
        }
        guard case .array(let entries)? = members["require"], !entries.isEmpty else {
            throw invalid("\(path).require", "at least one required attestation is needed")
        }
        var requirements: [CompiledAttestationAuthority.Requirement] = []
        var names: Set<String> = []
        for (index, entry) in entries.enumerated() {
            let field = "\(path).require[\(index)]"
            guard case .object(let fields) = entry else { throw invalid(field, "a required attestation is an object") }
            let unknown = Set(fields.keys).subtracting(["name", "predicateType", "key", "keyless", "conditions"])
            guard unknown.isEmpty else { throw invalid(field, "unknown field(s) \(unknown.sorted().joined(separator: ", "))") }
            guard case .string(let written)? = fields["predicateType"], let predicateType = PredicateType.resolve(written) else {
                throw invalid("\(field).predicateType", "a predicate type URI or one of cosign's aliases ("
                    + PredicateType.aliases.keys.sorted().joined(separator: ", ") + ") is required")
            }
            var name = written
            if let given = fields["name"] {
                guard case .string(let text) = given, !text.isEmpty else { throw invalid("\(field).name", "name is a non-empty string") }
                name = text
            }
            guard names.insert(name).inserted else { throw invalid("\(field).name", "duplicate attestation name \"\(name)\"") }
            let signer: AttestationSigner
            switch (fields["key"], fields["keyless"]) {
            case (let body?, nil):
                let key = try Self.decode(ClusterImagePolicy.KeyAuthority.self, body, orThrow: { invalid("\(field).key", "not a key authority: \($0)") })
                let trust = try compileKeyAuthority(key, path: "\(field).key", source: source)
                // A logged attestation is one Sigstore bundle, which carries one signature: a
                // threshold above 1 could never be met, and every image would be denied.
                if trust.threshold > 1, trust.transparencyLog.requirement == .require {
                    throw invalid(
                        "\(field).key.threshold",
                        "a threshold of \(trust.threshold) cannot be met with transparencyLog require: a logged attestation (a Sigstore bundle) carries one signature; require several attestations, one per key, instead")
                }
                signer = .key(trust)
            case (nil, let body?):
                let keyless = try Self.decode(
                    ClusterImagePolicy.KeylessAuthority.self, body, orThrow: { invalid("\(field).keyless", "not a keyless authority: \($0)") })
                signer = .keyless(try compileKeylessAuthority(keyless, path: "\(field).keyless", source: source))
            case (nil, nil):
                throw invalid(field, "the attestation's signer (key or keyless) is required")
            case (.some, .some):
                throw invalid(field, "an attestation has one signer: key or keyless, not both")
            }
            var conditions: [AttestationCondition] = []
            if let written = fields["conditions"] {
                do {
                    conditions = try AttestationCondition.parseList(Self.attestationValue(written), field: "\(field).conditions")
                } catch {
                    throw invalid("\(field).conditions", error.reason)
                }
            }
            requirements.append(.init(name: name, predicateType: predicateType, signer: signer, conditions: conditions))
        }
        return CompiledAttestationAuthority(requirements: requirements)
    }

    /// `body` read as the authority type `type` (its fields as a policy writes them).
    private static func decode<Authority: Decodable>(
        _ type: Authority.Type, _ body: PolicyValue, orThrow refusal: (String) -> PolicyLoadError
    ) throws(PolicyLoadError) -> Authority {
        do {
            return try JSONDecoder().decode(type, from: JSONEncoder().encode(body))
        } catch {
            throw refusal("\(error)")
        }
    }

    static func attestationValue(_ value: PolicyValue) -> AttestationValue {
        switch value {
        case .null: .null
        case .bool(let flag): .bool(flag)
        case .number(let number): .number(number)
        case .string(let text): .string(text)
        case .array(let values): .array(values.map(attestationValue))
        case .object(let members): .object(members.mapValues(attestationValue))
        }
    }
}
