/// The outcome of ``TLSEngine/writePlaintext(_:)``.
public enum TLSWriteResult: Sendable, Equatable {
    /// All bytes were accepted: encrypted into records now, or, while the handshake is still
    /// running, queued and encrypted as soon as it completes.
    case written
    /// The connection has failed or was shut down; nothing was written.
    case failed(TLSError)
}
