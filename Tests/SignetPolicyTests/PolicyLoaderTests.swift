import Foundation
import Testing
@testable import SignetPolicy

func policyYAML(
    name: String, globs: [String] = ["ghcr.io/**"], authorities: String = "    - static:\n        action: pass\n",
    extra: String = ""
) -> String {
    """
    apiVersion: signet.dev/v1alpha1
    kind: ClusterImagePolicy
    metadata:
      name: \(name)
    spec:
      images:
    \(globs.map { "    - glob: \"\($0)\"" }.joined(separator: "\n"))
      authorities:
    \(authorities)\(extra)
    """
}

func load(_ files: [String: String]) throws(PolicyLoadError) -> PolicySet {
    try PolicyLoader().load(files: files.map { PolicySourceFile(name: $0.key, bytes: Array($0.value.utf8)) })
}

@Suite("Policy loader")
struct PolicyLoaderTests {
    @Test func appliesDefaults() throws {
        let set = try load(["a.yaml": policyYAML(name: "system-images", globs: ["registry.k8s.io/**"])])
        let policy = try #require(set["system-images"])
        #expect(policy.mode == .enforce)
        #expect(policy.requiredPasses == 1)
        #expect(policy.authorities.map(\.name) == ["authority-0"])
        #expect(policy.authorities.first?.kind == .static(action: .pass, message: nil))
        #expect(policy.source == PolicySourceLocation(file: "a.yaml", document: 1))
        #expect(set.revision.count == 32)
    }

    @Test func multiDocumentFilesAndOtherSignetKinds() throws {
        let authorities = """
                - name: a
                  static:
                    action: pass
                - name: b
                  static:
                    action: fail
                    message: nope

            """
        let two = policyYAML(name: "two", authorities: authorities, extra: "  require: 1\n  mode: Warn\n")
        let text = "# leading comment\n---\n" + policyYAML(name: "one")
            + "\n---\napiVersion: signet.dev/v1alpha1\nkind: PolicyException\nmetadata:\n  name: later\n  namespace: team\nspec:\n  allPolicies: true\n  reason: vendor image\n  approvedBy: alice\n  validUntil: \"2030-01-01T00:00:00Z\"\n---\n"
            + two + "\n---\n"
        let set = try load(["multi.yml": text])
        #expect(set.policies.map(\.name) == ["one", "two"])
        #expect(set.exceptions.map(\.qualifiedName) == ["team/later"])
        let second = try #require(set["two"])
        #expect(second.requiredPasses == 1)
        #expect(second.mode == .warn)
        #expect(second.authorities.map(\.name) == ["a", "b"])
        #expect(second.source.document == 3)
    }

