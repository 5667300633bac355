internal import CSignetOpenSSL

/// One TLS connection (RFC 8446, RFC 5246) driven entirely through two OpenSSL memory BIOs
/// (`BIO_s_mem(3)`, `SSL_set_bio(3)`): the owner feeds the bytes it read from the socket to
/// `receiveCiphertext(_:)`, and writes whatever ``takeCiphertext()``
/// returns. The engine never touches a socket and never blocks.
///
/// A typical read turn: `receiveCiphertext`, `readPlaintext` (which drives the handshake first),
/// then send `takeCiphertext()` (handshake flights, session tickets, alerts), even after `.failed`,
/// so the peer learns why. Server engines wait for a ClientHello (`SSL_set_accept_state(3)`); client
/// engines send theirs on the first `readPlaintext` or `writePlaintext` (`SSL_set_connect_state(3)`).
///
/// Errors are read from OpenSSL's per-thread error queue, which is cleared before every OpenSSL call
/// and drained after every failure, so one connection's errors never leak into another's.
public final class TLSEngine: @unchecked Sendable {
    // @unchecked Sendable: an engine is not thread-safe. It is owned by one event loop at a time and
    // may be handed over to another (moved), but is never used from two threads at once.
    private let ssl: OpaquePointer
    /// Ciphertext from the peer, read by OpenSSL. Owned by `ssl`; replaced when its buffer grew large.
    private var inbound: OpaquePointer
    /// Ciphertext for the peer, written by OpenSSL. Owned by `ssl`; replaced when its buffer grew large.
    private var outbound: OpaquePointer
    /// Set by ``receiveEndOfCiphertext()``; carried over when `inbound` is replaced.
    private var inboundEnded = false
    /// Keeps the SSL_CTX settings (and the Swift object) alive as long as the connection.
    private let context: TLSContext
    private let isClient: Bool

    private var handshakeCompleted = false
    private var handshakeStarted = false
    private var failure: TLSError?
    private var receivedCloseNotify = false
    private var sentCloseNotify = false
    /// Plaintext written before the handshake completed; encrypted as soon as it does.
    private var queuedPlaintext: [UInt8] = []

    /// Largest chunk handed to one OpenSSL call (they take `Int32`-sized lengths in places).
    private static let chunkSize = 1 << 20
    /// Plaintext read per `SSL_read_ex` call: one maximum TLS record (RFC 8446 section 5.1).
    private static let readChunkSize = 16 * 1024
    /// A drained memory BIO whose buffer is larger than this is replaced by a fresh one, so an idle
    /// connection does not keep the memory of its largest message.
    private static let retainedBufferLimit = 64 * 1024

