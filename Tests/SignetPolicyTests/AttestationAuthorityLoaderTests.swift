import Foundation
import Testing
@testable import SignetPolicy

private let examplePEM = """
                    -----BEGIN PUBLIC KEY-----
                    MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEnLQJRsX2GHEpN0bfvgbRGqu3kEBq
                    m1GSrpnC9ENA0vmg/P1aGFYW8R3Zj1wyJVlBsGcEUw0yGRtPT4CurSWK6A==
                    -----END PUBLIC KEY-----
"""

/// A policy with one `attestations` authority requiring one attestation; `entry` lines go under
/// the requirement (10 spaces), after its key.
private func attestationPolicy(type: String = "slsaprovenance1", _ entry: String = "") -> String {
    policyYAML(name: "attested", authorities: """
            - name: attested
              attestations:
                require:
                  - name: provenance
                    predicateType: \(type)
                    key:
                      publicKeys:
                        - pem: |
        \(examplePEM)
        \(entry)
        """)
}

private func load(_ yaml: String) -> Result<PolicySet, PolicyLoadError> {
    do {
        return .success(try PolicyLoader().load(files: [PolicySourceFile(name: "attested.yaml", bytes: Array(yaml.utf8))]))
    } catch {
        return .failure(error)
    }
}

@Suite("Attestation authority loading")
struct AttestationAuthorityLoaderTests {
    @Test func anAliasResolvesAndConditionsCompile() throws {
        let set = try load(attestationPolicy("""
                        conditions:
                          - {path: runDetails.builder.id, operator: equals, value: https://github.com/actions/runner}
                          - anyOf:
                              - {path: buildDefinition.externalParameters.workflow.ref, operator: matches, value: "refs/tags/v.*"}
                              - {path: buildDefinition.externalParameters.workflow.ref, operator: equals, value: refs/heads/main}
            """)).get()
        guard case .attestations(let trust) = set.policies[0].authorities[0].kind else {
            Issue.record("not an attestations authority")
            return
        }
        #expect(trust.requirements.map(\.predicateType) == ["https://slsa.dev/provenance/v1"])
        #expect(trust.requirements[0].conditions.count == 2)
        #expect(trust.requirements[0].paths.map(\.description).sorted() == [
            "buildDefinition.externalParameters.workflow.ref", "runDetails.builder.id",
        ])
        guard case .key(let signer) = trust.requirements[0].signer else {
            Issue.record("not a key signer")
            return
        }
        #expect(signer.keys.count == 1)
    }

    @Test func aKeylessSignerCompilesAsAKeylessAuthorityDoes() throws {
        let yaml = policyYAML(name: "attested", authorities: """
                - name: attested
                  attestations:
                    require:
                      - predicateType: slsaprovenance1
                        keyless:
                          identities:
                            - {issuer: https://token.actions.githubusercontent.com, subjectRegExp: "^https://github.com/example/.*$"}
            """)
        let set = try load(yaml).get()
        guard case .attestations(let trust) = set.policies[0].authorities[0].kind,
              case .keyless(let signer) = trust.requirements[0].signer else {
            Issue.record("not a keyless attestation signer")
            return
        }
        #expect(signer.identities.count == 1)
        #expect(signer.trustRootSource == "embedded production root")
        #expect(trust.requirements[0].signer.description.contains("token.actions.githubusercontent.com"))
        // A keyless signer with a bad identity is refused where a keyless authority's would be.
        let bad = yaml.replacingOccurrences(of: "subjectRegExp: \"^https://github.com/example/.*$\"", with: "subjectRegExp: \"(\"")
        guard case .failure(let error) = load(bad) else {
            Issue.record("accepted a bad subject regular expression")
            return
        }
        #expect(error.fieldPath?.hasPrefix("spec.authorities[0].attestations.require[0].keyless.identities[0]") == true, "\(error)")
        // A misspelt restriction of the identity is refused, as under a keyless authority: read
        // without it, the identity would admit any repository's workflow of that name.
        let misspelt = yaml.replacingOccurrences(
            of: "subjectRegExp: \"^https://github.com/example/.*$\"}",
            with: "subjectRegExp: \"^https://github.com/.*$\", extention: {githubWorkflowRepository: example/app}}")
        guard case .failure(let unknown) = load(misspelt) else {
            Issue.record("accepted a misspelt identity field")
            return
        }
        #expect(unknown.fieldPath == "spec.authorities[0].attestations.require[0].keyless.identities[0].extention", "\(unknown)")
    }

    /// A logged attestation is one Sigstore bundle with one signature: two keys of two required
    /// with `transparencyLog: require` could never pass, and are refused at load (without the
    /// log, each key's envelope signature counts).
    @Test func aThresholdTheLogCannotMeetIsRefused() throws {
        func policy(_ log: String) -> String {
            policyYAML(name: "attested", authorities: """
                    - name: attested
                      attestations:
                        require:
                          - predicateType: slsaprovenance1
                            key:
                              threshold: 2
                              transparencyLog: \(log)
                              publicKeys:
                                - pem: |
                \(examplePEM)
                                - pem: |
                                    -----BEGIN PUBLIC KEY-----
                                    MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf/eyDGwFyG2XnQQL/WOxxHtHH4Xv
                                    54vgxxNfATKAHQYFpp4M8whfWrbuTF6WLltHv2JIw2UwKwocoo0bOFmTng==
                                    -----END PUBLIC KEY-----
                """)
        }
        _ = try load(policy("ignore")).get()
        guard case .failure(let error) = load(policy("require")) else {
            Issue.record("accepted a threshold a logged attestation cannot meet")
            return
        }
        #expect(error.fieldPath == "spec.authorities[0].attestations.require[0].key.threshold", "\(error)")
        #expect(error.message.contains("carries one signature"), "\(error.message)")
    }

    @Test func badRequirementsAreRefusedNamingTheField() throws {
        let cases: [(String, String, String)] = [
            (attestationPolicy(type: "provenance"), "spec.authorities[0].attestations.require[0].predicateType", "cosign's aliases"),
            (attestationPolicy("            conditions:\n              - {path: a, operator: like, value: x}\n"),
             "spec.authorities[0].attestations.require[0].conditions", "operator"),
            (attestationPolicy("            conditions:\n              - {path: a, operator: matches, value: \"(\"}\n"),
             "spec.authorities[0].attestations.require[0].conditions", "valid regular expression"),
            (attestationPolicy("            signer: x\n"), "spec.authorities[0].attestations.require[0]", "unknown field(s) signer"),
            // The signer's own fields, as a key authority's: a misspelt threshold is no threshold of 1.
            (attestationPolicy("              threshhold: 2\n"), "spec.authorities[0].attestations.require[0].key.threshhold", "unknown field"),
            (attestationPolicy("            keyless: {identities: []}\n"), "spec.authorities[0].attestations.require[0]", "key or keyless, not both"),
        ]
        for (yaml, field, message) in cases {
            guard case .failure(let error) = load(yaml) else {
                Issue.record("accepted: \(yaml)")
                continue
            }
            #expect(error.fieldPath == field, "\(error)")
            #expect(error.message.contains(message), "\(error.message)")
        }
    }
}
