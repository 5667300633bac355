import Foundation
import SignetCrypto
import SignetRegistry
import SignetTestSupport

/// A Rekor v1 log of the test's own: a P-256 log key in a custom `trusted_root.json`, and signed
/// entry timestamps over `hashedrekord` 0.0.1 entries (Rekor `types/hashedrekord`; the SET is the
/// log's ECDSA signature over the RFC 8785 JSON of `{body, integratedTime, logID, logIndex}`), in
/// the two forms cosign writes: the `dev.sigstore.cosign/bundle` annotation of a `.sig` layer, and
/// a v0.1 bundle's `tlogEntries`.
struct TestRekorLog {
    /// 2026-01-01T00:00:00Z; the tests pin their clock after it.
    static let integratedTime: Int64 = 1_767_225_600
    static let baseURL = "https://rekor.signet.test"

    let key: TestSigningKey

    static func make(slot: Int = 7) async throws -> TestRekorLog {
        TestRekorLog(key: try await TestSigningKey.generate(.ecP256, slot: slot))
    }

    var logID: [UInt8] { DigestAlgorithm.sha256.hash((try? key.publicKey().subjectPublicKeyInfo) ?? []) }

    /// A trusted root naming this log only.
    func trustedRootJSON() throws -> String {
        let spki = try key.publicKey().subjectPublicKeyInfo
        return """
            {"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{"baseUrl":"\(Self.baseURL)",\
            "hashAlgorithm":"SHA2_256","publicKey":{"rawBytes":"\(Data(spki).base64EncodedString())","keyDetails":"PKIX_ECDSA_P256_SHA_256",\
            "validFor":{"start":"2025-01-01T00:00:00Z"}},"logId":{"keyId":"\(Data(logID).base64EncodedString())"}}],\
            "certificateAuthorities":[],"ctlogs":[],"timestampAuthorities":[]}
            """
    }

    /// One logged entry: `signature` by `signer` over data whose SHA-256 is `digest`.
    struct Entry {
        var body: String
        var logIndex: Int64
        var logIDHex: String
        var signedEntryTimestamp: String
        /// The body's kind (`hashedrekord`, `dsse`).
        var kind = "hashedrekord"

        /// cosign's `dev.sigstore.cosign/bundle` annotation.
        var cosignAnnotation: String {
            """
            {"SignedEntryTimestamp":"\(signedEntryTimestamp)","Payload":{"body":"\(body)","integratedTime":\(TestRekorLog.integratedTime),\
            "logIndex":\(logIndex),"logID":"\(logIDHex)"}}
            """
        }

        /// The entry as a v0.1 bundle's `tlogEntries` element.
        var bundleEntry: [String: Any] {
            [
                "logIndex": "\(logIndex)", "logId": ["keyId": Data(Hex.decode(logIDHex)!).base64EncodedString()],
                "kindVersion": ["kind": kind, "version": "0.0.1"], "integratedTime": "\(TestRekorLog.integratedTime)",
                "inclusionPromise": ["signedEntryTimestamp": signedEntryTimestamp], "canonicalizedBody": body,
            ]
        }
    }

    /// Logs `signature` by `signer` over data of SHA-256 `digest`; `setKey` signs the SET
    /// instead of the log's key when given (a forgery); `loggedKeyPEM` is the key the entry
    /// records when given (the signer's key in another encoding, or another key).
    func log(
        signature: [UInt8], digest: [UInt8], signer: TestSigningKey, logIndex: Int64 = 7, setKey: TestSigningKey? = nil, loggedKeyPEM: String? = nil
    ) async throws -> Entry {
        let pem = Data((loggedKeyPEM ?? signer.publicKeyPEM).utf8).base64EncodedString()
        let body = """
            {"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"\(Hex.encode(digest))"}},\
            "signature":{"content":"\(Data(signature).base64EncodedString())","publicKey":{"content":"\(pem)"}}}}
            """
        return try await entry(body: body, logIndex: logIndex, setKey: setKey)
    }

    /// Logs a DSSE envelope's `signature` by `signer` as a `dsse` 0.0.1 entry (Rekor
    /// `types/dsse`: the hashes of the envelope and of its payload, the signature and the
    /// signer's PEM key), as `cosign attest` logs an attestation.
    func logDSSE(envelope: [UInt8], payload: [UInt8], signature: [UInt8], signer: TestSigningKey, logIndex: Int64 = 8) async throws -> Entry {
        let pem = Data(signer.publicKeyPEM.utf8).base64EncodedString()
        let body = """
            {"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha256","value":"\(DigestAlgorithm.sha256.hexHash(envelope))"},\
            "payloadHash":{"algorithm":"sha256","value":"\(DigestAlgorithm.sha256.hexHash(payload))"},\
            "signatures":[{"signature":"\(Data(signature).base64EncodedString())","verifier":"\(pem)"}]}}
            """
        var logged = try await entry(body: body, logIndex: logIndex, setKey: nil)
        logged.kind = "dsse"
        return logged
    }

    /// The entry of `body` at `logIndex`, its SET signed by the log's key or `setKey`.
    private func entry(body: String, logIndex: Int64, setKey: TestSigningKey?) async throws -> Entry {
        let encodedBody = Data(body.utf8).base64EncodedString()
        let logIDHex = Hex.encode(logID)
        let promise = #"{"body":"\#(encodedBody)","integratedTime":\#(Self.integratedTime),"logID":"\#(logIDHex)","logIndex":\#(logIndex)}"#
        let set = try await (setKey ?? key).signature(over: Array(promise.utf8))
        return Entry(body: encodedBody, logIndex: logIndex, logIDHex: logIDHex, signedEntryTimestamp: Data(set).base64EncodedString())
    }

    /// The DSSE envelope (JSON, keys sorted) cosign 3 makes of `statement` with `signature`
    /// over its PAE.
    static func envelope(of statement: [UInt8], signature: [UInt8]) throws -> (object: [String: Any], json: [UInt8]) {
        let envelope: [String: Any] = [
            "payload": Data(statement).base64EncodedString(), "payloadType": "application/vnd.in-toto+json",
            "signatures": [["sig": Data(signature).base64EncodedString(), "keyid": ""]],
        ]
        return (envelope, [UInt8](try JSONSerialization.data(withJSONObject: envelope, options: [.sortedKeys])))
    }

    /// A v0.1 DSSE bundle (managed key) of `statement` with `signature`, and `entry`.
    static func dsseBundle(statement: [UInt8], signature: [UInt8], entry: Entry) throws -> [UInt8] {
        let bundle: [String: Any] = [
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
            "verificationMaterial": ["publicKey": ["hint": "release"], "tlogEntries": [entry.bundleEntry]],
            "dsseEnvelope": try envelope(of: statement, signature: signature).object,
        ]
        return [UInt8](try JSONSerialization.data(withJSONObject: bundle, options: [.sortedKeys]))
    }
}
