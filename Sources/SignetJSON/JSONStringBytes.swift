/// The scan of a JSON string's contents (RFC 8259 section 7) that every reader of JSON bytes in
/// signet shares: the admission reader's syntax check, its response and audit writer, and
/// ``UntrustedJSON``'s gate. Inlinable: the admission reader calls it for every string of every
/// review.
public enum JSONStringBytes {
    /// The index of the first byte at or after `index` that ends a run of ordinary string bytes:
    /// a quote, a backslash or a control character (NUL included), or the end. Eight bytes at a
    /// time (SWAR: a byte-wise "less than" and "equals" on a 64-bit word), the last few one by one.
    @inlinable @inline(__always)
    public static func endOfPlainRun(_ bytes: UnsafeBufferPointer<UInt8>, from index: Int) -> Int {
        var i = index
        guard let base = UnsafeRawPointer(bytes.baseAddress) else { return i }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while i + 8 <= bytes.count {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let control = (word &- ones &* 0x20) & ~word & highs
            let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
            let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
            let special = control | ((quote &- ones) & ~quote & highs) | ((backslash &- ones) & ~backslash & highs)
            // A borrow can flag a byte above a special one, never below: the lowest flag is exact.
            if special != 0 { return i + special.trailingZeroBitCount >> 3 }
            i += 8
        }
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { return i }
            i += 1
        }
        return i
    }
}
