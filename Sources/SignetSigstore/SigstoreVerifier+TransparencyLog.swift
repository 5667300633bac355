import Foundation
import SignetCrypto

extension SigstoreVerifier {
    /// Step 1: enough entries from distinct trusted logs vouch for the bundle, as sigstore-go
    /// `VerifyTlogEntry` counts them (Sigstore client specification, "Transparency log"):
    /// - an entry from a log the trusted root does not name, or whose signed entry timestamp does
    ///   not verify (RFC 8785 canonical JSON of `{body, integratedTime, logID, logIndex}`, with the
    ///   hash the log's key details name) or lies outside the log's validity, is skipped;
    /// - an entry that is malformed, records another signature, key or artifact, or whose RFC 6962
    ///   inclusion proof or signed checkpoint does not verify refuses the bundle, as does a Rekor v2
    ///   entry whose index is not its inclusion proof's;
    /// - the same entry twice (log and index) refuses the bundle, so it cannot count twice;
    /// - verified entries are counted once per log, and each log's first SET gives one timestamp;
    /// - a Rekor v1 entry proven by inclusion alone has no time the log signed: its log's validity
    ///   is checked at the verified timestamps in step 2, as a Rekor v2 log's is (a retired log's
    ///   key could otherwise prove entries it never held).
    func verifyTransparencyLog(_ run: inout Run) throws(SigstoreVerificationFailure) -> SigstoreVerificationStep.Outcome {
        let entries = run.bundle.transparencyLogEntries
        _ = try run.signingKey()
        _ = try run.attestedSignature()
        var seen = Set<EntryKey>()
        for entry in entries where !seen.insert(EntryKey(logID: entry.logID, logIndex: entry.logIndex)).inserted {
            throw SigstoreVerificationFailure(.transparencyLog("entry \(entry.logIndex) of log \(Base64.encode(entry.logID)) appears twice"))
        }
        let now = configuration.clock()
        var details: [String] = []
        var skipped: [String] = []
        var verifiedLogs: [[UInt8]] = []
        var timestampedLogs: [[UInt8]] = []
        for entry in entries {
            guard let log = trustedRoot.transparencyLog(id: entry.logID) else {
                skipped.append("entry \(entry.logIndex) is from log \(Base64.encode(entry.logID)), which the trusted root does not name")
                continue
            }
            guard entry.inclusionPromise != nil || entry.inclusionProof != nil else {
                throw SigstoreVerificationFailure(.transparencyLog("entry \(entry.logIndex) has neither a SET nor an inclusion proof"))
            }
            if entry.isRekorV2, entry.inclusionProof == nil {
                throw SigstoreVerificationFailure(.transparencyLog("Rekor v2 entry \(entry.logIndex) has no inclusion proof"))
            }
            var evidence: [String] = []
            var integrated: Date?
            if !entry.isRekorV2, let promise = entry.inclusionPromise {
                guard log.publicKey.verify(signature: promise, message: entry.signedEntryTimestampPayload, scheme: log.signatureScheme) else {
                    skipped.append("signed entry timestamp of entry \(entry.logIndex) does not verify with the key of \(log.baseURL) (\(log.signatureScheme))")
                    continue
                }
                let time = Date(timeIntervalSince1970: TimeInterval(entry.integratedTime))
                guard log.validity.contains(time) else {
                    skipped.append("integrated time \(time.formatted(.iso8601)) of entry \(entry.logIndex) is outside the validity \(log.validity) of \(log.baseURL)")
                    continue
                }
                guard time <= now.addingTimeInterval(configuration.allowedClockSkew) else {
                    throw SigstoreVerificationFailure(.transparencyLog(
                        "integrated time \(time.formatted(.iso8601)) of entry \(entry.logIndex) is in the future"))
                }
                integrated = time
                evidence.append("SET")
            }
            if let proof = entry.inclusionProof {
                try verifyInclusion(proof, of: entry, in: log)
                evidence.append("inclusion proof at tree size \(proof.treeSize)")
            }
            try matchBody(of: entry, run: run)
            if entry.isRekorV2, !run.rekorV2Logs.contains(log) { run.rekorV2Logs.append(log) }
            if !entry.isRekorV2, integrated == nil, !run.unstampedLogs.contains(log) { run.unstampedLogs.append(log) }
            if let integrated, !timestampedLogs.contains(log.logID) {
                timestampedLogs.append(log.logID)
                run.timestamps.append(VerifiedTimestamp(time: integrated, source: .transparencyLog(log.baseURL)))
            }
            if !verifiedLogs.contains(log.logID) { verifiedLogs.append(log.logID) }
            details.append("\(log.baseURL) index \(entry.logIndex) (\(entry.kind) \(entry.kindVersion)): " + evidence.joined(separator: ", "))
        }
        let required = configuration.transparencyLogThreshold
        guard verifiedLogs.count >= required else {
            var reason = "\(verifiedLogs.count) entries from distinct trusted logs verified, \(required) required"
            if entries.isEmpty { reason += ": the bundle has no transparency log entries" }
            if !skipped.isEmpty { reason += ": " + skipped.joined(separator: "; ") }
            throw SigstoreVerificationFailure(.transparencyLog(reason))
        }
        var summary = details.joined(separator: "; ")
        if !skipped.isEmpty { summary += " (skipped: " + skipped.joined(separator: "; ") + ")" }
        return .passed(summary)
    }

