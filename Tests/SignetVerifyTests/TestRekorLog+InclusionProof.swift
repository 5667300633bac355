import Foundation
import SignetCrypto
import SignetRegistry
import SignetTestSupport

/// Rekor v1 entries proven by inclusion rather than promised: the entry is one leaf of an RFC 6962
/// Merkle tree whose other leaves are bodies of other entries, with the audit path to the root and
/// a checkpoint (C2SP `tlog-checkpoint`, a signed note) over that root signed by the log key, as a
/// v0.3 bundle's `tlogEntries` element carries them (`inclusionProof` with `checkpoint.envelope`).
/// The tree is computed here from RFC 6962 section 2.1, independently of the verifier's code.
extension TestRekorLog {
    /// RFC 6962 section 2.1: `SHA-256(0x00 || leaf)`.
    static func leafHash(_ leaf: [UInt8]) -> [UInt8] { DigestAlgorithm.sha256.hash([0x00] + leaf) }

    /// RFC 6962 section 2.1: `SHA-256(0x01 || left || right)`.
    static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] { DigestAlgorithm.sha256.hash([0x01] + left + right) }

    /// The largest power of two below `count` (RFC 6962 section 2.1's k).
    static func split(_ count: Int) -> Int {
        var k = 1
        while k * 2 < count { k *= 2 }
        return k
    }

    /// MTH(D[n]) of RFC 6962 section 2.1.
    static func treeHash(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        if leaves.count == 1 { return leafHash(leaves.first!) }
        let k = split(leaves.count)
        return nodeHash(treeHash(leaves.prefix(k)), treeHash(leaves.dropFirst(k)))
    }

    /// PATH(m, D[n]) of RFC 6962 section 2.1.1.
    static func auditPath(_ index: Int, _ leaves: ArraySlice<[UInt8]>) -> [[UInt8]] {
        if leaves.count <= 1 { return [] }
        let k = split(leaves.count)
        if index < k {
            return auditPath(index, leaves.prefix(k)) + [treeHash(leaves.dropFirst(k))]
        }
        return auditPath(index - k, leaves.dropFirst(k)) + [treeHash(leaves.prefix(k))]
    }

    /// What to break in a proven entry, one thing at a time.
    enum ProofTampering {
        case none
        /// One bit of the first audit path hash flipped.
        case flippedPathHash
        /// The checkpoint signed by `key` instead of the log.
        case checkpointSignedBy(TestSigningKey)
        /// The checkpoint commits to another tree (another root), correctly signed by the log.
        case checkpointOfAnotherTree
    }

    /// A signed checkpoint for a tree of `size` leaves with `root` (signature line: the log's
    /// name, then base64 of the first four bytes of the log ID and the signature).
    func checkpoint(size: Int, root: [UInt8], signer: TestSigningKey? = nil) async throws -> String {
        let body = "rekor.signet.test - 1\n\(size)\n\(Data(root).base64EncodedString())\n"
        let signature = try await (signer ?? key).signature(over: Array(body.utf8))
        return body + "\n\u{2014} rekor.signet.test \(Data(Array(logID.prefix(4)) + signature).base64EncodedString())\n"
    }

    /// A v0.3 bundle's tlog entry of `kind` 0.0.1 for the canonicalized `body`, proven by
    /// inclusion at index 2 of a five-leaf tree, with no signed entry timestamp (so the proof and
    /// its checkpoint are the only evidence), broken as `tampering` says.
    func provenEntry(kind: String, body: [UInt8], tampering: ProofTampering = .none) async throws -> [String: Any] {
        let index = 2
        var leaves: [[UInt8]] = (0..<5).map { Array(#"{"other entry":\#($0)}"#.utf8) }
        leaves[index] = body
        let root = Self.treeHash(leaves[...])
        var path = Self.auditPath(index, leaves[...])
        var checkpointText = try await checkpoint(size: leaves.count, root: root)
        switch tampering {
        case .none:
            break
        case .flippedPathHash:
            path[0][0] ^= 0x01
        case .checkpointSignedBy(let forger):
            checkpointText = try await checkpoint(size: leaves.count, root: root, signer: forger)
        case .checkpointOfAnotherTree:
            checkpointText = try await checkpoint(size: leaves.count, root: Self.treeHash(leaves.dropLast()))
        }
        return [
            "logIndex": "\(index)", "logId": ["keyId": Data(logID).base64EncodedString()],
            "kindVersion": ["kind": kind, "version": "0.0.1"], "integratedTime": "\(Self.integratedTime)",
            "inclusionProof": [
                "logIndex": "\(index)", "rootHash": Data(root).base64EncodedString(), "treeSize": "\(leaves.count)",
                "hashes": path.map { Data($0).base64EncodedString() }, "checkpoint": ["envelope": checkpointText],
            ],
            "canonicalizedBody": Data(body).base64EncodedString(),
        ]
    }

    /// A `dsse` 0.0.1 entry body (Rekor `types/dsse`) for an envelope of `payload` whose one
    /// signature is `signature` by `signer`.
    static func dsseBody(payload: [UInt8], envelope: [UInt8], signature: [UInt8], signer: TestSigningKey) -> [UInt8] {
        let verifier = Data(signer.publicKeyPEM.utf8).base64EncodedString()
        return Array("""
            {"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha256","value":"\(Hex.encode(DigestAlgorithm.sha256.hash(envelope)))"},\
            "payloadHash":{"algorithm":"sha256","value":"\(Hex.encode(DigestAlgorithm.sha256.hash(payload)))"},\
            "signatures":[{"signature":"\(Data(signature).base64EncodedString())","verifier":"\(verifier)"}]}}
            """.utf8)
    }

    /// A cosign 3 v0.3 DSSE bundle of `statement` signed by `key`, its entry proven by inclusion
    /// in this log and broken as `tampering` says.
    func provenDSSEBundle(statement: [UInt8], key: TestSigningKey, tampering: ProofTampering = .none) async throws -> [UInt8] {
        let payloadType = "application/vnd.in-toto+json"
        let pae = Array("DSSEv1 \(payloadType.utf8.count) \(payloadType) \(statement.count) ".utf8) + statement
        let signature = try await key.signature(over: pae)
        let envelope: [String: Any] = [
            "payload": Data(statement).base64EncodedString(), "payloadType": payloadType,
            "signatures": [["sig": Data(signature).base64EncodedString(), "keyid": ""]],
        ]
        let envelopeJSON = [UInt8](try JSONSerialization.data(withJSONObject: envelope, options: [.sortedKeys]))
        let body = Self.dsseBody(payload: statement, envelope: envelopeJSON, signature: signature, signer: key)
        let bundle: [String: Any] = [
            "mediaType": KeyBundle.mediaType,
            "verificationMaterial": ["publicKey": ["hint": "test-key"], "tlogEntries": [try await provenEntry(kind: "dsse", body: body, tampering: tampering)]],
            "dsseEnvelope": envelope,
        ]
        return [UInt8](try JSONSerialization.data(withJSONObject: bundle, options: [.sortedKeys]))
    }
}
