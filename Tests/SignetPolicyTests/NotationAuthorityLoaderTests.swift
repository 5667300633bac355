import Foundation
import Testing
@testable import SignetPolicy

private func notationPolicy(_ body: String) -> String {
    policyYAML(name: "notation", authorities: "    - name: notation\n      notation:\n" + body)
}

private func load(_ yaml: String, loader: PolicyLoader = PolicyLoader()) -> Result<PolicySet, PolicyLoadError> {
    do {
        return .success(try loader.load(files: [PolicySourceFile(name: "notation.yaml", bytes: Array(yaml.utf8))]))
    } catch {
        return .failure(error)
    }
}

private let statement = #"{"version":"1.0","trustPolicies":[{"name":"acme","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:acme"],"trustedIdentities":["*"]}]}"#

@Suite("Notation authority loading")
struct NotationAuthorityLoaderTests {
    @Test func inlineDocumentAsTextOrYAMLCompilesToTheSameTrust() throws {
        let text = try load(notationPolicy("        trustPolicy: '\(statement)'\n")).get()
        let yaml = try load(notationPolicy("""
                    trustPolicy:
                      version: "1.0"
                      trustPolicies:
                        - name: acme
                          registryScopes: ["*"]
                          signatureVerification: {level: strict}
                          trustStores: ["ca:acme"]
                          trustedIdentities: ["*"]

            """)).get()
        guard case .notation(let fromText) = text.policies[0].authorities[0].kind,
              case .notation(let fromYAML) = yaml.policies[0].authorities[0].kind else {
            Issue.record("not notation authorities")
            return
        }
        #expect(fromText.trustPolicy == fromYAML.trustPolicy)
        #expect(fromText.trustPolicy.statements.first?.level == .strict)
    }

    @Test func aDocumentNotationRefusesIsRefusedNamingTheField() throws {
        let wildcard = statement.replacingOccurrences(of: #"["*"]}"#, with: #"["*","x509.subject: C=US, ST=WA, O=Acme"]}"#)
        guard case .failure(let error) = load(notationPolicy("        trustPolicy: '\(wildcard)'\n")) else {
            Issue.record("accepted")
            return
        }
        #expect(error.fieldPath == "spec.authorities[0].notation.trustPolicy")
        #expect(error.message.contains("a wildcard identity cannot be used in conjunction with other values"), "\(error.message)")
    }

    @Test func unknownFieldsStoresAndMissingFilesAreRefused() throws {
        guard case .failure(let unknown) = load(notationPolicy("        trustPolicy: '\(statement)'\n        trustStore: x\n")) else {
            Issue.record("accepted an unknown field")
            return
        }
        #expect(unknown.message.contains("unknown field \"trustStore\""))
        guard case .failure(let badStore) = load(notationPolicy("        trustPolicy: '\(statement)'\n        trustStores:\n          - name: acme\n            pem: x\n")) else {
            Issue.record("accepted a store without a type")
            return
        }
        #expect(badStore.fieldPath == "spec.authorities[0].notation.trustStores[0].name")
        guard case .failure(let neither) = load(notationPolicy("        trustStores: []\n")) else {
            Issue.record("accepted no document")
            return
        }
        #expect(neither.message.contains("exactly one of trustPolicy, trustPolicyFile"))
        // In a cluster a trust policy file that is gone fails the authority closed.
        var enforcing = PolicyLoader()
        enforcing.requireSecretReferences = true
        let missing = try load(notationPolicy("        trustPolicyFile: /nonexistent/trustpolicy.json\n"), loader: enforcing).get()
        #expect(missing.policies[0].authorities[0].unresolvedReason?.contains("/nonexistent/trustpolicy.json") == true)
        #expect(missing.trustMaterialFiles == ["/nonexistent/trustpolicy.json"])
    }

    @Test func crlsAreReadAndPartOfTheTrust() throws {
        let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Vectors/notation/test/e2e/testdata/config/crl")
        let withCRL = try load(notationPolicy("        trustPolicy: '\(statement)'\n        crls:\n          - file: \(vectors.path)/leaf.crl\n")).get()
        let without = try load(notationPolicy("        trustPolicy: '\(statement)'\n")).get()
        guard case .notation(let trust) = withCRL.policies[0].authorities[0].kind else {
            Issue.record("not a notation authority")
            return
        }
        #expect(trust.crls.count == 1)
        #expect(withCRL.policies[0].authorities[0].trustFingerprint != without.policies[0].authorities[0].trustFingerprint)
        #expect(withCRL.trustMaterialFiles == ["\(vectors.path)/leaf.crl"])
        guard case .failure(let error) = load(notationPolicy("        trustPolicy: '\(statement)'\n        crls:\n          - pem: nonsense\n")) else {
            Issue.record("accepted a broken CRL")
            return
        }
        #expect(error.fieldPath == "spec.authorities[0].notation.crls[0]")
    }
}
