import Foundation
import SignetCrypto
import SignetJSON

/// What a Rekor entry body says was logged, reduced to what a verifier compares with the bundle:
/// digests, signatures and the keys or certificates that made them.
///
/// Reads the canonicalized bodies of Rekor's entry types (sigstore/rekor `pkg/types`):
/// `hashedrekord` 0.0.1, `dsse` 0.0.1 and `intoto` 0.0.2 (Rekor v1), and `hashedrekord` 0.0.2
/// and `dsse` 0.0.2 (Rekor v2, sigstore/rekor-tiles `rekor/v2/entry.proto`).
public struct RekorEntryBody: Sendable, Hashable {
    /// A key or certificate as the entry names it.
    public enum Verifier: Sendable, Hashable {
        /// A DER certificate.
        case certificate([UInt8])
        /// A DER SubjectPublicKeyInfo.
        case publicKey([UInt8])

        /// Whether this names `certificate` (or its key, for a key-only entry). Keys are compared
        /// as keys (``PublicKey/canonicalForm``), not as DER: an EC point the entry records
        /// compressed and the certificate carries uncompressed is one key.
        func matches(certificate: Certificate) -> Bool {
            switch self {
            case .certificate(let der): der == certificate.derEncoded
            case .publicKey(let der): Self.key(der: der).map { key in (try? certificate.publicKey()) == key } ?? false
            }
        }

        /// Whether this names `key`, in whatever encoding the entry and the policy wrote it
        /// (``PublicKey`` equality: an EC point compressed or not, RSA under either identifier).
        func matches(key: PublicKey) -> Bool {
            switch self {
            case .certificate(let der): (try? Certificate(derEncoded: der)).flatMap { try? $0.publicKey() } == key
            case .publicKey(let der): Self.key(der: der) == key
            }
        }

        private static func key(der: [UInt8]) -> PublicKey? {
            try? PublicKey(der: der)
        }
    }

    /// A signature and its verifier.
    public struct SignatureClaim: Sendable, Hashable {
        public var signature: [UInt8]
        public var verifier: Verifier
    }

    public var kind: String
    public var apiVersion: String
    /// `hashedrekord`: the digest of the signed data.
    public var dataDigest: ArtifactDigest?
    /// `dsse`, `intoto`: the digest of the envelope payload.
    public var payloadDigest: ArtifactDigest?
    /// `intoto`: the envelope payload type, when recorded.
    public var payloadType: String?
    public var signatures: [SignatureClaim]