    /// An exception or bypass holds at most as many entries as the CRDs allow: every replica
    /// compiles and keeps them, so one object must not fill a replica's memory.
    @Test func exemptionListsAreBounded() throws {
        func exception(names: Int) -> String {
            "apiVersion: signet.dev/v1alpha1\nkind: PolicyException\nmetadata:\n  name: wide\n  namespace: team\nspec:\n  allPolicies: true\n"
                + "  names: [\((0..<names).map { "\"n\($0)\"" }.joined(separator: ","))]\n  reason: r\n  approvedBy: a\n  validUntil: \"2030-01-01T00:00:00Z\"\n"
        }
        #expect(try load(["ok.yaml": exception(names: 256)]).exceptions.count == 1)
        let refused = try #require(throws: PolicyLoadError.self) { try load(["wide.yaml": exception(names: 257)]) }
        #expect(refused.description.contains("spec.names") && refused.description.contains("257 entries, more than the 256 allowed"), "\(refused)")
        let bypass = "apiVersion: signet.dev/v1alpha1\nkind: EmergencyBypass\nmetadata:\n  name: wide\nspec:\n"
            + "  namespaces: [\((0..<1025).map { "\"ns\($0)\"" }.joined(separator: ","))]\n  reason: r\n  requestedBy: a\n  expiresAt: \"2030-01-01T00:00:00Z\"\n"
        let wideBypass = try #require(throws: PolicyLoadError.self) { try load(["bypass.yaml": bypass]) }
        #expect(wideBypass.description.contains("spec.namespaces"), "\(wideBypass)")
    }

    @Test func revisionFollowsContent() throws {
        let a = try load(["a.yaml": policyYAML(name: "one")])
        let b = try load(["a.yaml": policyYAML(name: "one")])
        let c = try load(["a.yaml": policyYAML(name: "one", globs: ["quay.io/**"])])
        #expect(a.revision == b.revision)
        #expect(a.revision != c.revision)
    }

    struct Broken: Sendable, CustomStringConvertible {
        var label: String
        var text: String
        var document: Int?
        var fieldPath: String?
        var messageContains: String
        var description: String { label }
    }

    static let broken: [Broken] = [
        Broken(label: "bad YAML in the second document", text: policyYAML(name: "ok") + "\n---\nspec: [unclosed\n",
               document: 2, messageContains: "invalid YAML"),
        Broken(label: "not a signet resource", text: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
               document: 1, messageContains: "not a signet.dev resource"),
        Broken(label: "unknown signet kind", text: "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: x\n",
               document: 1, fieldPath: "kind", messageContains: "unknown signet.dev kind \"ImagePolicy\""),
        Broken(label: "unknown version", text: "apiVersion: signet.dev/v2\nkind: ClusterImagePolicy\nmetadata:\n  name: x\n",
               document: 1, fieldPath: "apiVersion", messageContains: "unsupported apiVersion"),
        Broken(label: "no kind", text: "apiVersion: signet.dev/v1alpha1\nmetadata:\n  name: x\n", document: 1, messageContains: "no apiVersion or kind"),
        Broken(label: "a list", text: "- a\n- b\n", document: 1, messageContains: "not a mapping"),
        Broken(label: "invalid glob", text: policyYAML(name: "x", globs: ["ghcr.io/ok", "ghcr.io/***"]),
               document: 1, fieldPath: "spec.images[1].glob", messageContains: "'***'"),
        Broken(label: "empty glob", text: policyYAML(name: "x", globs: [""]), document: 1, fieldPath: "spec.images[0].glob", messageContains: "empty"),
        Broken(label: "no images", text: policyYAML(name: "x", globs: []).replacingOccurrences(of: "  images:\n", with: "  images: []\n"),
               document: 1, fieldPath: "spec.images", messageContains: "at least one"),
        Broken(label: "bad static action", text: policyYAML(name: "x", authorities: "    - static:\n        action: maybe\n"),
               document: 1, fieldPath: "spec.authorities[0].static.action", messageContains: "maybe"),
        Broken(label: "bad mode", text: policyYAML(name: "x", extra: "  mode: enforce\n"), document: 1, fieldPath: "spec.mode", messageContains: "enforce"),
        Broken(label: "require too large", text: policyYAML(name: "x", extra: "  require: 3\n"),
               document: 1, fieldPath: "spec.require", messageContains: "between 1 and the number of authorities (1)"),
        Broken(label: "require word", text: policyYAML(name: "x", extra: "  require: most\n"),
               document: 1, fieldPath: "spec.require", messageContains: "\"all\""),
        Broken(label: "two kinds in one authority",
               text: policyYAML(name: "x", authorities: "    - static:\n        action: pass\n      keyless: {}\n"),
               document: 1, fieldPath: "spec.authorities[0]", messageContains: "exactly one kind"),
        Broken(label: "no kind in an authority", text: policyYAML(name: "x", authorities: "    - name: a\n"),
               document: 1, fieldPath: "spec.authorities[0]", messageContains: "exactly one of"),
        Broken(label: "typo in spec", text: policyYAML(name: "x", extra: "  requre: 1\n"),
               document: 1, fieldPath: "spec.requre", messageContains: "unknown field"),
        Broken(label: "missing name", text: policyYAML(name: "x").replacingOccurrences(of: "  name: x\n", with: "  labels: {}\n"),
               document: 1, fieldPath: "metadata.name", messageContains: "required"),
        Broken(label: "invalid name", text: policyYAML(name: "Not_Valid"), document: 1, fieldPath: "metadata.name", messageContains: "resource name"),
        Broken(label: "duplicate authority names",
               text: policyYAML(name: "x", authorities: "    - name: a\n      static:\n        action: pass\n    - name: a\n      static:\n        action: pass\n"),
               document: 1, fieldPath: "spec.authorities[1].name", messageContains: "duplicate"),
    ]

    @Test(arguments: broken)
    func rejects(_ case_: Broken) {
        do {
            _ = try load(["bad.yaml": case_.text])
            Issue.record("loaded a broken policy")
        } catch {
            #expect(error.file == "bad.yaml")
            #expect(error.document == case_.document)
            if let fieldPath = case_.fieldPath { #expect(error.fieldPath == fieldPath) }
            #expect(error.message.contains(case_.messageContains), "\(error)")
            #expect(error.description.hasPrefix("bad.yaml, document"))
        }
    }

    @Test func duplicatePolicyNamesAcrossFiles() {
        #expect {
            _ = try load(["a.yaml": policyYAML(name: "same"), "b.yaml": policyYAML(name: "same")])
        } throws: { error in
            guard let error = error as? PolicyLoadError else { return false }
            return error.file == "b.yaml" && error.message.contains("a.yaml, document 1")
        }
    }

    @Test func keyAuthorityIsCompiledWithItsKeysAndThreshold() throws {
        let set = try load(["k.yaml": policyYAML(name: "k", authorities: """
                - name: release-key
                  key:
                    publicKeys:
                      - pem: |
            \(testPublicKeyPEM.split(separator: "\n").map { "                  " + $0 }.joined(separator: "\n"))
                        hashAlgorithm: sha256
                    annotations:
                      env: prod

            """)])
        let authority = try #require(set["k"]?.authorities.first)
        guard case .key(let body) = authority.kind else {
            Issue.record("expected a key authority")
            return
        }
        #expect(body.keys.count == 1)
        #expect(body.threshold == 1)
        #expect(body.requiredAnnotations == ["env": "prod"])
        #expect(body.keys[0].key.algorithm == .ecdsaP256)
        #expect(authority.kind.fieldName == "key")
    }

    @Test func readsADirectory() throws {
        let directory = try TemporaryDirectory()
        try directory.write("b.yaml", policyYAML(name: "b"))
        try directory.write("a.yml", policyYAML(name: "a"))
        try directory.write("notes.txt", "not a policy")
        try directory.write(".hidden.yaml", "garbage: [")
        let set = try PolicyLoader().load(directory: directory.path)
        #expect(set.policies.map(\.name) == ["a", "b"])
    }

    @Test func missingDirectoryIsAnError() {
        #expect(throws: PolicyLoadError.self) { try PolicyLoader().load(directory: "/nonexistent/signet-policies") }
    }
}

