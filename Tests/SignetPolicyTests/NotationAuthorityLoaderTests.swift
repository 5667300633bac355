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

    @Test func configMapAndSecretReferencesAreReadFromTheirMountedVolumes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("signet-notation-mounts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Vectors/notation/test/e2e/testdata/config/localkeys")
        let configMap = root.appendingPathComponent("configmaps/signet-system/notation-trust")
        let secret = root.appendingPathComponent("secrets/signet-system/notation-tsa")
        for directory in [configMap, secret] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        try Data(statement.utf8).write(to: configMap.appendingPathComponent("trustpolicy.json"))
        try Data(contentsOf: vectors.appendingPathComponent("e2e.crt")).write(to: configMap.appendingPathComponent("ca.crt"))
        try Data(contentsOf: vectors.appendingPathComponent("new_e2e.crt")).write(to: secret.appendingPathComponent("acme.crt"))
        var loader = PolicyLoader(keySecretsDirectory: root.appendingPathComponent("secrets").path)
        loader.configMapsDirectory = root.appendingPathComponent("configmaps").path
        let body = """
                    trustPolicyConfigMapRef: {namespace: signet-system, name: notation-trust}
                    trustStores:
                      - name: ca:acme
                        configMapRef: {namespace: signet-system, name: notation-trust, key: ca.crt}
                      - name: ca:acme
                        secretRef: {namespace: signet-system, name: notation-tsa, key: acme.crt}

            """
        let set = try load(notationPolicy(body), loader: loader).get()
        guard case .notation(let trust) = set.policies[0].authorities[0].kind else {
            Issue.record("not a notation authority")
            return
        }
        #expect(set.policies[0].authorities[0].unresolvedReason == nil)
        #expect(trust.trustPolicySource == "key trustpolicy.json of ConfigMap signet-system/notation-trust")
        #expect(trust.trustStores.stores.values.first?.count == 2, "both certificates in ca:acme")
        #expect(set.clusterReferences.map(\.description) == [
            "key ca.crt of ConfigMap signet-system/notation-trust", "key trustpolicy.json of ConfigMap signet-system/notation-trust",
            "key acme.crt of Secret signet-system/notation-tsa",
        ])
        #expect(set.trustMaterialFiles == [configMap.appendingPathComponent("ca.crt").path, configMap.appendingPathComponent("trustpolicy.json").path,
                                           secret.appendingPathComponent("acme.crt").path])

        // A key replaced by something that is not a certificate, and one removed: the authority
        // fails closed naming each (refusing the reload would keep the old trust in force).
        try Data("not a certificate".utf8).write(to: configMap.appendingPathComponent("ca.crt"))
        try FileManager.default.removeItem(at: secret.appendingPathComponent("acme.crt"))
        let broken = try load(notationPolicy(body), loader: loader).get()
        let reason = try #require(broken.policies[0].authorities[0].unresolvedReason)
        #expect(reason.contains("trustStores[0]: key ca.crt of ConfigMap signet-system/notation-trust is neither PEM certificates nor DER certificates"), "\(reason)")
        #expect(reason.contains("trustStores[1]: key acme.crt of Secret signet-system/notation-tsa is missing (expected at \(secret.path)/acme.crt)"), "\(reason)")
        #expect(broken.revision != set.revision)

        // signet lint: the objects live in the cluster, so their absence is no error.
        let linted = try load(notationPolicy(body), loader: .shapeOnly).get()
        #expect(linted.policies.count == 1)

        // A store's reference names its key; references are shaped like names; no unknown fields.
        guard case .failure(let noKey) = load(notationPolicy("""
                    trustPolicyConfigMapRef: {namespace: signet-system, name: notation-trust}
                    trustStores:
                      - name: ca:acme
                        configMapRef: {namespace: signet-system, name: notation-trust}

            """), loader: loader) else {
            Issue.record("accepted a certificate reference without a key")
            return
        }
        #expect(noKey.fieldPath == "spec.authorities[0].notation.trustStores[0].configMapRef")
        #expect(noKey.message.contains("needs key"), "\(noKey.message)")
        guard case .failure(let badName) = load(notationPolicy("        trustPolicySecretRef: {namespace: signet-system, name: ../etc}\n"), loader: loader) else {
            Issue.record("accepted a path as a Secret name")
            return
        }
        #expect(badName.fieldPath == "spec.authorities[0].notation.trustPolicySecretRef")
        guard case .failure(let unknown) = load(notationPolicy("        trustPolicyConfigMapRef: {namespace: a, name: b, keys: c}\n"), loader: loader) else {
            Issue.record("accepted an unknown field")
            return
        }
        #expect(unknown.message.contains("unknown field \"keys\""), "\(unknown.message)")
        guard case .failure(let two) = load(notationPolicy(
            "        trustPolicy: '\(statement)'\n        trustPolicyConfigMapRef: {namespace: a, name: b}\n"), loader: loader) else {
            Issue.record("accepted two documents")
            return
        }
        #expect(two.message.contains("exactly one of trustPolicy, trustPolicyFile, trustPolicyConfigMapRef, trustPolicySecretRef"), "\(two.message)")
    }
}