    init(context: TLSContext, serverName: String?) throws {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.handle) else {
            throw TLSError.resourceExhausted.with(reason: OpenSSLErrorQueue.describe("cannot create a TLS connection"))
        }
        guard let inbound = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.resourceExhausted.with(reason: OpenSSLErrorQueue.describe("cannot create a memory BIO"))
        }
        guard let outbound = BIO_new(BIO_s_mem()) else {
            BIO_free(inbound)
            SSL_free(ssl)
            throw TLSError.resourceExhausted.with(reason: OpenSSLErrorQueue.describe("cannot create a memory BIO"))
        }
        // An empty inbound BIO means "retry when more arrives" (the default, -1), not end of stream.
        _ = signet_BIO_set_mem_eof_return(inbound, -1)
        SSL_set_bio(ssl, inbound, outbound)  // ssl owns both BIOs from here on
        self.ssl = ssl
        self.inbound = inbound
        self.outbound = outbound
        self.context = context
        self.isClient = !context.isServer
        if context.isServer {
            SSL_set_accept_state(ssl)
        } else {
            SSL_set_connect_state(ssl)
            if let serverName {
                if signet_is_ip_address_literal(serverName) == 0 {
                    guard signet_SSL_set_tlsext_host_name(ssl, serverName) == 1 else {
                        throw TLSError.invalidConfiguration.with(
                            reason: OpenSSLErrorQueue.describe("invalid server name \"\(serverName)\""))
                    }
                }
                guard signet_SSL_set_expected_peer_name(ssl, serverName) == 1 else {
                    throw TLSError.invalidConfiguration.with(
                        reason: OpenSSLErrorQueue.describe("invalid server name \"\(serverName)\""))
                }
            }
        }
        OpenSSLErrorQueue.clear()
    }

    deinit { SSL_free(ssl) }

    // MARK: - Ciphertext in

    /// Hands over bytes read from the socket. They are consumed by the next ``readPlaintext(into:)``.
    public func receiveCiphertext(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let length = min(remaining, Self.chunkSize)
            OpenSSLErrorQueue.clear()
            let written = BIO_write(inbound, base, Int32(length))
            guard written > 0 else {
                fail(TLSError.resourceExhausted.with(
                    reason: OpenSSLErrorQueue.describe("cannot buffer received ciphertext")))
                return
            }
            base += Int(written)
            remaining -= Int(written)
        }
    }

    /// Hands over bytes read from the socket.
    public func receiveCiphertext(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { receiveCiphertext($0) }
    }

    /// Tells the engine the socket reached end of stream: once the buffered ciphertext is used up,
    /// reads report ``TLSError/truncated`` (unless close_notify came first).
    public func receiveEndOfCiphertext() {
        inboundEnded = true
        _ = signet_BIO_set_mem_eof_return(inbound, 0)
    }

    // MARK: - Plaintext

    /// Drives the handshake if needed, then reads decrypted application data appended to `buffer`.
    public func readPlaintext(into buffer: inout [UInt8]) -> TLSReadResult {
        withUnsafeTemporaryAllocation(byteCount: Self.readChunkSize, alignment: 1) { chunk in
            readPlaintext(using: chunk) { buffer.append(contentsOf: $0) }
        }
    }

    /// Drives the handshake if needed, then decrypts application data into `scratch` (any size;
    /// one TLS record's 16 KiB is enough) and hands each piece to `deliver` before the next
    /// overwrites it. For an owner that keeps a buffer to decrypt into, so a read allocates nothing.
    public func readPlaintext(
        using scratch: UnsafeMutableRawBufferPointer, deliver: (UnsafeRawBufferPointer) -> Void
    ) -> TLSReadResult {
        defer { releaseDrainedInbound() }
        if let failure { return .failed(failure) }
        if receivedCloseNotify { return .closedByPeer }
        if !handshakeCompleted {
            switch driveHandshake() {
            case .completed: break
            case .inProgress: return .wantMoreCiphertext
            case .closed: return .closedByPeer
            case .failed(let error): return .failed(error)
            }
        }
        if case .failed(let error) = flushQueuedPlaintext() { return .failed(error) }

        var total = 0
        while true {
            var count = 0
            OpenSSLErrorQueue.clear()
            let status = SSL_read_ex(ssl, scratch.baseAddress, scratch.count, &count)
            if status == 1 && count > 0 {
                deliver(UnsafeRawBufferPointer(rebasing: scratch[..<count]))
            }
            if status == 1 {
                total += count
                continue
            }
            switch SSL_get_error(ssl, status) {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                OpenSSLErrorQueue.clear()
                return total > 0 ? .readBytes(total) : .wantMoreCiphertext
            case SSL_ERROR_ZERO_RETURN:
                OpenSSLErrorQueue.clear()
                receivedCloseNotify = true
                return total > 0 ? .readBytes(total) : .closedByPeer
            case let sslError:
                let error = classifyFailure(sslError: sslError)
                fail(error)
                // Deliver what was decrypted before the failure; the failure is reported next call.
                return total > 0 ? .readBytes(total) : .failed(error)
            }
        }
    }

    /// Encrypts all of `plaintext` into TLS records for ``takeCiphertext()``. Before the handshake
    /// has completed the bytes are queued (and a client starts its handshake).
    public func writePlaintext(_ plaintext: [UInt8]) -> TLSWriteResult {
        if let failure { return .failed(failure) }
        if sentCloseNotify {
            return .failed(TLSError.connectionClosed.with(reason: "cannot write after the TLS connection was shut down"))
        }
        if !handshakeCompleted {
            queuedPlaintext.append(contentsOf: plaintext)
            if isClient && !handshakeStarted {
                if case .failed(let error) = driveHandshake() { return .failed(error) }
            }
            return handshakeCompleted ? flushQueuedPlaintext() : .written
        }
        if case .failed(let error) = flushQueuedPlaintext() { return .failed(error) }
        return encrypt(plaintext)
    }

    // MARK: - Ciphertext out

    /// Takes the ciphertext that must be written to the socket (handshake records, application
    /// data, alerts), leaving none pending.
    public func takeCiphertext() -> [UInt8] {
        let pending = signet_BIO_pending(outbound)
        guard pending > 0 else { return [] }
        let outbound = self.outbound
        let ciphertext = [UInt8](unsafeUninitializedCapacity: pending) { storage, initialized in
            var count = 0
            OpenSSLErrorQueue.clear()
            if BIO_read_ex(outbound, storage.baseAddress, pending, &count) != 1 { count = 0 }
            initialized = count
        }
        releaseDrainedOutbound()
        return ciphertext
    }

    /// True while ciphertext waits for ``takeCiphertext()``.
    public var hasPendingCiphertext: Bool { signet_BIO_pending(outbound) > 0 }

    /// How many bytes of ciphertext wait for ``takeCiphertext()``: what a server counts against
    /// its bound on a connection's unsent output.
    public var pendingCiphertextCount: Int { signet_BIO_pending(outbound) }

    // MARK: - Shutdown

    /// Starts a clean shutdown by queueing close_notify (RFC 8446 section 6.1, `SSL_shutdown(3)`);
    /// send it with ``takeCiphertext()``. Later writes fail; reads may still see the peer's
    /// close_notify. Does nothing after a failure (no close_notify follows a fatal alert) or before
    /// the handshake completed.
    public func shutdown() {
        guard failure == nil, !sentCloseNotify else { return }
        sentCloseNotify = true
        guard handshakeCompleted else { return }
        _ = flushQueuedPlaintext()
        OpenSSLErrorQueue.clear()
        _ = SSL_shutdown(ssl)
        OpenSSLErrorQueue.clear()
    }

    // MARK: - State

    /// True once the handshake has completed (`SSL_do_handshake(3)` returned 1).
    public var isHandshakeComplete: Bool { handshakeCompleted }

    /// The application protocol chosen by ALPN (RFC 7301), when one was.
    public var negotiatedALPN: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The server name the client sent (SNI, RFC 6066 section 3), on a server engine.
    public var requestedServerName: String? {
        guard let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else { return nil }
        return String(cString: name)
    }

    /// "TLSv1.3" or "TLSv1.2" once the handshake has completed (`SSL_get_version(3)`).
    public var negotiatedProtocolVersion: String? {
        guard handshakeCompleted, let name = SSL_get_version(ssl) else { return nil }
        return String(cString: name)
    }

    /// The RFC 2253 subject of the peer's certificate when it was presented and verified: on a
    /// server with client certificates, the client's; on a client with a trusted CA file, the server's.
    public var peerCertificateSubject: String? {
        guard handshakeCompleted,
              SSL_get_verify_result(ssl) == X509_V_OK,
              let certificate = SSL_get0_peer_certificate(ssl)
        else { return nil }
        return X509Text.rfc2253(X509_get_subject_name(certificate))
    }

    /// The names the peer's verified certificate identifies it by: the subject's commonName and
    /// the subjectAltName DNS names, URIs and email addresses (RFC 5280 section 4.2.1.6). Empty
    /// when no certificate was presented or it was not verified.
    public var peerCertificateNames: [String] {
        guard handshakeCompleted,
              SSL_get_verify_result(ssl) == X509_V_OK,
              let certificate = SSL_get0_peer_certificate(ssl)
        else { return [] }
        var buffer = [CChar](repeating: 0, count: 1024)
        var length = buffer.withUnsafeMutableBufferPointer { signet_X509_identity_names(certificate, $0.baseAddress, $0.count) }
        if length > buffer.count {
            buffer = [CChar](repeating: 0, count: length)
            length = buffer.withUnsafeMutableBufferPointer { signet_X509_identity_names(certificate, $0.baseAddress, $0.count) }
        }
        let bytes = buffer.prefix(length).map { UInt8(bitPattern: $0) }
        return bytes.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
    }

    // MARK: - Internals

    private enum HandshakeProgress {
        case completed, inProgress, closed
        case failed(TLSError)
    }

    private func driveHandshake() -> HandshakeProgress {
        handshakeStarted = true
        OpenSSLErrorQueue.clear()
        let status = SSL_do_handshake(ssl)
        if status == 1 {
            handshakeCompleted = true
            OpenSSLErrorQueue.clear()
            return .completed
        }
        switch SSL_get_error(ssl, status) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            OpenSSLErrorQueue.clear()
            return .inProgress
        case SSL_ERROR_ZERO_RETURN:
            OpenSSLErrorQueue.clear()
            receivedCloseNotify = true
            return .closed
        case let sslError:
            let error = classifyFailure(sslError: sslError)
            fail(error)
            return .failed(error)
        }
    }

    private func flushQueuedPlaintext() -> TLSWriteResult {
        guard handshakeCompleted, !queuedPlaintext.isEmpty else { return .written }
        let queued = queuedPlaintext
        queuedPlaintext = []
        return encrypt(queued)
    }

    private func encrypt(_ plaintext: [UInt8]) -> TLSWriteResult {
        plaintext.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let length = min(bytes.count - offset, Self.chunkSize)
                var written = 0
                OpenSSLErrorQueue.clear()
                let status = SSL_write_ex(ssl, bytes.baseAddress! + offset, length, &written)
                if status == 1 {
                    offset += written
                    continue
                }
                let sslError = SSL_get_error(ssl, status)
                if sslError == SSL_ERROR_WANT_WRITE || sslError == SSL_ERROR_WANT_READ {
                    // A memory BIO grows instead of blocking; this means OpenSSL is stuck.
                    let error = TLSError.protocolViolation.with(
                        reason: OpenSSLErrorQueue.describe("TLS write could not make progress"))
                    fail(error)
                    return .failed(error)
                }
                let error = classifyFailure(sslError: sslError)
                fail(error)
                return .failed(error)
            }
            return .written
        }
    }

    /// Swaps a drained, oversized inbound BIO for a fresh one (`SSL_set0_rbio(3)` frees the old one).
    private func releaseDrainedInbound() {
        guard signet_BIO_pending(inbound) == 0,
              signet_BIO_mem_capacity(inbound) > Self.retainedBufferLimit,
              let fresh = BIO_new(BIO_s_mem())
        else { return }
        _ = signet_BIO_set_mem_eof_return(fresh, inboundEnded ? 0 : -1)
        SSL_set0_rbio(ssl, fresh)
        inbound = fresh
    }

    /// Swaps a drained, oversized outbound BIO for a fresh one (`SSL_set0_wbio(3)` frees the old one).
    private func releaseDrainedOutbound() {
        guard signet_BIO_pending(outbound) == 0,
              signet_BIO_mem_capacity(outbound) > Self.retainedBufferLimit,
              let fresh = BIO_new(BIO_s_mem())
        else { return }
        SSL_set0_wbio(ssl, fresh)
        outbound = fresh
    }

    /// Bytes held by the two memory BIOs' buffers (allocated, not pending).
    var bufferCapacity: Int {
        signet_BIO_mem_capacity(inbound) + signet_BIO_mem_capacity(outbound)
    }

    private func fail(_ error: TLSError) {
        if failure == nil { failure = error }
        queuedPlaintext = []
    }

    /// Turns `SSL_get_error(3)` and the drained error queue into a ``TLSError`` with a readable reason.
    private func classifyFailure(sslError: Int32) -> TLSError {
        let drained = OpenSSLErrorQueue.drain()
        let detail = drained.text.isEmpty ? "" : ": \(drained.text)"
        let reason = drained.firstReason
        let stage = handshakeCompleted ? "TLS connection failed" : "TLS handshake failed"

        if sslError == SSL_ERROR_SYSCALL && drained.firstCode == 0 {
            return TLSError.truncated.with(reason: "\(stage): the stream ended without close_notify")
        }
        switch reason {
        case SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST:
            return TLSError.plaintextHTTP.with(reason: "\(stage): the peer sent a plaintext HTTP request to a TLS port\(detail)")
        case SSL_R_UNEXPECTED_EOF_WHILE_READING:
            return TLSError.truncated.with(reason: "\(stage): the stream ended without close_notify\(detail)")
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
            return TLSError.certificateRejected.with(
                reason: "\(stage): a client certificate is required and the peer sent none\(detail)")
        case SSL_R_CERTIFICATE_VERIFY_FAILED:
            let result = SSL_get_verify_result(ssl)
            let text = X509_verify_cert_error_string(result).map { String(cString: $0) } ?? "error \(result)"
            return TLSError.certificateRejected.with(
                reason: "\(stage): the peer's certificate was rejected (\(text))\(detail)")
        case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
            return TLSError.certificateRejected.with(
                reason: "\(stage): the peer requires a client certificate\(detail)")
        case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE,
             SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN, SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED,
             SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED, SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE,
             SSL_R_TLSV1_ALERT_UNKNOWN_CA:
            return TLSError.certificateRejected.with(reason: "\(stage): the peer rejected our certificate\(detail)")
        default:
            break
        }
        if handshakeCompleted {
            return TLSError.protocolViolation.with(reason: "\(stage)\(detail)")
        }
        return TLSError.handshakeFailed.with(reason: "\(stage)\(detail)")
    }
}