/// A directory under the system temporary directory, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "signet-policy-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes beside the target and renames into place, so a watcher never reads half a file
    /// (Foundation's `.atomic` leaves a directory behind in /tmp on Linux).
    func write(_ name: String, _ text: String) throws {
        let target = (path as NSString).appendingPathComponent(name)
        let temporary = (path as NSString).appendingPathComponent(".\(name).\(UUID().uuidString)")
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, target) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    func remove(_ name: String) throws {
        try FileManager.default.removeItem(atPath: (path as NSString).appendingPathComponent(name))
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A policy's revision is the digest of its definition, which keys the verdicts cached under
/// it: a number YAML reads as infinite or NaN (which `JSONEncoder` refuses) must not make two
/// different definitions share one revision (it fell back to the policy's name, so an edit of
/// such a policy kept the verdicts of the one before).
@Suite("Policy revision")
struct PolicyRevisionTests {
    static func definition(_ limit: Double, _ field: String) -> ClusterImagePolicy {
        ClusterImagePolicy(name: "scans", spec: ClusterImagePolicy.Spec(
            images: [ClusterImagePolicy.ImagePattern(glob: "registry.example/**")],
            authorities: [ClusterImagePolicy.Authority(attestations: .object(["conditions": .array([.object([field: .number(limit)])])]))]))
    }

    @Test func nonFiniteNumbersStillTellDefinitionsApart() {
        let revisions = [
            CompiledPolicy.digest(of: Self.definition(.infinity, "maxCritical"), name: "scans"),
            CompiledPolicy.digest(of: Self.definition(.infinity, "maxHigh"), name: "scans"),
            CompiledPolicy.digest(of: Self.definition(-.infinity, "maxHigh"), name: "scans"),
            CompiledPolicy.digest(of: Self.definition(.nan, "maxHigh"), name: "scans"),
            CompiledPolicy.digest(of: Self.definition(3, "maxHigh"), name: "scans"),
        ]
        #expect(Set(revisions).count == revisions.count)
        #expect(CompiledPolicy.digest(of: Self.definition(.infinity, "maxHigh"), name: "scans") == revisions[1], "the same definition, the same revision")
    }
}
