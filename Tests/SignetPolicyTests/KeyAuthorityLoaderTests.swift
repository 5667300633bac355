import Foundation
import Testing
import SignetTestSupport
@testable import SignetPolicy

/// An ECDSA P-256 public key (SubjectPublicKeyInfo, PEM) for policies that need a parsable key.
let testPublicKeyPEM = TestKeys.unusedP256PublicKeyPEM

private func keyPolicy(_ keyBody: String) -> String {
    policyYAML(name: "keys", authorities: "    - name: release\n      key:\n" + keyBody)
}

private func pemEntry(_ pem: String = testPublicKeyPEM, indent: Int = 10) -> String {
    let pad = String(repeating: " ", count: indent)
    return pad + "- pem: |\n" + pem.split(separator: "\n").map { pad + "    " + $0 + "\n" }.joined()
}

private func loadError(_ yaml: String, loader: PolicyLoader = PolicyLoader()) -> PolicyLoadError? {
    do {
        _ = try loader.load(files: [PolicySourceFile(name: "keys.yaml", bytes: Array(yaml.utf8))])
        return nil
    } catch {
        return error
    }
}

@Suite("Key authority loading")
struct KeyAuthorityLoaderTests {
    @Test func unparsableInlineKeyNamesFileDocumentAndField() throws {
        let broken = testPublicKeyPEM.replacingOccurrences(of: "MFkw", with: "AAAA")
        let error = try #require(loadError(keyPolicy("        publicKeys:\n" + pemEntry(broken))))
        #expect(error.file == "keys.yaml")
        #expect(error.document == 1)
        #expect(error.fieldPath == "spec.authorities[0].key.publicKeys[0].pem")
        #expect(error.message.contains("unusable public key"))
    }

    @Test func textThatIsNotPEMIsRefused() throws {
        let error = try #require(loadError(keyPolicy("        publicKeys:\n          - pem: not a key\n")))
        #expect(error.fieldPath == "spec.authorities[0].key.publicKeys[0].pem")
        #expect(error.message.contains("not a PEM public key"))
    }

    @Test func thresholdMustFitTheKeys() throws {
        let error = try #require(loadError(keyPolicy("        publicKeys:\n" + pemEntry() + "        threshold: 2\n")))
        #expect(error.fieldPath == "spec.authorities[0].key.threshold")
    }

    @Test func theSameKeyTwiceIsRefused() throws {
        let error = try #require(loadError(keyPolicy("        publicKeys:\n" + pemEntry() + pemEntry() + "        threshold: 2\n")))
        #expect(error.fieldPath == "spec.authorities[0].key.publicKeys[1]")
        #expect(error.message.contains("same key as publicKeys[0]"))
    }

    @Test func unknownFieldsAndMissingKeysAreRefused() throws {
        let unknown = try #require(loadError(keyPolicy("        publicKeys:\n" + pemEntry() + "        treshold: 1\n")))
        #expect(unknown.fieldPath == "spec.authorities[0].key.treshold")
        let empty = try #require(loadError(keyPolicy("        publicKeys: []\n")))
        #expect(empty.fieldPath == "spec.authorities[0].key.publicKeys")
        let both = try #require(loadError(keyPolicy("        publicKeys:\n          - file: /x\n            secretRef: {namespace: a, name: b}\n")))
        #expect(both.message.contains("exactly one of pem, file, secretRef"))
        let padding = try #require(loadError(keyPolicy("        publicKeys:\n" + pemEntry() + "            rsaPadding: pss\n")))
        #expect(padding.fieldPath == "spec.authorities[0].key.publicKeys[0].rsaPadding")
    }

    @Test func keysFromAFileAndFromAMountedSecret() throws {
        let directory = try TemporaryDirectory()
        let keyFile = directory.path + "/alice.pub"
        try testPublicKeyPEM.write(toFile: keyFile, atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory.path + "/secrets/signet/release", withIntermediateDirectories: true)
        // A different key in the secret so the two count as distinct.
        let other = TestKeys.otherUnusedP256PublicKeyPEM
        try other.write(toFile: directory.path + "/secrets/signet/release/cosign.pub", atomically: false, encoding: .utf8)
        let yaml = keyPolicy("""
                    publicKeys:
                      - file: \(keyFile)
                      - secretRef: {namespace: signet, name: release}
                    threshold: 2

            """)
        let loader = PolicyLoader(keySecretsDirectory: directory.path + "/secrets")
        let set = try loader.load(files: [PolicySourceFile(name: "keys.yaml", bytes: Array(yaml.utf8))])
        guard case .key(let authority) = try #require(set["keys"]?.authorities.first).kind else {
            Issue.record("expected a key authority")
            return
        }
        #expect(authority.threshold == 2)
        #expect(authority.keys.map(\.source) == [
            "publicKeys[0] (file \(keyFile))", "publicKeys[1] (secret signet/release key cosign.pub)",
        ])

        // A Secret that is not mounted does not refuse the policy (the last good set would keep
        // a removed key trusted): the authority compiles with the key unresolved and fails closed.
        let missing = try PolicyLoader().load(files: [PolicySourceFile(name: "keys.yaml", bytes: Array(yaml.utf8))])
        let reason = try #require(missing["keys"]?.authorities.first?.unresolvedReason)
        #expect(reason.hasPrefix("unresolved key: publicKeys[1]: key cosign.pub of Secret signet/release is missing"), "\(reason)")
    }
}
