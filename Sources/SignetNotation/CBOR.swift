import Foundation

/// A CBOR data item (RFC 8949 section 3) as the Notary Project's COSE envelope uses them.
///
/// Only what a COSE_Sign1 envelope needs is represented: integers, byte and text strings,
/// arrays, maps (entries in the order they were encoded), tags, booleans, null and undefined.
/// Floating-point values and indefinite lengths are refused by ``CBORDecoder``.
public indirect enum CBOR: Sendable, Hashable {
    case unsigned(UInt64)
    /// A negative integer `-1 - n`, stored as `n` (RFC 8949 section 3.1, major type 1).
    case negative(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBOR])
    case map([(CBOR, CBOR)])
    case tagged(UInt64, CBOR)
    case bool(Bool)
    case null
    case undefined

    /// The value as a signed integer, when it is an integer that fits.
    public var integer: Int64? {
        switch self {
        case .unsigned(let value): value <= UInt64(Int64.max) ? Int64(value) : nil
        case .negative(let value): value <= UInt64(Int64.max) ? -1 - Int64(value) : nil
        default: nil
        }
    }

    public var textValue: String? {
        if case .text(let text) = self { return text }
        return nil
    }

    public var bytesValue: [UInt8]? {
        if case .bytes(let bytes) = self { return bytes }
        return nil
    }

    /// The entry of a map whose key equals `key`; nil when absent or not a map.
    public subscript(key: CBOR) -> CBOR? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.0 == key }?.1
    }

    public static func == (lhs: CBOR, rhs: CBOR) -> Bool {
        switch (lhs, rhs) {
        case (.unsigned(let a), .unsigned(let b)), (.negative(let a), .negative(let b)): return a == b
        case (.bytes(let a), .bytes(let b)): return a == b
        case (.text(let a), .text(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.map(let a), .map(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.tagged(let t, let a), .tagged(let u, let b)): return t == u && a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.null, .null), (.undefined, .undefined): return true
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(CBOREncoder.encode(self))
    }
}

/// A strict CBOR decoder (RFC 8949): definite lengths only, the shortest encoding of every
/// argument (section 4.2.1, "preferred serialization"), no duplicate map keys, UTF-8 text,
/// bounded nesting and size, and no bytes after the item.
///
/// Strictness is deliberate: a signature envelope that decodes two ways could show a verifier
/// one set of headers and a signer another.
public struct CBORDecoder: Sendable {
    /// The deepest nesting accepted (arrays, maps, tags).
    public var maximumDepth = 16
    /// The most items an array or map may declare.
    public var maximumItems = 4096
    /// The most items in the whole document, nested ones included: a COSE envelope holds a few
    /// dozen, and each map decoded keeps a set of its keys, so a megabyte of tiny nested maps
    /// would otherwise take tens of megabytes before the signature is checked.
    public var maximumTotalItems = 10_000

    public init() {}

    /// Decodes exactly one item from `bytes`; trailing bytes are an error.
    public func decode(_ bytes: [UInt8]) throws(CBORError) -> CBOR {
        var cursor = 0
        var remaining = maximumTotalItems
        let item = try decodeItem(bytes, &cursor, depth: 0, remaining: &remaining)
        guard cursor == bytes.count else { throw CBORError("\(bytes.count - cursor) byte(s) after the CBOR item") }
        return item
    }

    private func decodeItem(_ bytes: [UInt8], _ cursor: inout Int, depth: Int, remaining: inout Int) throws(CBORError) -> CBOR {
        guard depth <= maximumDepth else { throw CBORError("nested deeper than \(maximumDepth) levels") }
        guard remaining > 0 else { throw CBORError("more than \(maximumTotalItems) items in all") }
        remaining -= 1
        guard cursor < bytes.count else { throw CBORError("truncated: expected an item at byte \(cursor)") }
        let initial = bytes[cursor]
        cursor += 1
        let major = initial >> 5
        let additional = initial & 0x1f
        if major == 7 {
            switch additional {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            case 23: return .undefined
            default: throw CBORError("unsupported simple or floating-point value (0x\(String(initial, radix: 16)))")
            }
        }
        let argument = try readArgument(bytes, &cursor, additional: additional)
        switch major {
        case 0:
            return .unsigned(argument)
        case 1:
            return .negative(argument)
        case 2, 3:
            let content = try take(bytes, &cursor, argument)
            if major == 2 { return .bytes(content) }
            guard let text = String(validating: content, as: UTF8.self) else { throw CBORError("text string is not UTF-8") }
            return .text(text)
        case 4:
            guard argument <= UInt64(maximumItems) else { throw CBORError("array of \(argument) items exceeds \(maximumItems)") }
            var items: [CBOR] = []
            for _ in 0..<Int(argument) { items.append(try decodeItem(bytes, &cursor, depth: depth + 1, remaining: &remaining)) }
            return .array(items)
        case 5:
            guard argument <= UInt64(maximumItems) else { throw CBORError("map of \(argument) entries exceeds \(maximumItems)") }
            var entries: [(CBOR, CBOR)] = []
            // Keys compared by their encoding, which is unique under preferred serialization:
            // linear in the map's size, where comparing decoded keys pairwise was quadratic.
            var seen: Set<ArraySlice<UInt8>> = []
            for _ in 0..<Int(argument) {
                let start = cursor
                let key = try decodeItem(bytes, &cursor, depth: depth + 1, remaining: &remaining)
                switch key {
                case .unsigned, .negative, .text: break
                default: throw CBORError("map key \(key) is neither an integer nor a text string (RFC 9052 section 3 labels)")
                }
                guard seen.insert(bytes[start..<cursor]).inserted else { throw CBORError("duplicate map key \(key)") }
                entries.append((key, try decodeItem(bytes, &cursor, depth: depth + 1, remaining: &remaining)))
            }
            return .map(entries)
        default:  // 6
            return .tagged(argument, try decodeItem(bytes, &cursor, depth: depth + 1, remaining: &remaining))
        }
    }

    private func readArgument(_ bytes: [UInt8], _ cursor: inout Int, additional: UInt8) throws(CBORError) -> UInt64 {
        let width: Int
        switch additional {
        case 0...23: return UInt64(additional)
        case 24: width = 1
        case 25: width = 2
        case 26: width = 4
        case 27: width = 8
        case 31: throw CBORError("indefinite-length items are not accepted")
        default: throw CBORError("reserved additional information \(additional)")
        }
        let raw = try take(bytes, &cursor, UInt64(width))
        let value = raw.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let minimum: UInt64 = switch width { case 1: 24; case 2: 0x100; case 4: 0x1_0000; default: 0x1_0000_0000 }
        guard value >= minimum else { throw CBORError("argument \(value) is not in its shortest encoding") }
        return value
    }

    private func take(_ bytes: [UInt8], _ cursor: inout Int, _ count: UInt64) throws(CBORError) -> [UInt8] {
        guard count <= UInt64(bytes.count - cursor) else { throw CBORError("truncated: \(count) byte(s) declared, \(bytes.count - cursor) left") }
        let slice = Array(bytes[cursor..<(cursor + Int(count))])
        cursor += Int(count)
        return slice
    }
}

/// Deterministic CBOR encoding (RFC 8949 section 4.2.1: shortest arguments, definite lengths),
/// used to build the COSE `Sig_structure` (RFC 9052 section 4.4). Map entries keep their order.
public enum CBOREncoder {
    public static func encode(_ item: CBOR) -> [UInt8] {
        var out: [UInt8] = []
        write(item, into: &out)
        return out
    }

    private static func head(_ major: UInt8, _ argument: UInt64, into out: inout [UInt8]) {
        let type = major << 5
        switch argument {
        case 0..<24: out.append(type | UInt8(argument))
        case 24..<0x100: out += [type | 24, UInt8(argument)]
        case 0x100..<0x1_0000: out.append(type | 25); out += withUnsafeBytes(of: UInt16(argument).bigEndian, Array.init)
        case 0x1_0000..<0x1_0000_0000: out.append(type | 26); out += withUnsafeBytes(of: UInt32(argument).bigEndian, Array.init)
        default: out.append(type | 27); out += withUnsafeBytes(of: argument.bigEndian, Array.init)
        }
    }

    private static func write(_ item: CBOR, into out: inout [UInt8]) {
        switch item {
        case .unsigned(let value): head(0, value, into: &out)
        case .negative(let value): head(1, value, into: &out)
        case .bytes(let bytes): head(2, UInt64(bytes.count), into: &out); out += bytes
        case .text(let text): let utf8 = Array(text.utf8); head(3, UInt64(utf8.count), into: &out); out += utf8
        case .array(let items): head(4, UInt64(items.count), into: &out); for element in items { write(element, into: &out) }
        case .map(let entries):
            head(5, UInt64(entries.count), into: &out)
            for (key, value) in entries { write(key, into: &out); write(value, into: &out) }
        case .tagged(let tag, let value): head(6, tag, into: &out); write(value, into: &out)
        case .bool(let value): out.append(value ? 0xf5 : 0xf4)
        case .null: out.append(0xf6)
        case .undefined: out.append(0xf7)
        }
    }
}

/// Why bytes are not an acceptable CBOR item.
public struct CBORError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = "CBOR: " + description }
}
