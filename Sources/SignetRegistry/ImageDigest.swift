/// A content digest as it appears in an image reference or a manifest descriptor.
///
/// Implements the `digest` production of the distribution reference grammar
/// (github.com/distribution/reference, `reference.go`) and the algorithm rules of the
/// OCI image specification, "Digests" (`descriptor.md`):
///
/// ```
/// digest            := algorithm ":" encoded
/// algorithm         := algorithm-component (algorithm-separator algorithm-component)*
/// algorithm-component := [A-Za-z][A-Za-z0-9]*
/// algorithm-separator := [+._-]
/// encoded           := [0-9a-fA-F]{32,}
/// ```
///
/// The registered algorithms are checked strictly: `sha256` needs exactly 64 and `sha512`
/// exactly 128 lowercase hexadecimal characters. Other algorithms are accepted by the
/// generic grammar so that a reference naming one still parses; verification decides later
/// whether it can use them.
public struct ImageDigest: Sendable, Hashable, CustomStringConvertible, Codable {
    /// The algorithm, e.g. `sha256`.
    public let algorithm: String
    /// The encoded (hexadecimal) part, e.g. 64 characters for `sha256`.
    public let encoded: String

    /// Parses `algorithm:encoded`.
    ///
    /// - Throws: ``ImageReferenceError`` naming the input when the digest is empty, has no
    ///   algorithm, an invalid algorithm, non-hexadecimal characters or the wrong length.
    public init(parsing input: String) throws(ImageReferenceError) {
        var copy = input
        let result = copy.withUTF8 { bytes -> Result<ImageDigest, ImageReferenceError> in
            do throws(ImageReferenceError) {
                return .success(try Self.parse(bytes[...], input: input))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    init(uncheckedAlgorithm algorithm: String, encoded: String) {
        self.algorithm = algorithm
        self.encoded = encoded
    }

    /// `algorithm:encoded`, e.g. `sha256:4bcd…`.
    public var description: String { "\(algorithm):\(encoded)" }

    /// `algorithm-encoded`, the tag form that cosign uses for signatures and attestations
    /// (`sha256-<hex>.sig`) and the OCI distribution spec's referrers tag schema
    /// ("Referrers Tag Schema": `<alg>-<ref>`).
    public var tagForm: String { "\(algorithm)-\(encoded)" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try ImageDigest(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Parses a digest from a slice of UTF-8 bytes; `input` is the whole reference for messages.
    static func parse(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, input: String) throws(ImageReferenceError) -> ImageDigest {
        if bytes.isEmpty {
            throw ImageReferenceError(.emptyDigest, input: input)
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else {
            throw ImageReferenceError(.invalidDigest("missing algorithm (expected algorithm:hex)"), input: input)
        }
        let algorithmBytes = bytes[bytes.startIndex..<colon]
        let encodedBytes = bytes[(colon + 1)..<bytes.endIndex]
        guard Self.isValidAlgorithm(algorithmBytes) else {
            throw ImageReferenceError(.invalidDigest("invalid algorithm"), input: input)
        }
        if encodedBytes.isEmpty {
            throw ImageReferenceError(.emptyDigest, input: input)
        }
        let algorithm = String(decoding: algorithmBytes, as: UTF8.self)
        let expectedLength: Int?
        switch algorithm {
        case "sha256": expectedLength = 64
        case "sha512": expectedLength = 128
        default: expectedLength = nil
        }
        if let expectedLength {
            for byte in encodedBytes where !ASCII.isLowerHex(byte) {
                throw ImageReferenceError(.invalidDigest("\(algorithm) digest must be lowercase hexadecimal"), input: input)
            }
            guard encodedBytes.count == expectedLength else {
                throw ImageReferenceError(
                    .invalidDigest("\(algorithm) digest must have \(expectedLength) hexadecimal characters, found \(encodedBytes.count)"),
                    input: input)
            }
        } else {
            for byte in encodedBytes where !ASCII.isHex(byte) {
                throw ImageReferenceError(.invalidDigest("digest must be hexadecimal"), input: input)
            }
            guard encodedBytes.count >= 32 else {
                throw ImageReferenceError(.invalidDigest("digest must have at least 32 hexadecimal characters"), input: input)
            }
        }
        return ImageDigest(uncheckedAlgorithm: algorithm, encoded: String(decoding: encodedBytes, as: UTF8.self))
    }

    private static func isValidAlgorithm(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        // algorithm-component (separator algorithm-component)*; each component starts with a letter.
        var expectComponentStart = true
        for byte in bytes {
            if expectComponentStart {
                guard ASCII.isLetter(byte) else { return false }
                expectComponentStart = false
            } else if ASCII.isLetter(byte) || ASCII.isDigit(byte) {
                continue
            } else if byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") {
                expectComponentStart = true
            } else {
                return false
            }
        }
        return !expectComponentStart
    }
}

/// ASCII character classes used by the hand-written reference parser.
enum ASCII {
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    @inline(__always) static func isLower(_ b: UInt8) -> Bool { b >= 0x61 && b <= 0x7A }
    @inline(__always) static func isUpper(_ b: UInt8) -> Bool { b >= 0x41 && b <= 0x5A }
    @inline(__always) static func isLetter(_ b: UInt8) -> Bool { isLower(b) || isUpper(b) }
    @inline(__always) static func isAlphanumeric(_ b: UInt8) -> Bool { isLetter(b) || isDigit(b) }
    @inline(__always) static func isLowerHex(_ b: UInt8) -> Bool { isDigit(b) || (b >= 0x61 && b <= 0x66) }
    @inline(__always) static func isHex(_ b: UInt8) -> Bool { isLowerHex(b) || (b >= 0x41 && b <= 0x46) }
    /// `\w` in the grammar's regular expressions (RE2, ASCII): `[0-9A-Za-z_]`.
    @inline(__always) static func isWord(_ b: UInt8) -> Bool { isAlphanumeric(b) || b == 0x5F }
}