    /// Parses a canonicalized body.
    public init(json body: [UInt8]) throws(SigstoreVerificationFailure) {
        func fail(_ reason: String) -> SigstoreVerificationFailure { SigstoreVerificationFailure(.entryBody(reason)) }
        guard let object = try? UntrustedJSON.object(body) as? [String: Any],
              let kind = object["kind"] as? String, let apiVersion = object["apiVersion"] as? String,
              let spec = object["spec"] as? [String: Any] else {
            throw fail("not a JSON object with kind, apiVersion and spec")
        }
        self.kind = kind
        self.apiVersion = apiVersion
        signatures = []
        switch (kind, apiVersion) {
        case ("hashedrekord", "0.0.1"):
            guard let data = spec["data"] as? [String: Any], let hash = data["hash"] as? [String: Any],
                  let signature = spec["signature"] as? [String: Any],
                  let content = (signature["content"] as? String).flatMap(Base64.decode),
                  let keyContent = ((signature["publicKey"] as? [String: Any])?["content"] as? String).flatMap(Base64.decode),
                  let verifier = Self.verifier(pem: keyContent) else {
                throw fail("hashedrekord 0.0.1 without data.hash, signature.content or signature.publicKey")
            }
            dataDigest = try Self.hexDigest(hash, kind: kind)
            signatures = [SignatureClaim(signature: content, verifier: verifier)]
        case ("hashedrekord", "0.0.2"):
            guard let entry = spec["hashedRekordV002"] as? [String: Any], let data = entry["data"] as? [String: Any],
                  let signature = entry["signature"] as? [String: Any],
                  let content = (signature["content"] as? String).flatMap(Base64.decode),
                  let verifier = Self.verifier(v2: signature["verifier"]) else {
                throw fail("hashedrekord 0.0.2 without data, signature.content or signature.verifier")
            }
            dataDigest = try Self.base64Digest(data, kind: kind)
            signatures = [SignatureClaim(signature: content, verifier: verifier)]
        case ("dsse", "0.0.1"):
            guard let payloadHash = spec["payloadHash"] as? [String: Any], let claims = spec["signatures"] as? [[String: Any]] else {
                throw fail("dsse 0.0.1 without payloadHash or signatures")
            }
            payloadDigest = try Self.hexDigest(payloadHash, kind: kind)
            for claim in claims {
                guard let signature = (claim["signature"] as? String).flatMap(Base64.decode),
                      let verifier = (claim["verifier"] as? String).flatMap(Base64.decode).flatMap(Self.verifier(pem:)) else {
                    throw fail("dsse 0.0.1 signature without signature or verifier")
                }
                signatures.append(SignatureClaim(signature: signature, verifier: verifier))
            }
        case ("dsse", "0.0.2"):
            guard let entry = spec["dsseV002"] as? [String: Any], let payloadHash = entry["payloadHash"] as? [String: Any],
                  let claims = entry["signatures"] as? [[String: Any]] else {
                throw fail("dsse 0.0.2 without payloadHash or signatures")
            }
            payloadDigest = try Self.base64Digest(payloadHash, kind: kind)
            for claim in claims {
                guard let signature = (claim["content"] as? String).flatMap(Base64.decode),
                      let verifier = Self.verifier(v2: claim["verifier"]) else {
                    throw fail("dsse 0.0.2 signature without content or verifier")
                }
                signatures.append(SignatureClaim(signature: signature, verifier: verifier))
            }
        case ("intoto", "0.0.2"):
            guard let content = spec["content"] as? [String: Any], let envelope = content["envelope"] as? [String: Any],
                  let payloadHash = content["payloadHash"] as? [String: Any],
                  let claims = envelope["signatures"] as? [[String: Any]] else {
                throw fail("intoto 0.0.2 without content.envelope.signatures or content.payloadHash")
            }
            payloadDigest = try Self.hexDigest(payloadHash, kind: kind)
            payloadType = envelope["payloadType"] as? String
            for claim in claims {
                // intoto 0.0.2 stores the envelope's base64 strings base64-encoded once more; a
                // value that is not doubly encoded is kept as is and will not match.
                guard let signatureText = (claim["sig"] as? String).flatMap(Base64.decode),
                      let verifier = (claim["publicKey"] as? String).flatMap(Base64.decode).flatMap(Self.verifier(pem:)) else {
                    throw fail("intoto 0.0.2 signature without sig or publicKey")
                }
                let signature = Base64.decode(String(decoding: signatureText, as: UTF8.self)) ?? signatureText
                signatures.append(SignatureClaim(signature: signature, verifier: verifier))
            }
        default:
            throw fail("unsupported entry type \(kind) \(apiVersion)")
        }
    }

    private static func hexDigest(_ object: [String: Any], kind: String) throws(SigstoreVerificationFailure) -> ArtifactDigest {
        guard let name = object["algorithm"] as? String, let algorithm = ArtifactDigest.algorithm(protobufName: name),
              let value = (object["value"] as? String).flatMap(Hex.decode), value.count == algorithm.outputByteCount else {
            throw SigstoreVerificationFailure(.entryBody("\(kind) digest is not an algorithm and hex value"))
        }
        return ArtifactDigest(algorithm: algorithm, value: value)
    }

    private static func base64Digest(_ object: [String: Any], kind: String) throws(SigstoreVerificationFailure) -> ArtifactDigest {
        guard let name = object["algorithm"] as? String, let algorithm = ArtifactDigest.algorithm(protobufName: name),
              let value = (object["digest"] as? String).flatMap(Base64.decode), value.count == algorithm.outputByteCount else {
            throw SigstoreVerificationFailure(.entryBody("\(kind) digest is not an algorithm and base64 value"))
        }
        return ArtifactDigest(algorithm: algorithm, value: value)
    }

    private static func verifier(pem bytes: [UInt8]) -> Verifier? {
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains("-----BEGIN CERTIFICATE-----") {
            return (try? Certificate(pemEncoded: text)).map { .certificate($0.derEncoded) }
        }
        if text.contains("-----BEGIN PUBLIC KEY-----") {
            return (try? PublicKey(pem: text)).map { .publicKey($0.subjectPublicKeyInfo) }
        }
        return nil
    }

    private static func verifier(v2 value: Any?) -> Verifier? {
        guard let object = value as? [String: Any] else { return nil }
        if let raw = ((object["x509Certificate"] as? [String: Any])?["rawBytes"] as? String).flatMap(Base64.decode) {
            return .certificate(raw)
        }
        if let raw = ((object["publicKey"] as? [String: Any])?["rawBytes"] as? String).flatMap(Base64.decode) {
            return .publicKey(raw)
        }
        return nil
    }
}
