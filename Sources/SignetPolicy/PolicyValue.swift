/// A JSON/YAML value kept as written, for parts of a resource whose typed shape a verifier
/// defines (for example the body of a `keyless` authority). Follows the JSON data model
/// (RFC 8259, section 3), which YAML 1.2's core schema maps onto.
public enum PolicyValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([PolicyValue])
    case object([String: PolicyValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let object = try? container.decode([String: PolicyValue].self) {
            self = .object(object)
        } else if let array = try? container.decode([PolicyValue].self) {
            self = .array(array)
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else {
            self = .string(try container.decode(String.self))
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

    /// The member named `key` of an object, or `nil`.
    public subscript(key: String) -> PolicyValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }
}
