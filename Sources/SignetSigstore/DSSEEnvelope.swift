import Foundation
import SignetCrypto
import SignetJSON

/// A DSSE envelope (secure-systems-lab/dsse `envelope.md`, protocol v1): a payload, its type and
/// signatures over the pre-authentication encoding of both.
public struct DSSEEnvelope: Sendable, Hashable {
    /// One signature (`sig`) with an optional, unauthenticated key ID hint.
    public struct Signature: Sendable, Hashable {
        public var keyID: String?
        public var signature: [UInt8]

        public init(keyID: String?, signature: [UInt8]) {
            self.keyID = keyID
            self.signature = signature
        }
    }

    public var payloadType: String
    public var payload: [UInt8]
    public var signatures: [Signature]

    public init(payloadType: String, payload: [UInt8], signatures: [Signature]) {
        self.payloadType = payloadType
        self.payload = payload
        self.signatures = signatures
    }

    /// The DSSE v1 pre-authentication encoding (`protocol.md`):
    /// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal bytes.
    public static func preAuthenticationEncoding(payloadType: String, payload: [UInt8]) -> [UInt8] {
        let type = Array(payloadType.utf8)
        return Array("DSSEv1 \(type.count) ".utf8) + type + Array(" \(payload.count) ".utf8) + payload
    }

    /// ``preAuthenticationEncoding(payloadType:payload:)`` of this envelope.
    public var preAuthenticationEncoding: [UInt8] {
        Self.preAuthenticationEncoding(payloadType: payloadType, payload: payload)
    }

    /// Verifies the envelope per DSSE `protocol.md` "Verification": the payload type must be one
    /// the caller accepts and not empty, and at least `threshold` distinct keys among `keys` must
    /// each have a valid signature over the PAE. Returns the keys that signed.
    public func verify(keys: [PublicKey], threshold: Int = 1, acceptedPayloadTypes: Set<String>? = nil) -> Result<[PublicKey], DSSEError> {
        verify(signers: keys.map { ($0, SignatureScheme()) }, threshold: threshold, acceptedPayloadTypes: acceptedPayloadTypes)
    }

    /// ``verify(keys:threshold:acceptedPayloadTypes:)`` with each key's own signature scheme
    /// (an RSA key with PSS padding, a P-384 key with SHA-384), as a deployment configures it.
    public func verify(
        signers: [(key: PublicKey, scheme: SignatureScheme)], threshold: Int = 1, acceptedPayloadTypes: Set<String>? = nil
    ) -> Result<[PublicKey], DSSEError> {
        guard !payloadType.isEmpty else { return .failure(DSSEError(.emptyPayloadType)) }
        if let acceptedPayloadTypes, !acceptedPayloadTypes.contains(payloadType) {
            return .failure(DSSEError(.unacceptedPayloadType(payloadType)))
        }
        guard !signatures.isEmpty else { return .failure(DSSEError(.noSignatures)) }
        guard signatures.count <= Self.maximumSignatures else {
            return .failure(DSSEError(.malformed("\(signatures.count) signatures, more than the \(Self.maximumSignatures) signet reads")))
        }
        let message = preAuthenticationEncoding
        // The PAE hashed once per hash algorithm, not once per key and signature (a payload may
        // be megabytes). Ed25519 signs the message itself (RFC 8032 section 5.1).
        var digests: [DigestAlgorithm: [UInt8]] = [:]
        var signed: [PublicKey] = []
        for (key, scheme) in signers where !signed.contains(key) {
            let valid: Bool
            if case .ed25519 = key.algorithm {
                valid = signatures.contains { key.verify(signature: $0.signature, message: message, scheme: scheme) }
            } else {
                let digest = digests[scheme.hash] ?? scheme.hash.hash(message)
                digests[scheme.hash] = digest
                valid = signatures.contains { key.verify(signature: $0.signature, digest: digest, scheme: scheme) }
            }
            if valid { signed.append(key) }
        }
        guard signed.count >= max(threshold, 1) else {
            return .failure(DSSEError(.thresholdNotMet(valid: signed.count, required: max(threshold, 1))))
        }
        return .success(signed)
    }

    /// The most signatures an envelope may carry. Envelopes are signed by one key, or a few for a
    /// threshold; every signature is checked against every trusted key, so without a bound an
    /// envelope of a few megabytes could carry hundreds of thousands of them.
    public static let maximumSignatures = 16

    init(_ document: Document) throws(DSSEError) {
        guard let type = document.payloadType else { throw DSSEError(.malformed("no payloadType")) }
        let given = document.signatures ?? []
        guard given.count <= Self.maximumSignatures else {
            throw DSSEError(.malformed("\(given.count) signatures, more than the \(Self.maximumSignatures) signet reads"))
        }
        guard let payload = Base64.decode(document.payload ?? "") else { throw DSSEError(.malformed("payload is not base64")) }
        var signatures: [Signature] = []
        for signature in given {
            guard let text = signature.sig, let bytes = Base64.decode(text), !bytes.isEmpty else {
                throw DSSEError(.malformed("signature is not base64"))
            }
            signatures.append(Signature(keyID: signature.keyid, signature: bytes))
        }
        self.init(payloadType: type, payload: payload, signatures: signatures)
    }

    /// Reads the JSON envelope (`envelope.md`); base64 in the standard or URL-safe alphabet.
    public init(json: [UInt8]) throws(DSSEError) {
        let document: Document
        do {
            document = try UntrustedJSON.decode(Document.self, from: json)
        } catch {
            throw DSSEError(.malformed(String(describing: error)))
        }
        try self.init(document)
    }

    struct Document: Decodable {
        struct Sig: Decodable { var sig: String?; var keyid: String? }
        var payload: String?
        var payloadType: String?
        var signatures: [Sig]?
    }
}

/// Why a DSSE envelope was not read or not verified. A struct over a private code so that new
/// reasons do not break callers.
public struct DSSEError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case malformed(String)
        case emptyPayloadType
        case unacceptedPayloadType(String)
        case noSignatures
        case thresholdNotMet(valid: Int, required: Int)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    public var description: String {
        switch code {
        case .malformed(let reason): "malformed DSSE envelope: \(reason)"
        case .emptyPayloadType: "DSSE envelope has an empty payloadType"
        case .unacceptedPayloadType(let type): "DSSE payloadType \(type) is not accepted"
        case .noSignatures: "DSSE envelope has no signatures"
        case .thresholdNotMet(let valid, let required): "DSSE envelope has \(valid) valid signature(s) by distinct trusted keys, \(required) required"
        }
    }
}
