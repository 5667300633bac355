import Foundation
import SignetNotation
import SignetTestSupport
import Testing

/// The 43 trust policies of the Notation vectors: each is accepted or refused as `notation`
/// does, refusals in its words.
@Suite struct NotationTrustPolicyTests {
    /// Refused documents and a phrase of the refusal.
    static let refused: [String: String] = [
        "invalid_format_trustpolicy.json": "not a JSON object",
        "empty_registry_scope_trustpolicy.json": "has zero registry scopes",
        "malformed_registry_scope_trustpolicy.json": "is not valid, make sure it is a fully qualified repository",
        "wildcard_plus_other_registry_scope_trustpolicy.json": "a wildcard scope cannot be used in conjunction with other scope values",
        "overlapped_registry_scope_trustpolicy.json": "is present in multiple oci trust policy statements",
        "multi_statements_with_the_same_registry_scope_trustpolicy.json": "is present in multiple oci trust policy statements",
        "multi_statements_with_the_same_name_trustpolicy.json": "use the same name",
        "multi_statements_with_multi_wildcard_registry_scope_trustpolicy.json": "wildcard registry scope '*'",
        "unset_trust_store_trustpolicy.json": "is either missing trust stores or trusted identities",
        "unset_trusted_identity_trustpolicy.json": "is either missing trust stores or trusted identities",
        "malformed_trust_store_trustpolicy.json": "Named store name needs to follow [a-zA-Z0-9_.-]+ format",
        "wildcard_trust_store_trustpolicy.json": "has malformed trust store value \"*\"",
        "overlapped_trust_store_trustpolicy.json": "duplicate trust store",
        "malformed_trusted_identity_trustpolicy.json": "missing separator",
        "empty_trusted_identity_trustpolicy.json": "has an empty trusted identity",
        "overlapped_trusted_identity_trustpolicy.json": "has overlapping x509 trustedIdentities",
        "wildcard_plus_other_trusted_identity_trustpolicy.json": "a wildcard identity cannot be used in conjunction with other values",
        "missing_organization_trusted_identity_trustpolicy.json": "has no mandatory RDN attribute for \"O\"",
        "missing_state_trusted_identity_trustpolicy.json": "has no mandatory RDN attribute for \"ST\"",
        "missing_country_trusted_identity_trustpolicy.json": "has no mandatory RDN attribute for \"C\"",
        "override_integrity_for_permissive_trustpolicy.json": "override integrity validation which is not supported",
        // A blob trust policy (`notation blob verify`): its statements have no registry scopes,
        // so as an OCI trust policy it is refused.
        "blob_trust_policy.json": "has zero registry scopes",
    ]

    @Test func everyVectorPolicyIsAcceptedOrRefusedAsNotationDoes() throws {
        let folder = NotationVectors.root.appendingPathComponent("config/trustpolicies")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(names.count == 43)
        var accepted = 0
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
            do {
                _ = try NotationTrustPolicy(json: bytes)
                #expect(Self.refused[name] == nil, "\(name) was accepted; notation refuses it")
                accepted += 1
            } catch {
                guard let phrase = Self.refused[name] else {
                    Issue.record("\(name) was refused: \(error)")
                    continue
                }
                #expect(error.description.contains(phrase), "\(name): \(error)")
            }
        }
        #expect(accepted == 43 - Self.refused.count)
    }

    @Test func levelsAndOverrides() throws {
        let strict = try #require(try NotationVectors.trustPolicy("override_strict_trustpolicy.json").statements.first)
        #expect(strict.level == .strict)
        let permissive = try #require(try NotationVectors.trustPolicy("override_permissive_trustpolicy.json").statements.first)
        #expect(permissive.action(for: .expiry) == .enforce)
        #expect(permissive.action(for: .authenticity) == .log)
        #expect(permissive.action(for: .integrity) == .enforce)
        let timestamp = try #require(try NotationVectors.trustPolicy("timestamp_after_cert_expiry_trustpolicy.json").statements.first)
        #expect(timestamp.verifyTimestamp == .afterCertExpiry)
        #expect(timestamp.trustStores.map(\.description) == ["ca:e2e", "tsa:e2e"])
        #expect(NotationTrustPolicy.VerificationLevel.audit.defaultActions[.authenticity] == .log)
        #expect(NotationTrustPolicy.VerificationLevel.permissive.defaultActions[.authenticity] == .enforce)
    }

    @Test func skipCannotBeOverriddenAndAuthenticityCannotBeSkipped() {
        let skip = #"{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["r.io/a"],"signatureVerification":{"level":"skip","override":{"expiry":"log"}}}]}"#
        #expect(throws: NotationTrustPolicyError.self) { try NotationTrustPolicy(json: Array(skip.utf8)) }
        let skipped = #"{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"authenticity":"skip"}},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}"#
        #expect(throws: NotationTrustPolicyError.self) { try NotationTrustPolicy(json: Array(skipped.utf8)) }
        let version = #"{"version":"2.0","trustPolicies":[]}"#
        #expect(throws: NotationTrustPolicyError.self) { try NotationTrustPolicy(json: Array(version.utf8)) }
    }

    /// A scope spelt other than image names are normalised would never match, and its images
    /// would fall to the `*` statement (often audit or skip): refused, naming the spelling to use.
    @Test(arguments: [
        ("Registry.Example.com/app", "registry.example.com/app"),
        ("registry.example.com:443/app", "registry.example.com/app"),
        ("index.docker.io/library/nginx", "docker.io/library/nginx"),
        ("docker.io/nginx", "docker.io/library/nginx"),
    ])
    func scopesMustBeSpeltAsNormalisedImageNames(_ scope: String, _ canonical: String) {
        let json = #"{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["\#(scope)"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]},{"name":"b","registryScopes":["*"],"signatureVerification":{"level":"skip"}}]}"#
        do {
            _ = try NotationTrustPolicy(json: Array(json.utf8))
            Issue.record("accepted \(scope)")
        } catch {
            #expect("\(error)".contains("write it as \"\(canonical)\""), "\(error)")
        }
    }

    @Test func distinguishedNamesMatchAsSubsets() throws {
        let identity = try DistinguishedName(parsing: " C=US, ST=WA, O=Notary")
        let subject = try DistinguishedName(parsing: "CN=e2e,O=Notary,L=Seattle,ST=WA,C=US")
        #expect(identity.isSubset(of: subject))
        #expect(!(try DistinguishedName(parsing: "C=US, ST=WA, O=Other")).isSubset(of: subject))
        // Values compare as bytes: a Kelvin sign is not a K.
        #expect(!(try DistinguishedName(parsing: "O=\u{212A}ube")).isSubset(of: try DistinguishedName(parsing: "O=Kube")))
        #expect((try DistinguishedName(parsing: "O=Kube")).isSubset(of: try DistinguishedName(parsing: "O=Kube, C=US")))
        let escaped = try DistinguishedName(parsing: #"C=US, S=WA, O=Acme\, Inc."#)
        #expect(escaped.attributes.last?.value == "Acme, Inc.")
        #expect(escaped.has("ST"))
        // A "Prepend" scalar (U+0600) before an escape does not take the backslash into its
        // grapheme cluster: the comma stays escaped, and no OU appears.
        let prepended = try DistinguishedName(parsing: "CN=build\u{0600}\\,OU=Release,O=Corp,ST=WA,C=US")
        #expect(!prepended.has("OU"), "\(prepended)")
        #expect(prepended.attributes.first?.value == "build\u{0600},OU=Release")
        #expect(!(try DistinguishedName(parsing: "C=US, ST=WA, O=Corp, OU=Release")).isSubset(of: prepended))
    }
}
