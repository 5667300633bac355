import Foundation
import SignetCrypto
import SignetTUF

/// The key types and signature methods of Notary v1 (Notary `tuf/data/keys.go` and
/// `tuf/signed/verifiers.go`), read into SignetCrypto's OpenSSL keys:
///
/// | keytype | `keyval.public` (base64) | signature methods |
/// |---|---|---|
/// | `ecdsa` | DER SubjectPublicKeyInfo (P-256) | `ecdsa`: raw `r‖s` over SHA-256 |
/// | `ecdsa-x509` | a PEM certificate holding such a key | `ecdsa` |
/// | `rsa` | DER SubjectPublicKeyInfo | `rsapss` (SHA-256, MGF1-SHA256, 32-byte salt), `rsapkcs1v15` |
/// | `rsa-x509` | a PEM certificate holding such a key | `rsapss`, `rsapkcs1v15` |
/// | `ed25519` | the 32-byte key (RFC 8032) | `eddsa` |
///
/// A key's ID is the SHA-256 of the canonical JSON of the key object; a key listed under
/// another ID is refused, so one key cannot stand in for another.
public enum NotaryKeys {
    /// A verifier for `key`, or an ``TUFError/Code/unsupportedKey`` error naming why not.
    public static func verifier(for key: TUFKey) throws(TUFError) -> any TUFSignatureVerifier {
        func unsupported(_ reason: String) -> TUFError {
            TUFError(.unsupportedKey, "key \(key.id) (\(key.keyType)): \(reason)")
        }
        guard let text = key.publicValue, let raw = Data(base64Encoded: text).map({ [UInt8]($0) }), !raw.isEmpty else {
            throw unsupported("keyval.public is not base64")
        }
        let object = JSONValue.object(["keytype": .string(key.keyType), "keyval": .object(key.keyValue)])
        guard DigestAlgorithm.sha256.hexHash(try OLPCCanonicalJSON().encode(object)) == key.id.lowercased() else {
            throw unsupported("the key ID is not the SHA-256 of the key")
        }
        let publicKey: PublicKey
        do {
            switch key.keyType {
            case "ecdsa", "rsa":
                publicKey = try PublicKey(der: raw)
            case "ed25519":
                guard raw.count == 32 else { throw unsupported("an ed25519 key is 32 bytes, this one \(raw.count)") }
                publicKey = try PublicKey(der: ed25519Prefix + raw)
            case "ecdsa-x509", "rsa-x509":
                publicKey = try Certificate(pemEncoded: String(decoding: raw, as: UTF8.self)).publicKey()
            default:
                throw unsupported("unknown key type")
            }
        } catch let error as TUFError {
            throw error
        } catch {
            throw unsupported("\(error)")
        }
        switch (key.keyType, publicKey.algorithm) {
        case ("ecdsa", .ecdsaP256), ("ecdsa-x509", .ecdsaP256), ("ecdsa", .ecdsaP384), ("ecdsa-x509", .ecdsaP384),
             ("ed25519", .ed25519):
            break
        case ("rsa", .rsa), ("rsa-x509", .rsa):
            break
        default:
            throw unsupported("the key inside is \(publicKey.algorithm)")
        }
        return NotarySignatureVerifier(key: publicKey)
    }

    /// The certificate an `ecdsa-x509` or `rsa-x509` key carries (a base64 PEM certificate in
    /// `keyval.public`); nil for other key types or a value that is not a certificate.
    public static func certificate(of key: TUFKey) -> Certificate? {
        guard key.keyType.hasSuffix("-x509"), let text = key.publicValue, let pem = Data(base64Encoded: text) else { return nil }
        return try? Certificate(pemEncoded: String(decoding: pem, as: UTF8.self))
    }

    /// `SEQUENCE { SEQUENCE { id-Ed25519 }, BIT STRING (32 bytes) }` (RFC 8410 section 4).
    static let ed25519Prefix: [UInt8] = Hex.decode("302a300506032b6570032100")!
}

/// Checks Notary v1 signatures by one key, by the signature's `method` (Notary
/// `tuf/signed/verifiers.go`): `ecdsa` (raw `r‖s`, SHA-256), `rsapss` (SHA-256, MGF1-SHA256,
/// a salt of exactly 32 bytes as Notary's `verifyPSS` requires), `rsapkcs1v15` (SHA-256) and
/// `eddsa`. A method that does not fit the key is not valid.
public struct NotarySignatureVerifier: TUFSignatureVerifier {
    public let key: PublicKey

    /// Notary signs and verifies RSA-PSS with `rsa.PSSOptions{SaltLength: sha256.Size}`: a
    /// signature with any other salt length is not Notary's and does not verify.
    static let rsaPSS = SignatureScheme(hash: .sha256, rsaPadding: .pss, pssSaltLength: 32)

    public init(key: PublicKey) {
        self.key = key
    }

    public var keyIdentity: [UInt8] { key.canonicalForm }

    public func isValid(_ signature: TUFSignature, over message: [UInt8]) -> Bool {
        isValid(signature, over: message, sha256: nil)
    }

    /// As ``isValid(_:over:)``, with the message's SHA-256 computed once by a caller that checks
    /// many signatures over it (ECDSA and RSA verify the digest; Ed25519 hashes the message itself).
    public func isValid(_ signature: TUFSignature, over message: [UInt8], sha256 digest: [UInt8]?) -> Bool {
        func verify(_ bytes: [UInt8], _ scheme: SignatureScheme) -> Bool {
            if let digest { return key.verify(signature: bytes, digest: digest, scheme: scheme) }
            return key.verify(signature: bytes, message: message, scheme: scheme)
        }
        switch (signature.method ?? "", key.algorithm) {
        case ("ecdsa", .ecdsaP256):
            return Self.derECDSA(signature.bytes, width: 32).map { verify($0, SignatureScheme(hash: .sha256)) } ?? false
        case ("ecdsa", .ecdsaP384):
            return Self.derECDSA(signature.bytes, width: 48).map { verify($0, SignatureScheme(hash: .sha256)) } ?? false
        case ("eddsa", .ed25519):
            return key.verify(signature: signature.bytes, message: message)
        case ("rsapss", .rsa):
            return verify(signature.bytes, Self.rsaPSS)
        case ("rsapkcs1v15", .rsa):
            return verify(signature.bytes, SignatureScheme(hash: .sha256, rsaPadding: .pkcs1v15))
        default:
            return false
        }
    }

    /// `r‖s` (each `width` bytes) as the DER `ECDSA-Sig-Value` OpenSSL verifies (RFC 3279
    /// section 2.2.3); nil when the length is not `2 × width`.
    static func derECDSA(_ raw: [UInt8], width: Int) -> [UInt8]? {
        guard raw.count == 2 * width else { return nil }
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var value = Array(bytes.drop(while: { $0 == 0 }))
            if value.isEmpty { value = [0] }
            if value[0] & 0x80 != 0 { value.insert(0, at: 0) }
            return [0x02] + length(value.count) + value
        }
        func length(_ count: Int) -> [UInt8] {
            count < 0x80 ? [UInt8(count)] : [0x81, UInt8(count)]
        }
        let body = integer(raw[0..<width]) + integer(raw[width...])
        return [0x30] + length(body.count) + body
    }
}
