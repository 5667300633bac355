import Foundation
import Testing
@testable import SignetPolicy

private func notaryPolicy(_ body: String) -> String {
    policyYAML(name: "dct", authorities: "    - name: dct\n      notaryV1:\n" + body)
}

private func rootKey(_ pem: String = testPublicKeyPEM) -> String {
    "        rootKeys:\n          - pem: |\n" + pem.split(separator: "\n").map { "              " + $0 + "\n" }.joined()
}

private func load(_ yaml: String, loader: PolicyLoader = PolicyLoader()) throws(PolicyLoadError) -> PolicySet {
    try loader.load(files: [PolicySourceFile(name: "dct.yaml", bytes: Array(yaml.utf8))])
}

private func loadError(_ yaml: String) -> PolicyLoadError? {
    do {
        _ = try load(yaml)
        return nil
    } catch {
        return error
    }
}

@Suite("Notary v1 authority loading")
struct NotaryV1AuthorityLoaderTests {
    @Test func compilesServerKeysDelegationsAndThreshold() throws {
        let set = try load(notaryPolicy(
            "        server: https://notary.example.com:4443/\n" + rootKey()
                + "        delegations: [targets/releases, targets/alice]\n        threshold: 1\n"))
        guard case .notaryV1(let trust) = set.policies[0].authorities[0].kind else {
            Issue.record("not compiled as notaryV1")
            return
        }
        #expect(trust.server == "https://notary.example.com:4443")
        #expect(trust.rootKeys.count == 1)
        #expect(trust.delegations == ["targets/releases", "targets/alice"])
        #expect(trust.threshold == 1)
        #expect(set.policies[0].authorities[0].unresolvedReason == nil)
    }

    @Test func thresholdDefaultsToEveryDelegation() throws {
        let set = try load(notaryPolicy("        server: https://n.example\n" + rootKey() + "        delegations: [targets/a, targets/b]\n"))
        guard case .notaryV1(let trust) = set.policies[0].authorities[0].kind else { return }
        #expect(trust.threshold == 2)
    }

    @Test func refusesWhatCannotBeVerified() {
        let cases: [(String, String, String)] = [
            ("        server: https://n.example\n        rootKeys: []\n", "spec.authorities[0].notaryV1.rootKeys", "pinned root key"),
            ("        server: notary.example.com\n" + rootKey(), "spec.authorities[0].notaryV1.server", "URL"),
            ("        server: https://n.example\n" + rootKey() + "        delegations: [releases]\n", "spec.authorities[0].notaryV1.delegations[0]", "targets/<name>"),
            ("        server: https://n.example\n" + rootKey() + "        delegations: [targets/../root]\n", "spec.authorities[0].notaryV1.delegations[0]", "targets/<name>"),
            ("        server: https://n.example\n" + rootKey() + "        delegations: [targets/a]\n        threshold: 2\n", "spec.authorities[0].notaryV1.threshold", "between 1"),
            ("        server: https://n.example\n" + rootKey() + "        delegation: [targets/a]\n", "spec.authorities[0].notaryV1.delegation", "unknown field"),
            ("        server: https://n.example\n" + rootKey("not a key"), "spec.authorities[0].notaryV1.rootKeys[0]", "unusable root key"),
            ("        server: https://n.example\n" + rootKey() + "        rootThreshold: 2\n", "spec.authorities[0].notaryV1.rootThreshold", "between 1 and the number of rootKeys (1)"),
        ]
        for (body, field, message) in cases {
            let error = loadError(notaryPolicy(body))
            #expect(error?.fieldPath == field, "\(body)")
            #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        }
    }

    @Test func theTrustFingerprintFollowsTheRootKeyAndDelegations() throws {
        let other = """
            -----BEGIN PUBLIC KEY-----
            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoo9LGgLib4RGVB0EltnLKhj81Vq1
            D9T/ghOmOriYn274u21pcRuvt/2uZcI9ZHRRJDkmU8AkTmI59OwUxlc9Xg==
            -----END PUBLIC KEY-----
            """
        let base = try load(notaryPolicy("        server: https://n.example\n" + rootKey())).policies[0].authorities[0].trustFingerprint
        let otherKey = try load(notaryPolicy("        server: https://n.example\n" + rootKey(other))).policies[0].authorities[0].trustFingerprint
        let otherRole = try load(notaryPolicy("        server: https://n.example\n" + rootKey() + "        delegations: [targets]\n"))
            .policies[0].authorities[0].trustFingerprint
        let rootThreshold = try load(notaryPolicy("        server: https://n.example\n" + rootKey() + "        rootThreshold: 1\n")).policies[0].authorities[0]
        #expect(Set([base, otherKey, otherRole]).count == 3)
        guard case .notaryV1(let trust) = rootThreshold.kind else { return }
        #expect(trust.rootThreshold == 1 && rootThreshold.trustFingerprint == base, "rootThreshold 1 is the default")
    }

    @Test func aRootKeyFileRemovedUnderAStrictSourceFailsClosed() throws {
        let body = notaryPolicy("        server: https://n.example\n        rootKeys:\n          - file: /nonexistent/root.pub\n")
        let set = try load(body)
        let reason = try #require(set.policies[0].authorities[0].unresolvedReason)
        #expect(reason.contains("/nonexistent/root.pub"))
        #expect(set.trustMaterialFiles.contains("/nonexistent/root.pub"))
        // A lint-style loader that reads files once refuses the policy instead, naming the field.
        var lint = PolicyLoader()
        lint.requireSecretReferences = false
        #expect(throws: PolicyLoadError.self) { _ = try load(body, loader: lint) }
    }
}
