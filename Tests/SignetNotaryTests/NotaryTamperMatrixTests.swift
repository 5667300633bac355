import Foundation
import SignetCrypto
import SignetNotary
import SignetTUF
import SignetTestSupport
import Testing

/// Tamper matrix over a real Notary 0.3 repository (root, timestamp, snapshot, targets and the
/// RSA-PSS `targets/releases` delegation): every single-point change of one role's file (values,
/// signatures, keys, hashes, versions, expiries, removed members, swapped lists), verified from
/// the pinned root key at the vector time, must be refused (the delegation's own changes leave
/// it untrusted, vouching for nothing).
@Suite("Tamper matrix: Notary v1 metadata")
struct NotaryTamperMatrixTests {
    /// Whether `files` vouch through `targets/releases` (a delegation that fails its checks
    /// leaves the repository trusted without it: it vouches for nothing).
    static func verifies(_ files: NotaryTrustedCollection.Files, pinned: PublicKey) -> Bool {
        (try? NotaryTrustedCollection(
            gun: NotaryVectorTests.gun03, files: files, pinnedRootKeys: [pinned], delegations: ["targets/releases"],
            at: NotaryTest.vectorTime))?.roles["targets/releases"] != nil
    }

    @Test(arguments: NotaryVectorTests.roles03)
    func everyMutationIsRefused(_ role: String) async throws {
        let files = try NotaryTest.files(version: "0.3", gun: NotaryVectorTests.gun03, roles: NotaryVectorTests.roles03)
        let pinned = try NotaryTest.rootKey(files["root"]!)
        #expect(Self.verifies(files, pinned: pinned))
        let mutations = try TamperMutation.json(files[role]!)
        let outcome = await TamperOutcome.run(matrix: "notary", artifact: role, mutations) { mutation in
            var changed = files
            changed[role] = mutation.bytes
            return Self.verifies(changed, pinned: pinned)
        }
        #expect(outcome.mutations >= 10)
        #expect(outcome.falseAllows.isEmpty, "\(outcome.falseAllows)")
    }
}
