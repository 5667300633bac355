internal import CSignetOpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One OpenSSL `SSL_CTX` (`SSL_CTX_new(3)`): certificates, keys, trust and protocol settings shared by
/// the connections made from it with ``makeEngine(serverName:)``.
///
/// Server contexts speak TLS 1.2 (RFC 5246) and TLS 1.3 (RFC 8446) only, with ECDHE and AEAD cipher
/// suites for TLS 1.2 in the server's order of preference, no TLS compression, no renegotiation
/// (`SSL_OP_NO_RENEGOTIATION`), stateless session tickets (RFC 8446 section 4.6.1), ALPN
/// (RFC 7301) and, when configured, required client certificates. Certificate rotation is done by
/// making a new context; connections already open keep the context they were made from.
public final class TLSContext: @unchecked Sendable {
    // @unchecked Sendable: the SSL_CTX is fully configured in the factory methods and never changed
    // afterwards. OpenSSL reference counts an SSL_CTX and locks its shared state (session cache,
    // ticket keys), so creating SSL objects from it on several threads at once is safe
    // (openssl-threads(7)). The Swift stored properties are all `let`.
    let handle: OpaquePointer
    let isServer: Bool

    private init(handle: OpaquePointer, isServer: Bool) {
        self.handle = handle
        self.isServer = isServer
    }

    /// Subject, SHA-256 fingerprint and notAfter of the leaf certificate, for logs when
    /// certificates are loaded or reloaded: `subject=CN=localhost sha256=AB:... notAfter=2027-01-01T00:00:00Z`.
    /// "no certificate" for a client context without one.
    public var certificateSummary: String {
        Self.summarize(SSL_CTX_get0_certificate(handle))
    }

    /// The serving (leaf) certificate's `notAfter` (RFC 5280 §4.1.2.5) as seconds since the Unix
    /// epoch; `nil` without a certificate.
    public var certificateNotAfter: Int? {
        guard let certificate = SSL_CTX_get0_certificate(handle) else { return nil }
        return X509Text.epochSeconds(X509_get0_notAfter(certificate))
    }

    deinit { SSL_CTX_free(handle) }

    /// Makes a server context from `configuration`, reading its files now.
    /// - Throws: ``TLSError`` naming the file and OpenSSL's reason when a file is missing or
    ///   unreadable, holds no certificate or key, or the key does not match the certificate.
    public static func makeServer(_ configuration: TLSServerConfiguration) throws -> TLSContext {
        let alpn = try wireFormat(alpnProtocols: configuration.alpnProtocols)
        try checkReadable(configuration.certificateChainFile, what: "certificate chain file")
        try checkReadable(configuration.privateKeyFile, what: "private key file")
        if let clientCAFile = configuration.clientCAFile {
            try checkReadable(clientCAFile, what: "client CA file")
        }

        OpenSSLErrorQueue.clear()
        guard let handle = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError.resourceExhausted.with(reason: OpenSSLErrorQueue.describe("cannot create a TLS server context"))
        }
        // Owned from here on: deinit frees it if anything below throws.
        let context = TLSContext(handle: handle, isServer: true)
        try context.applyCommonSettings(
            minimum: configuration.minimumVersion.openSSLValue, maximum: TLS1_3_VERSION)
        _ = signet_SSL_CTX_set_options(handle, signet_SSL_OP_CIPHER_SERVER_PREFERENCE)
        try context.check(
            SSL_CTX_set_cipher_list(handle, tls12CipherList) == 1, .invalidConfiguration,
            "cannot set the TLS 1.2 cipher list")
        try context.loadIdentity(
            certificateChainFile: configuration.certificateChainFile, privateKeyFile: configuration.privateKeyFile)

        if let clientCAFile = configuration.clientCAFile {
            try context.loadTrustAnchors(clientCAFile, what: "client CA file")
            guard let names = SSL_load_client_CA_file(clientCAFile) else {
                throw TLSError.invalidTrustAnchors.with(
                    reason: OpenSSLErrorQueue.describe("no CA certificate names in the client CA file \(clientCAFile)"))
            }
            SSL_CTX_set_client_CA_list(handle, names)  // takes ownership of `names`
            let mode = configuration.clientCertificateMode == .required
                ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
            SSL_CTX_set_verify(handle, mode, nil)
        } else {
            SSL_CTX_set_verify(handle, SSL_VERIFY_NONE, nil)
        }

        // Sessions resume through tickets or the internal cache; the id context ties a session to
        // this server (required when client certificates are verified, SSL_CTX_set_session_id_context(3)).
        _ = signet_SSL_CTX_set_session_cache_mode(handle, Int(SSL_SESS_CACHE_SERVER))
        let sessionContext = Array("signet".utf8)
        try context.check(
            SSL_CTX_set_session_id_context(handle, sessionContext, UInt32(sessionContext.count)) == 1,
            .resourceExhausted, "cannot set the session id context")

