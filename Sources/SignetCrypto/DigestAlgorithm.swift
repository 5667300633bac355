import CSignetOpenSSL

/// A cryptographic hash function used for content addressing and signatures.
///
/// The OCI image specification (image-spec v1.1, "Digests") registers `sha256` and `sha512` as
/// digest algorithms; `sha384` is here for ECDSA P-384 signatures. Hashing goes through OpenSSL's
/// EVP interface (`EVP_Digest`), which picks the fastest implementation for the CPU.
public enum DigestAlgorithm: String, Sendable, Hashable, CaseIterable {
    case sha256
    case sha384
    case sha512

    /// The length of the hash value in bytes.
    public var outputByteCount: Int {
        switch self {
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }

    /// Hashes `bytes` in one call.
    public func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        if let result = bytes.withContiguousStorageIfAvailable({ hash(buffer: UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { hash(buffer: $0) }
    }

    /// Hashes `bytes` and returns the lowercase hexadecimal form used in OCI digests.
    public func hexHash(_ bytes: some Sequence<UInt8>) -> String {
        Hex.encode(hash(bytes))
    }

    private func hash(buffer: UnsafeRawBufferPointer) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let status = output.withUnsafeMutableBufferPointer { out in
            EVP_Digest(buffer.baseAddress, buffer.count, out.baseAddress, &length, evpMessageDigest, nil)
        }
        // EVP_Digest fails only on allocation failure or an unavailable built-in algorithm.
        precondition(status == 1, "EVP_Digest(\(rawValue)) failed")
        return Array(output.prefix(Int(length)))
    }

    var evpMessageDigest: OpaquePointer? {
        switch self {
        case .sha256: EVP_sha256()
        case .sha384: EVP_sha384()
        case .sha512: EVP_sha512()
        }
    }
}

/// Lowercase hexadecimal encoding of bytes (RFC 4648 section 8, "base16").
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Encodes `bytes` as lowercase hexadecimal.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var result = [UInt8]()
        result.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            result.append(digits[Int(byte >> 4)])
            result.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// Decodes hexadecimal (either case); nil when `text` is not an even run of hex digits.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var result = [UInt8]()
        result.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            result.append(high << 4 | low)
            index += 2
        }
        return result
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
