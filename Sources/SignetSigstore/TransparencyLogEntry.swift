import Foundation
import SignetCrypto

/// A Rekor log entry as a bundle carries it (`dev.sigstore.rekor.v1.TransparencyLogEntry`,
/// sigstore/protobuf-specs `sigstore_rekor.proto`): the canonicalized entry body, where it sits in
/// the log, and the log's promise (a signed entry timestamp) and/or proof of inclusion.
public struct TransparencyLogEntry: Sendable, Hashable {
    /// The entry's index in the whole log (across shards for Rekor v1).
    public var logIndex: Int64
    /// The ID of the log that holds the entry.
    public var logID: [UInt8]
    /// The entry type, e.g. `hashedrekord`, `dsse`, `intoto`.
    public var kind: String
    /// The entry type version, e.g. `0.0.1` (Rekor v1) or `0.0.2` (Rekor v2).
    public var kindVersion: String
    /// Seconds since the epoch at which a Rekor v1 log integrated the entry; 0 for Rekor v2.
    public var integratedTime: Int64
    /// The signed entry timestamp (Rekor v1 `InclusionPromise`).
    public var inclusionPromise: [UInt8]?
    /// The Merkle inclusion proof with its signed checkpoint.
    public var inclusionProof: InclusionProof?
    /// The canonicalized entry body (RFC 8785 JSON) as the log stored it.
    public var canonicalizedBody: [UInt8]

    public init(
        logIndex: Int64, logID: [UInt8], kind: String, kindVersion: String, integratedTime: Int64,
        inclusionPromise: [UInt8]?, inclusionProof: InclusionProof?, canonicalizedBody: [UInt8]
    ) {
        self.logIndex = logIndex
        self.logID = logID
        self.kind = kind
        self.kindVersion = kindVersion
        self.integratedTime = integratedTime
        self.inclusionPromise = inclusionPromise
        self.inclusionProof = inclusionProof
        self.canonicalizedBody = canonicalizedBody
    }

    /// An RFC 6962 inclusion proof and the checkpoint (signed note) committing to its root
    /// (`dev.sigstore.rekor.v1.InclusionProof`).
    public struct InclusionProof: Sendable, Hashable {
        /// The index of the leaf in the tree the proof is for (the shard for Rekor v1).
        public var logIndex: Int64
        public var rootHash: [UInt8]
        public var treeSize: Int64
        public var hashes: [[UInt8]]
        /// The checkpoint in signed-note form (C2SP tlog-checkpoint).
        public var checkpoint: String

        public init(logIndex: Int64, rootHash: [UInt8], treeSize: Int64, hashes: [[UInt8]], checkpoint: String) {
            self.logIndex = logIndex
            self.rootHash = rootHash
            self.treeSize = treeSize
            self.hashes = hashes
            self.checkpoint = checkpoint
        }
    }

    /// Whether the entry is from a Rekor v2 log: its entry types are `hashedrekord` and `dsse`
    /// at version 0.0.2, and it has no integrated time (`intoto` 0.0.2 is a Rekor v1 type).
    public var isRekorV2: Bool { (kind == "hashedrekord" || kind == "dsse") && kindVersion == "0.0.2" }

    init(_ document: Document, index: Int) throws(SigstoreBundleError) {
        func fail(_ reason: String) -> SigstoreBundleError { SigstoreBundleError(.invalidEntry("entry \(index): \(reason)")) }
        guard let logIndex = document.logIndex?.value else { throw fail("no logIndex") }
        guard logIndex >= 0 else { throw fail("negative logIndex \(logIndex)") }
        guard let keyID = document.logId?.keyId, let logID = Base64.decode(keyID), !logID.isEmpty else { throw fail("no logId.keyId") }
        guard let kind = document.kindVersion?.kind, let version = document.kindVersion?.version else { throw fail("no kindVersion") }
        guard let bodyText = document.canonicalizedBody, let body = Base64.decode(bodyText), !body.isEmpty else {
            throw fail("no canonicalizedBody")
        }
        let integratedTime = document.integratedTime?.value ?? 0
        guard integratedTime >= 0 else { throw fail("negative integratedTime") }
        var promise: [UInt8]?
        if let promiseDocument = document.inclusionPromise {
            guard let text = promiseDocument.signedEntryTimestamp, let bytes = Base64.decode(text), !bytes.isEmpty else {
                throw fail("inclusionPromise.signedEntryTimestamp is not base64")
            }
            promise = bytes
        }
        var proof: InclusionProof?
        if let proofDocument = document.inclusionProof {
            guard let proofIndex = proofDocument.logIndex?.value, proofIndex >= 0,
                  let treeSize = proofDocument.treeSize?.value, treeSize > 0,
                  let rootText = proofDocument.rootHash, let rootHash = Base64.decode(rootText) else {
                throw fail("inclusionProof needs logIndex, treeSize and rootHash")
            }
            var hashes: [[UInt8]] = []
            for text in proofDocument.hashes ?? [] {
                guard let hash = Base64.decode(text) else { throw fail("inclusionProof.hashes is not base64") }
                hashes.append(hash)
            }
            guard let checkpoint = proofDocument.checkpoint?.envelope, !checkpoint.isEmpty else {
                throw fail("inclusionProof has no checkpoint")
            }
            proof = InclusionProof(logIndex: proofIndex, rootHash: rootHash, treeSize: treeSize, hashes: hashes, checkpoint: checkpoint)
        }
        self.init(
            logIndex: logIndex, logID: logID, kind: kind, kindVersion: version, integratedTime: integratedTime,
            inclusionPromise: promise, inclusionProof: proof, canonicalizedBody: body)
    }

    struct Document: Decodable {
        struct LogID: Decodable { var keyId: String? }
        struct KindVersion: Decodable { var kind: String?; var version: String? }
        struct Promise: Decodable { var signedEntryTimestamp: String? }
        struct Checkpoint: Decodable { var envelope: String? }
        struct Proof: Decodable {
            var logIndex: JSONInt64?
            var rootHash: String?
            var treeSize: JSONInt64?
            var hashes: [String]?
            var checkpoint: Checkpoint?
        }
        var logIndex: JSONInt64?
        var logId: LogID?
        var kindVersion: KindVersion?
        var integratedTime: JSONInt64?
        var inclusionPromise: Promise?
        var inclusionProof: Proof?
        var canonicalizedBody: String?
    }

    /// The payload a Rekor v1 signed entry timestamp signs: the RFC 8785 canonical JSON of
    /// `{body, integratedTime, logID, logIndex}` with the body in base64 and the log ID in hex
    /// (Rekor `pkg/generated/models` `LogEntryAnon`; keys in RFC 8785 order).
    public var signedEntryTimestampPayload: [UInt8] {
        let body = Base64.encode(canonicalizedBody)
        let json = #"{"body":"\#(body)","integratedTime":\#(integratedTime),"logID":"\#(Hex.encode(logID))","logIndex":\#(logIndex)}"#
        return Array(json.utf8)
    }
}