        if !alpn.isEmpty {
            try context.check(
                signet_SSL_CTX_set_alpn_server_protocols(handle, alpn, alpn.count) == 1,
                .invalidConfiguration, "cannot set the ALPN protocols \(configuration.alpnProtocols)")
        }
        return context
    }

    /// Makes a client context. With `trustedCAFile`, the server's certificate must chain to one of
    /// its CAs and match the `serverName` given to ``makeEngine(serverName:)`` (RFC 6125);
    /// without it the server is not authenticated (tests only). `certificateChainFile` and
    /// `privateKeyFile` (both or neither) are the client certificate for mutual TLS.
    public static func makeClient(
        trustedCAFile: String?,
        certificateChainFile: String? = nil,
        privateKeyFile: String? = nil,
        alpnProtocols: [String] = ["http/1.1"],
        minimumVersion: TLSProtocolVersion = .tls1_2,
        maximumVersion: TLSProtocolVersion = .tls1_3
    ) throws -> TLSContext {
        guard minimumVersion <= maximumVersion else {
            throw TLSError.invalidConfiguration.with(
                reason: "minimum TLS version \(minimumVersion.rawValue) is above the maximum \(maximumVersion.rawValue)")
        }
        return try makeClient(
            trustedCAFile: trustedCAFile, certificateChainFile: certificateChainFile,
            privateKeyFile: privateKeyFile, alpnProtocols: alpnProtocols,
            openSSLVersions: (minimumVersion.openSSLValue, maximumVersion.openSSLValue),
            allowLegacyProtocolsUnsafe: false)
    }

    /// The client factory with raw OpenSSL version numbers. `allowLegacyProtocolsUnsafe` drops the
    /// security level to 0 so OpenSSL will offer TLS 1.0/1.1: only for tests that check the server
    /// refuses such clients.
    static func makeClient(
        trustedCAFile: String?,
        certificateChainFile: String?,
        privateKeyFile: String?,
        alpnProtocols: [String],
        openSSLVersions: (minimum: Int32, maximum: Int32),
        allowLegacyProtocolsUnsafe: Bool
    ) throws -> TLSContext {
        let alpn = try wireFormat(alpnProtocols: alpnProtocols)
        guard (certificateChainFile == nil) == (privateKeyFile == nil) else {
            throw TLSError.invalidConfiguration.with(
                reason: "a client certificate needs both a certificate chain file and a private key file")
        }
        if let trustedCAFile { try checkReadable(trustedCAFile, what: "trusted CA file") }
        if let certificateChainFile { try checkReadable(certificateChainFile, what: "certificate chain file") }
        if let privateKeyFile { try checkReadable(privateKeyFile, what: "private key file") }

        OpenSSLErrorQueue.clear()
        guard let handle = SSL_CTX_new(TLS_client_method()) else {
            throw TLSError.resourceExhausted.with(reason: OpenSSLErrorQueue.describe("cannot create a TLS client context"))
        }
        let context = TLSContext(handle: handle, isServer: false)
        if allowLegacyProtocolsUnsafe {
            SSL_CTX_set_security_level(handle, 0)
            _ = SSL_CTX_set_cipher_list(handle, "DEFAULT:@SECLEVEL=0")
        }
        try context.applyCommonSettings(minimum: openSSLVersions.minimum, maximum: openSSLVersions.maximum)
        _ = signet_SSL_CTX_set_session_cache_mode(handle, Int(SSL_SESS_CACHE_OFF))

        if let trustedCAFile {
            try context.loadTrustAnchors(trustedCAFile, what: "trusted CA file")
            SSL_CTX_set_verify(handle, SSL_VERIFY_PEER, nil)
        } else {
            SSL_CTX_set_verify(handle, SSL_VERIFY_NONE, nil)
        }
        if let certificateChainFile, let privateKeyFile {
            try context.loadIdentity(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile)
        }
        if !alpn.isEmpty {
            try context.check(
                signet_SSL_CTX_set_alpn_protos(handle, alpn, alpn.count) == 1,
                .invalidConfiguration, "cannot set the ALPN protocols \(alpnProtocols)")
        }
        return context
    }

    /// `TLS1_1_VERSION`, for tests that check a TLS 1.1 client is refused.
    static var openSSLVersionTLS1_1: Int32 { TLS1_1_VERSION }

    /// Makes the engine for one connection. For a client, `serverName` is sent as SNI (RFC 6066
    /// section 3; not for IP address literals) and is the name the server certificate must match.
    /// Servers ignore it.
    public func makeEngine(serverName: String? = nil) throws -> TLSEngine {
        try TLSEngine(context: self, serverName: isServer ? nil : serverName)
    }

    // MARK: - Building blocks

    /// TLS 1.2 suites: forward secret (ECDHE) and AEAD only (RFC 5289, RFC 7905). TLS 1.3 suites
    /// keep OpenSSL's defaults, which are all AEAD.
    private static let tls12CipherList = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    private func applyCommonSettings(minimum: Int32, maximum: Int32) throws {
        try check(
            signet_SSL_CTX_set_min_proto_version(handle, minimum) == 1, .invalidConfiguration,
            "cannot set the minimum protocol version")
        try check(
            signet_SSL_CTX_set_max_proto_version(handle, maximum) == 1, .invalidConfiguration,
            "cannot set the maximum protocol version")
        _ = signet_SSL_CTX_set_options(handle, signet_SSL_OP_NO_COMPRESSION | signet_SSL_OP_NO_RENEGOTIATION)
        // Free the read and write buffers of idle connections (SSL_CTX_set_mode(3)).
        _ = signet_SSL_CTX_set_mode(handle, Int(SSL_MODE_RELEASE_BUFFERS))
        // An encrypted key is a configuration error, never a prompt on the terminal.
        signet_SSL_CTX_disable_passphrase_prompt(handle)
    }

    private func loadIdentity(certificateChainFile: String, privateKeyFile: String) throws {
        OpenSSLErrorQueue.clear()
        try check(
            SSL_CTX_use_certificate_chain_file(handle, certificateChainFile) == 1, .invalidCertificate,
            "cannot load a PEM certificate chain from \(certificateChainFile)")
        OpenSSLErrorQueue.clear()
        if SSL_CTX_use_PrivateKey_file(handle, privateKeyFile, SSL_FILETYPE_PEM) != 1 {
            let drained = OpenSSLErrorQueue.drain()
            let detail = drained.text.isEmpty ? "" : ": \(drained.text)"
            if drained.text.contains("key values mismatch") {
                throw TLSError.privateKeyMismatch.with(
                    reason: "private key \(privateKeyFile) does not match the certificate in \(certificateChainFile)\(detail)")
            }
            throw TLSError.invalidPrivateKey.with(
                reason: "cannot load an unencrypted PEM private key from \(privateKeyFile)\(detail)")
        }
        try check(
            SSL_CTX_check_private_key(handle) == 1, .privateKeyMismatch,
            "private key \(privateKeyFile) does not match the certificate in \(certificateChainFile)")
    }

    private func loadTrustAnchors(_ file: String, what: String) throws {
        OpenSSLErrorQueue.clear()
        try check(
            SSL_CTX_load_verify_locations(handle, file, nil) == 1, .invalidTrustAnchors,
            "cannot load CA certificates from the \(what) \(file)")
    }

    /// Throws `code` with `message` and the drained error queue unless `condition` holds.
    private func check(_ condition: Bool, _ code: TLSError, _ message: String) throws {
        if condition {
            OpenSSLErrorQueue.clear()
            return
        }
        throw code.with(reason: OpenSSLErrorQueue.describe(message))
    }

    private static func checkReadable(_ path: String, what: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw TLSError.fileUnreadable.with(reason: "cannot read the \(what) \(path): \(reason)")
        }
        close(descriptor)
    }

    /// ALPN protocol names as the length-prefixed list of RFC 7301 section 3.1.
    static func wireFormat(alpnProtocols: [String]) throws -> [UInt8] {
        var wire: [UInt8] = []
        for name in alpnProtocols {
            let bytes = Array(name.utf8)
            guard (1...255).contains(bytes.count) else {
                throw TLSError.invalidConfiguration.with(
                    reason: "ALPN protocol name \"\(name)\" must be 1 to 255 bytes long")
            }
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        return wire
    }

    private static func summarize(_ certificate: OpaquePointer?) -> String {
        guard let certificate else { return "no certificate" }
        let subject = X509Text.rfc2253(X509_get_subject_name(certificate))
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let fingerprint: String
        if X509_digest(certificate, EVP_sha256(), &digest, &length) == 1 {
            fingerprint = digest.prefix(Int(length)).map(X509Text.hexByte).joined(separator: ":")
        } else {
            OpenSSLErrorQueue.clear()
            fingerprint = "unavailable"
        }
        let notAfter = X509Text.iso8601(X509_get0_notAfter(certificate)) ?? "unknown"
        return "subject=\(subject) sha256=\(fingerprint) notAfter=\(notAfter)"
    }
}
