import Foundation

/// The blocks of one label in PEM text (RFC 7468): `-----BEGIN <label>-----`, base64 with any
/// whitespace, `-----END <label>-----`, text outside the blocks ignored.
///
/// Found by one pass over the UTF-8 bytes. Foundation's `range(of:)` on Linux copies the rest of
/// the string at every call, so finding each block after the last made a chain annotation of
/// 64,000 tiny blocks (1.7 MB) take 1.7 s, quadratic in its length, before anything was verified.
public enum PEMBlocks {
    /// The DER of every `label` block, in order; throws ``CertificateError/Kind/notPEM`` for a
    /// block without its end line or whose body is not base64.
    public static func der(_ label: String, in text: String) throws(CertificateError) -> [[UInt8]] {
        var blocks: [[UInt8]] = []
        try forEach(label, in: text) { body throws(CertificateError) in
            blocks.append(try decode(body))
            return true
        }
        return blocks
    }

    /// The DER of the first `label` block, or nil when there is none; the blocks after it are
    /// not read.
    public static func firstDER(_ label: String, in text: String) throws(CertificateError) -> [UInt8]? {
        var first: [UInt8]?
        try forEach(label, in: text) { body throws(CertificateError) in
            first = try decode(body)
            return false
        }
        return first
    }

    /// How many `label` blocks begin in `text`.
    public static func count(_ label: String, in text: String) -> Int {
        let begin = Array("-----BEGIN \(label)-----".utf8)
        var count = 0
        var text = text
        text.withUTF8 { bytes in
            var index = 0
            while let found = find(begin, in: bytes, from: index) {
                count += 1
                index = found + begin.count
            }
        }
        return count
    }

    private static func decode(_ body: ArraySlice<UInt8>) throws(CertificateError) -> [UInt8] {
        let base64 = body.filter { !Self.isWhitespace($0) }
        guard let data = Data(base64Encoded: Data(base64)) else { throw CertificateError(.notPEM) }
        return [UInt8](data)
    }

    /// Calls `body` with each block's body (between its BEGIN and END lines) until it returns false.
    private static func forEach(
        _ label: String, in text: String, _ body: (ArraySlice<UInt8>) throws(CertificateError) -> Bool
    ) throws(CertificateError) {
        let begin = Array("-----BEGIN \(label)-----".utf8)
        let end = Array("-----END \(label)-----".utf8)
        let bytes = Array(text.utf8)
        try bytes.withUnsafeBufferPointer { buffer throws(CertificateError) in
            var index = 0
            while let start = find(begin, in: buffer, from: index) {
                let bodyStart = start + begin.count
                guard let stop = find(end, in: buffer, from: bodyStart) else { throw CertificateError(.notPEM) }
                guard try body(bytes[bodyStart..<stop]) else { return }
                index = stop + end.count
            }
        }
    }

    /// The index of the first occurrence of `needle` in `haystack` at or after `start`.
    private static func find(_ needle: [UInt8], in haystack: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard let first = needle.first, needle.count <= haystack.count else { return nil }
        var index = start
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first {
                var matched = 1
                while matched < needle.count && haystack[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return index }
            }
            index += 1
        }
        return nil
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }
}
