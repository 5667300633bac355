import CSignetOpenSSL

extension PublicKey {
    /// Whether `signature` is a valid signature over a message whose `scheme.hash` digest is
    /// `digest`, for when only the digest is at hand (ECDSA per SEC 1 section 4.1.4 and RSA per
    /// RFC 8017 section 8 sign the hash). Ed25519 signs the whole message (RFC 8032 section 5.1),
    /// so it always returns false for Ed25519 keys.
    public func verify(signature: [UInt8], digest: [UInt8], scheme: SignatureScheme = SignatureScheme()) -> Bool {
        guard !signature.isEmpty, digest.count == scheme.hash.outputByteCount else { return false }
        if case .ed25519 = algorithm { return false }
        guard let context = EVP_PKEY_CTX_new(key, nil) else { return false }
        defer {
            EVP_PKEY_CTX_free(context)
            ERR_clear_error()
        }
        guard EVP_PKEY_verify_init(context) == 1,
              EVP_PKEY_CTX_set_signature_md(context, scheme.hash.evpMessageDigest) == 1 else { return false }
        if case .rsa = algorithm {
            switch scheme.rsaPadding {
            case .pkcs1v15:
                guard EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PADDING) == 1 else { return false }
            case .pss:
                guard EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PSS_PADDING) == 1,
                      EVP_PKEY_CTX_set_rsa_pss_saltlen(context, scheme.openSSLSaltLength) == 1,
                      EVP_PKEY_CTX_set_rsa_mgf1_md(context, scheme.hash.evpMessageDigest) == 1 else { return false }
            }
        }
        let status = signature.withUnsafeBufferPointer { signatureBuffer in
            digest.withUnsafeBufferPointer { digestBuffer in
                EVP_PKEY_verify(context, signatureBuffer.baseAddress, signatureBuffer.count, digestBuffer.baseAddress, digestBuffer.count)
            }
        }
        return status == 1
    }
}
