internal import CSignetOpenSSL

/// This thread's OpenSSL error queue (`ERR_get_error(3)`), which holds the detail behind a failed
/// call. It is per thread: clear it before each OpenSSL call and drain it right after a failure,
/// so one connection's errors never show up on the next connection served by the same thread.
enum OpenSSLErrorQueue {
    struct Drained {
        /// The oldest packed error code, 0 when the queue was empty.
        var firstCode: UInt
        /// "library: reason (data); ..." or empty.
        var text: String

        var firstReason: Int32 { firstCode == 0 ? 0 : signet_ERR_get_reason(firstCode) }
    }

    /// Empties the queue. Looking costs less than clearing (which resets every slot), and the
    /// queue is almost always empty already, as every failure drains it.
    @inline(__always)
    static func clear() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }

    static func drain() -> Drained {
        var buffer = [CChar](repeating: 0, count: 2048)
        let code = buffer.withUnsafeMutableBufferPointer { signet_ERR_drain($0.baseAddress, $0.count) }
        let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return Drained(firstCode: code, text: text)
    }

    /// `message`, followed by ": " and the drained queue when it is not empty.
    static func describe(_ message: String) -> String {
        let drained = drain()
        return drained.text.isEmpty ? message : "\(message): \(drained.text)"
    }
}
