import Foundation
import SignetJSON

/// A JSON value (RFC 8259, section 3) of an in-toto statement or of a condition written in a
/// policy, with lookup by a dotted path.
///
/// Not `indirect`: arrays and dictionaries already hold their elements out of line, and an
/// indirect case's box is referred to by a pointer with the case's tag in its high bits, which
/// LeakSanitizer cannot follow (every value held by a global was reported as leaked).
public enum AttestationValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([AttestationValue])
    case object([String: AttestationValue])

    /// Reads a JSON document; nil when `bytes` are not JSON or hold more than
    /// `UntrustedJSON.Limits.inTotoStatement` allows.
    public init?(json bytes: [UInt8]) {
        guard let value = try? Self.read(json: bytes) else { return nil }
        self = value
    }

    /// Reads a JSON document; throws `UntrustedJSON.Refusal` when `bytes` hold more than
    /// `UntrustedJSON.Limits.inTotoStatement` allows, or the decoder's error when they are not JSON.
    public static func read(json bytes: [UInt8]) throws -> AttestationValue {
        try UntrustedJSON.decode(AttestationValue.self, from: bytes, limits: .inTotoStatement)
    }

    /// The member named `key` of an object, or nil.
    public subscript(key: String) -> AttestationValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let array = try? container.decode([AttestationValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: AttestationValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The scalar this value is, or a marker for an object or array (whose content is not kept).
    public var scalar: AttestationScalar {
        switch self {
        case .null: .null
        case .bool(let flag): .bool(flag)
        case .number(let number): .number(number)
        case .string(let text): .string(text)
        case .array: .array
        case .object: .object
        }
    }
}

/// One value a condition reads, as a cache entry keeps it: a scalar, or only the fact that an
/// object or an array is there (so that a large predicate is never held whole).
public enum AttestationScalar: Sendable, Hashable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case object
    case array

    /// Equal when of the same kind and value; strings by their bytes (``WrittenText``), so an
    /// `equals` or `in` condition is not met by a canonically equivalent look-alike.
    public static func == (lhs: AttestationScalar, rhs: AttestationScalar) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null), (.object, .object), (.array, .array): true
        case (.bool(let one), .bool(let other)): one == other
        case (.number(let one), .number(let other)): one == other
        case (.string(let one), .string(let other)): WrittenText.equal(one, other)
        default: false
        }
    }

    /// How a deny reason shows the value: strings as written, numbers without a needless `.0`.
    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let flag): "\(flag)"
        case .number(let number): AttestationScalar.render(number)
        case .string(let text): text
        case .object: "an object"
        case .array: "an array"
        }
    }

    static func render(_ number: Double) -> String {
        if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
        return "\(number)"
    }
}
