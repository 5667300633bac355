import Foundation
import SignetCrypto

extension SigstoreVerifier {
    /// Step 1: every entry is from a trusted log, its body matches the bundle, and the log
    /// vouches for it: a Rekor v1 signed entry timestamp over the RFC 8785 canonical JSON of
    /// `{body, integratedTime, logID, logIndex}` and/or an RFC 6962 inclusion proof whose root a
    /// signed checkpoint commits to (Sigstore client specification, "Transparency log").
    func verifyTransparencyLog(_ run: inout Run) throws(SigstoreVerificationFailure) -> SigstoreVerificationStep.Outcome {
        let entries = run.bundle.transparencyLogEntries
        guard entries.count >= configuration.transparencyLogThreshold else {
            throw SigstoreVerificationFailure(.transparencyLog(
                "\(entries.count) entries, \(configuration.transparencyLogThreshold) required"))
        }
        _ = try run.signingKey()
        _ = try run.attestedSignature()
        let now = configuration.clock()
        var details: [String] = []
        for entry in entries {
            guard let log = trustedRoot.transparencyLog(id: entry.logID) else {
                throw SigstoreVerificationFailure(.transparencyLog(
                    "entry \(entry.logIndex) is from log \(Base64.encode(entry.logID)), which the trusted root does not name"))
            }
            try matchBody(of: entry, run: run)
            var evidence: [String] = []
            if entry.isRekorV2 {
                guard entry.inclusionProof != nil else {
                    throw SigstoreVerificationFailure(.transparencyLog("Rekor v2 entry \(entry.logIndex) has no inclusion proof"))
                }
                run.rekorV2Logs.append(log)
            } else if let promise = entry.inclusionPromise {
                guard log.publicKey.verify(signature: promise, message: entry.signedEntryTimestampPayload) else {
                    throw SigstoreVerificationFailure(.transparencyLog(
                        "signed entry timestamp of entry \(entry.logIndex) does not verify with the key of \(log.baseURL)"))
                }
                let integrated = Date(timeIntervalSince1970: TimeInterval(entry.integratedTime))
                guard integrated <= now.addingTimeInterval(configuration.allowedClockSkew) else {
                    throw SigstoreVerificationFailure(.transparencyLog(
                        "integrated time \(integrated.formatted(.iso8601)) of entry \(entry.logIndex) is in the future"))
                }
                guard log.validity.contains(integrated) else {
                    throw SigstoreVerificationFailure(.transparencyLog(
                        "integrated time \(integrated.formatted(.iso8601)) is outside the validity \(log.validity) of \(log.baseURL)"))
                }
                run.timestamps.append(VerifiedTimestamp(time: integrated, source: .transparencyLog(log.baseURL)))
                evidence.append("SET")
            }
            if let proof = entry.inclusionProof {
                try verifyInclusion(proof, of: entry, in: log)
                evidence.append("inclusion proof at tree size \(proof.treeSize)")
            }
            guard !evidence.isEmpty || entry.isRekorV2 else {
                throw SigstoreVerificationFailure(.transparencyLog("entry \(entry.logIndex) has neither a SET nor an inclusion proof"))
            }
            details.append("\(log.baseURL) index \(entry.logIndex) (\(entry.kind) \(entry.kindVersion)): " + evidence.joined(separator: ", "))
        }
        return .passed(details.joined(separator: "; "))
    }

    private func verifyInclusion(_ proof: TransparencyLogEntry.InclusionProof, of entry: TransparencyLogEntry, in log: TransparencyLogInstance)
        throws(SigstoreVerificationFailure)
    {
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
        guard checkpoint.note.isSigned(keyHash: Array(log.logID.prefix(4)), key: log.publicKey) else {
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
