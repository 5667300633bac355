/// The outcome of ``TLSEngine/readPlaintext(into:)``: TLS records (RFC 8446 section 5, RFC 5246
/// section 6.2) decrypted from the ciphertext received so far.
public enum TLSReadResult: Sendable, Equatable {
    /// This many plaintext bytes were appended to the buffer.
    case readBytes(Int)
    /// No complete record is available yet (or the handshake needs the peer's next flight): send
    /// any ``TLSEngine/takeCiphertext()`` output, then read more from the socket.
    case wantMoreCiphertext
    /// The peer sent close_notify (RFC 8446 section 6.1): no more data will come.
    case closedByPeer
    /// The connection failed (handshake refused, bad record, alert from the peer). Send any
    /// pending ciphertext (it may hold our alert), then close the socket.
    case failed(TLSError)
}
