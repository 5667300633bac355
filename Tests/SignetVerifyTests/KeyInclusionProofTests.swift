import Foundation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetSigstore
import SignetTestSupport
import SignetVerify
import Testing

/// `transparencyLog: require` with cosign 3 key bundles (v0.3) whose Rekor entry is proven by an
/// RFC 6962 inclusion proof and a signed checkpoint instead of a signed entry timestamp: the proof
/// is then the only evidence that the signature was logged, so a broken proof or checkpoint must
/// deny, naming the transparency log step and what is wrong.
@Suite("key bundles proven by inclusion in the transparency log", .serialized)
struct KeyInclusionProofTests {
    typealias Setup = KeyTransparencyLogTests.Setup

    /// Pushes an image and attaches the bundle `make` builds for its digest; verifies it under
    /// `transparencyLog: require` with the test log's trust root.
    static func verify(_ name: String, _ setup: Setup, make: (ImageDigest) async throws -> [UInt8]) async throws -> VerificationResult {
        let image = try setup.fixture.reference("proof/\(name):v1")
        let digest = try await setup.fixture.images.pushImage(image)
        try await KeyBundle.attach([try await make(digest)], to: digest, in: image, client: setup.fixture.client)
        return try await setup.verify(image, try setup.authority("require"))
    }

    @Test func aValidInclusionProofIsAccepted() async throws {
        let setup = try await KeyTransparencyLogTests.setup()
        let dsse = try await Self.verify("dsse-valid", setup) { digest in
            try await setup.log.provenDSSEBundle(statement: KeyBundle.statement(for: digest), key: setup.key)
        }
        #expect(dsse.passed, "\(dsse.reason)")
        #expect(dsse.steps.contains { $0.name.hasSuffix(" signature") && $0.passed && $0.detail.contains("logged in file \(setup.rootFile)") })
        await setup.fixture.stop()
    }

    @Test func aTamperedProofOrCheckpointIsDeniedAtTheTransparencyLogStep() async throws {
        let setup = try await KeyTransparencyLogTests.setup()
        let flipped = try await Self.verify("dsse-flipped-path", setup) { digest in
            try await setup.log.provenDSSEBundle(statement: KeyBundle.statement(for: digest), key: setup.key, tampering: .flippedPathHash)
        }
        #expect(!flipped.passed)
        #expect(flipped.failure == .noValidSignature)
        #expect(flipped.reason.contains("the bundle's transparency log entries do not vouch for it (file \(setup.rootFile))"), "\(flipped.reason)")
        #expect(flipped.reason.contains("transparency log: inclusion proof of entry 2 leads to root"), "\(flipped.reason)")
        #expect(flipped.steps.contains { $0.name.hasSuffix(" transparency log") && !$0.passed })

        let forger = try await TestSigningKey.generate(.ecP256, slot: 8)
        let forged = try await Self.verify("dsse-forged-checkpoint", setup) { digest in
            try await setup.log.provenDSSEBundle(statement: KeyBundle.statement(for: digest), key: setup.key, tampering: .checkpointSignedBy(forger))
        }
        #expect(!forged.passed)
        #expect(forged.reason.contains("transparency log: checkpoint has no valid signature by \(TestRekorLog.baseURL)"), "\(forged.reason)")

        let otherTree = try await Self.verify("dsse-other-tree", setup) { digest in
            try await setup.log.provenDSSEBundle(statement: KeyBundle.statement(for: digest), key: setup.key, tampering: .checkpointOfAnotherTree)
        }
        #expect(!otherTree.passed)
        #expect(otherTree.reason.contains("transparency log: checkpoint (size 5, root"), "\(otherTree.reason)")
        #expect(otherTree.reason.contains("does not match the inclusion proof"), "\(otherTree.reason)")
        await setup.fixture.stop()
    }

    /// A v0.3 entry with neither a proof nor a promise breaks the bundle version rule: the bundle
    /// is refused when read, naming the rule.
    @Test func aV03EntryWithoutAProofIsRefusedByTheVersionRule() async throws {
        let setup = try await KeyTransparencyLogTests.setup()
        let unproven = try await Self.verify("dsse-unproven", setup) { digest in
            let bundle = try await setup.log.provenDSSEBundle(statement: KeyBundle.statement(for: digest), key: setup.key)
            var document = try JSONSerialization.jsonObject(with: Data(bundle)) as! [String: Any]
            var material = document["verificationMaterial"] as! [String: Any]
            var entries = material["tlogEntries"] as! [[String: Any]]
            entries[0]["inclusionProof"] = nil
            material["tlogEntries"] = entries
            document["verificationMaterial"] = material
            return [UInt8](try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]))
        }
        #expect(!unproven.passed)
        #expect(unproven.reason.contains("v0.3 bundles need an inclusion proof in every tlog entry"), "\(unproven.reason)")
        await setup.fixture.stop()
    }
}