    private func verifyInclusion(_ proof: TransparencyLogEntry.InclusionProof, of entry: TransparencyLogEntry, in log: TransparencyLogInstance)
        throws(SigstoreVerificationFailure)
    {
        // A Rekor v2 log has one tree: the entry's index is the leaf the proof is for. (A Rekor
        // v1 entry's index counts across the log's shards, its proof's within the active one.)
        if entry.isRekorV2, proof.logIndex != entry.logIndex {
            throw SigstoreVerificationFailure(.transparencyLog(
                "Rekor v2 entry \(entry.logIndex) carries an inclusion proof for index \(proof.logIndex)"))
        }
        let leaf = MerkleTree.leafHash(entry.canonicalizedBody)
        guard proof.logIndex < proof.treeSize,
              let root = MerkleTree.rootFromInclusionProof(
                index: UInt64(proof.logIndex), treeSize: UInt64(proof.treeSize), leafHash: leaf, proof: proof.hashes) else {
            throw SigstoreVerificationFailure(.transparencyLog("inclusion proof of entry \(entry.logIndex) is malformed"))
        }
        guard root == proof.rootHash else {
            throw SigstoreVerificationFailure(.transparencyLog(
                "inclusion proof of entry \(entry.logIndex) leads to root \(Base64.encode(root)), not \(Base64.encode(proof.rootHash))"))
        }
        guard let checkpoint = Checkpoint(proof.checkpoint) else {
            throw SigstoreVerificationFailure(.transparencyLog("checkpoint of entry \(entry.logIndex) is not a signed note with origin, size and root hash"))
        }
        guard checkpoint.treeSize == UInt64(proof.treeSize), checkpoint.rootHash == proof.rootHash else {
            throw SigstoreVerificationFailure(.transparencyLog(
                "checkpoint (size \(checkpoint.treeSize), root \(Base64.encode(checkpoint.rootHash))) does not match the inclusion proof"))
        }
        guard checkpoint.note.isSigned(keyHash: Array(log.logID.prefix(4)), key: log.publicKey, scheme: log.signatureScheme) else {
            throw SigstoreVerificationFailure(.transparencyLog("checkpoint has no valid signature by \(log.baseURL)"))
        }
    }

    /// The entry body must record this bundle's signature, key or certificate, and digest
    /// (Sigstore client specification: the log entry must match the verification material).
    private func matchBody(of entry: TransparencyLogEntry, run: Run) throws(SigstoreVerificationFailure) {
        let body = try RekorEntryBody(json: entry.canonicalizedBody)
        guard body.kind == entry.kind, body.apiVersion == entry.kindVersion else {
            throw SigstoreVerificationFailure(.entryBody("body is \(body.kind) \(body.apiVersion) but the entry says \(entry.kind) \(entry.kindVersion)"))
        }
        func verifierMatches(_ claim: RekorEntryBody.SignatureClaim) -> Bool {
            switch (run.bundle.verificationMaterial, run.policy.signer) {
            case (.certificate(let certificate), _): claim.verifier.matches(certificate: certificate)
            case (.publicKey, .publicKey(let key)): claim.verifier.matches(key: key)
            case (.publicKey, .certificateIdentities): false
            }
        }
        switch run.bundle.content {
        case .messageSignature(let message):
            guard body.kind == "hashedrekord", let logged = body.dataDigest, let claim = body.signatures.first else {
                throw SigstoreVerificationFailure(.entryBody("a message signature needs a hashedrekord entry, not \(body.kind)"))
            }
            guard claim.signature == message.signature else {
                throw SigstoreVerificationFailure(.entryBody("the logged signature is not the bundle's signature"))
            }
            guard verifierMatches(claim) else {
                throw SigstoreVerificationFailure(.entryBody("the logged key or certificate is not the bundle's"))
            }
            if let given = message.digest, given != logged {
                throw SigstoreVerificationFailure(.entryBody("the logged digest \(logged) is not the bundle's message digest \(given)"))
            }
            guard let artifact = run.policy.artifact.digest(logged.algorithm), artifact == logged else {
                throw SigstoreVerificationFailure(.entryBody("the logged digest \(logged) is not the artifact's"))
            }
        case .dsseEnvelope(let envelope):
            switch body.kind {
            case "hashedrekord":
                // Rekor v2 logs a DSSE signature as a hashedrekord over the PAE.
                guard let logged = body.dataDigest, let claim = body.signatures.first else {
                    throw SigstoreVerificationFailure(.entryBody("hashedrekord without digest or signature"))
                }
                guard logged == ArtifactDigest(of: envelope.preAuthenticationEncoding, algorithm: logged.algorithm) else {
                    throw SigstoreVerificationFailure(.entryBody("the logged digest is not the digest of the envelope's PAE"))
                }
                guard claim.signature == (try run.attestedSignature()), verifierMatches(claim) else {
                    throw SigstoreVerificationFailure(.entryBody("the logged signature or key is not the envelope's"))
                }
            case "dsse", "intoto":
                guard let logged = body.payloadDigest,
                      logged == ArtifactDigest(of: envelope.payload, algorithm: logged.algorithm) else {
                    throw SigstoreVerificationFailure(.entryBody("the logged payload hash is not the hash of the envelope's payload"))
                }
                if let type = body.payloadType, type != envelope.payloadType {
                    throw SigstoreVerificationFailure(.entryBody("the logged payload type \(type) is not the envelope's \(envelope.payloadType)"))
                }
                let signature = try run.attestedSignature()
                guard body.signatures.count == 1, body.signatures[0].signature == signature, verifierMatches(body.signatures[0]) else {
                    throw SigstoreVerificationFailure(.entryBody("the logged signature is not the envelope's signature by the bundle's key"))
                }
            default:
                throw SigstoreVerificationFailure(.entryBody("a DSSE envelope cannot be logged as \(body.kind)"))
            }
        }
    }
}

/// A transparency log entry's identity: its log and its index in that log.
private struct EntryKey: Hashable {
    var logID: [UInt8]
    var logIndex: Int64
}
