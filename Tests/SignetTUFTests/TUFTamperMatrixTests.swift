import Foundation
import SignetCrypto
import SignetTUF
import SignetTestSupport
import Testing

/// Tamper matrix over the real Sigstore TUF repository (`Tests/Vectors/root-signing`): from
/// root version 14 as trusted, every single-point change of root 15, the timestamp, the
/// snapshot, targets or the delegated `registry.npmjs.org` role (values, signatures, keys,
/// versions, expiries, hashes, removed members, swapped lists) must make the update fail
/// (TUF specification 1.0, section 5).
@Suite("Tamper matrix: TUF metadata")
struct TUFTamperMatrixTests {
    static let files: [(role: String, path: String)] = [
        ("root", "metadata/root_history/15.root.json"), ("timestamp", "metadata/timestamp.json"),
        ("snapshot", "metadata/snapshot.json"), ("targets", "metadata/targets.json"),
        ("registry.npmjs.org", "metadata/registry.npmjs.org.json"),
    ]

    /// Whether the update from root 14 through `metadata` (role to bytes) succeeds.
    static func verifies(_ metadata: [String: [UInt8]]) -> Bool {
        do {
            let trusted = try TUFTest.bytes(TUFTest.rootSigning.appendingPathComponent("metadata/root_history/14.root.json"))
            var set = try TrustedMetadataSet(trustedRoot: trusted, referenceTime: SigstoreRootSigningTests.now, format: TUFSpecificationFormat())
            try set.updateRoot(metadata["root"]!)
            try set.checkFinalRoot()
            _ = try set.updateTimestamp(metadata["timestamp"]!)
            try set.checkFinalTimestamp()
            try set.updateSnapshot(metadata["snapshot"]!)
            try set.checkFinalSnapshot()
            try set.updateTargets(metadata["targets"]!)
            try set.updateTargets(metadata["registry.npmjs.org"]!, role: "registry.npmjs.org", parent: "targets")
            return true
        } catch {
            return false
        }
    }

    @Test(arguments: files.map(\.role))
    func everyMutationIsRefused(_ role: String) async throws {
        var metadata: [String: [UInt8]] = [:]
        for file in Self.files { metadata[file.role] = try TUFTest.bytes(TUFTest.rootSigning.appendingPathComponent(file.path)) }
        #expect(Self.verifies(metadata))
        // Root 15 and targets carry more signatures than their threshold: one broken, changed or
        // reordered signature still leaves the threshold met (section 5.3.4 counts distinct valid
        // keys). Removing the list is still a mutation.
        let unsigned = ["root", "targets"].contains(role)
            ? ["signatures": "more valid signatures than the role's threshold: one changed signature leaves the threshold met (TUF 1.0 section 5.3.4)"]
            : [:]
        let mutations = try TamperMutation.json(metadata[role]!, unsigned: unsigned)
        let outcome = await TamperOutcome.run(matrix: "tuf", artifact: role, mutations, unsigned: unsigned) { mutation in
            var changed = metadata
            changed[role] = mutation.bytes
            return Self.verifies(changed)
        }
        #expect(outcome.mutations >= 10)
        #expect(outcome.falseAllows.isEmpty, "\(outcome.falseAllows)")
    }
}
