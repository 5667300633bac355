/// Character classes and small byte helpers from the HTTP grammar (RFC 9110 §5.6, RFC 9112 §2).
enum HTTPSyntax {
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")

    /// `tchar` from RFC 9110 §5.6.2: the bytes a token (method, field name, coding) may hold.
    static let tokenTable: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for byte in "!#$%&'*+-.^_`|~".utf8 { table[Int(byte)] = true }
        return table
    }()

    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        tokenTable[Int(byte)]
    }

    /// Whether `bytes` is a non-empty `token` (RFC 9110 §5.6.2).
    static func isToken<Bytes: Collection>(_ bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
        !bytes.isEmpty && bytes.allSatisfy(isTokenByte)
    }

    /// `field-vchar` or whitespace (RFC 9110 §5.5): anything but control characters other than HT.
    /// Bytes from 0x80 (`obs-text`) are allowed.
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte == tab || (byte >= 0x20 && byte != 0x7F)
    }

    @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == tab
    }

    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// `bytes` without leading and trailing optional whitespace (`OWS`, RFC 9110 §5.6.3).
    static func trimmingWhitespace<Bytes: BidirectionalCollection>(_ bytes: Bytes) -> Bytes.SubSequence
    where Bytes.Element == UInt8 {
        guard let first = bytes.firstIndex(where: { !isWhitespace($0) }) else {
            return bytes[bytes.endIndex..<bytes.endIndex]
        }
        let last = bytes.lastIndex(where: { !isWhitespace($0) })!
        return bytes[first...last]
    }

    /// ASCII case-insensitive equality.
    static func equalsIgnoringCase<Lhs: Sequence, Rhs: Sequence>(_ lhs: Lhs, _ rhs: Rhs) -> Bool
    where Lhs.Element == UInt8, Rhs.Element == UInt8 {
        var left = lhs.makeIterator()
        var right = rhs.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil):
                return true
            case let (l?, r?):
                if l != r && lowercased(l) != lowercased(r) { return false }
            default:
                return false
            }
        }
    }

    /// The outcome of reading `1*DIGIT`.
    enum Decimal: Equatable {
        case value(Int)
        case invalid
        case overflow
    }

    /// Parses `1*DIGIT` as a non-negative integer without overflowing.
    static func parseDecimal<Bytes: Collection>(_ bytes: Bytes) -> Decimal where Bytes.Element == UInt8 {
        guard !bytes.isEmpty else { return .invalid }
        var value = 0
        var overflowed = false
        for byte in bytes {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return .invalid }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            overflowed = overflowed || overflow1 || overflow2
            value = sum
        }
        return overflowed ? .overflow : .value(value)
    }

    /// The value of a hexadecimal digit, or nil.
    @inline(__always)
    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
