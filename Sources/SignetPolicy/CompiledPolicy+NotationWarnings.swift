import SignetNotation

/// A statement of an Enforce policy's `notation` trust policy that lets images through without
/// checking who signed them: level `audit`, or authenticity overridden to `log`, admits any
/// well-formed Notation signature over the image's digest whoever made it; level `skip` admits
/// the images of its scopes unsigned (the Notary Project trust store and trust policy
/// specification, "Signature Verification").
public struct NotationStatementWarning: Sendable, Hashable {
    /// The authority's name and its position in `spec.authorities`.
    public var authority: String
    /// Where the trust policy document was written: `spec.authorities[i].notation.trustPolicy`,
    /// or the file, ConfigMap or Secret field that names it.
    public var fieldPath: String
    /// `inline`, or where the document was read (a file path, `ConfigMap ns/name key k`).
    public var documentOrigin: String
    /// The statement's name.
    public var statement: String
    /// What it lets through, in words for whoever reads the policy's status or a log.
    public var message: String
}

extension CompiledPolicy {
    /// The statements of this policy's `notation` authorities that do not enforce who signed,
    /// when the policy enforces (``NotationStatementWarning``); wherever the document was read
    /// from, so a trust policy kept in a ConfigMap, a Secret or a file is named too.
    public var notationStatementWarnings: [NotationStatementWarning] {
        guard mode == .enforce else { return [] }
        var warnings: [NotationStatementWarning] = []
        for authority in authorities {
            guard case .notation(let trust) = authority.kind else { continue }
            let body = definition.spec.authorities.indices.contains(authority.index) ? definition.spec.authorities[authority.index].notation : nil
            let field =
                body?.trustPolicyFile != nil ? "trustPolicyFile"
                : body?.trustPolicyConfigMapRef != nil ? "trustPolicyConfigMapRef"
                : body?.trustPolicySecretRef != nil ? "trustPolicySecretRef" : "trustPolicy"
            for statement in trust.trustPolicy.statements {
                let scopes = statement.registryScopes.joined(separator: ", ")
                let message: String
                if statement.level == .skip {
                    message = "trust policy statement \"\(statement.name)\" is at level skip: images of \(scopes) covered by this policy are admitted without any signature; keep skip for images you mean to run unsigned"
                } else if statement.action(for: .authenticity) != .enforce {
                    let override = statement.level == .audit ? "" : ", authenticity overridden to \(statement.action(for: .authenticity).rawValue)"
                    message = "trust policy statement \"\(statement.name)\" does not enforce authenticity (level \(statement.level.rawValue)\(override)): an image of \(scopes) covered by this policy is admitted with any well-formed Notation signature over its digest, whoever made it; use level strict or permissive to enforce who signed"
                } else {
                    continue
                }
                warnings.append(NotationStatementWarning(
                    authority: authority.name, fieldPath: "spec.authorities[\(authority.index)].notation.\(field)",
                    documentOrigin: trust.trustPolicySource, statement: statement.name, message: message))
            }
        }
        return warnings
    }
}

extension PolicySet {
    /// ``CompiledPolicy/notationStatementWarnings`` of every policy, in policy order.
    public var notationStatementWarnings: [(policy: String, warning: NotationStatementWarning)] {
        policies.flatMap { policy in policy.notationStatementWarnings.map { (policy.name, $0) } }
    }
}
