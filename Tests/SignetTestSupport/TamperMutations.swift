import Foundation

/// Single-point mutations of a valid signed document, for tamper matrices: each mutation changes
/// one thing (a bit of one decoded value, one number, one removed member, two swapped array
/// elements), and a verifier must refuse every one.
///
/// JSON documents are read into ``TamperJSON`` (member order and number text kept) so that the
/// unmutated document written back is the same document; binary documents get byte flips.
public struct TamperMutation: Sendable {
    /// What was changed, as a path: `verificationMaterial.tlogEntries[0].logIndex: +1`.
    public var description: String
    public var bytes: [UInt8]

    public init(_ description: String, _ bytes: [UInt8]) {
        self.description = description
        self.bytes = bytes
    }

    /// Every single-point mutation of the JSON document `bytes`: each string value changed in
    /// its middle (base64 values decoded, one bit flipped and encoded again; hex values one digit
    /// changed), each number plus one, each boolean negated, each member removed, the first two
    /// elements of each array of distinct elements swapped. `unsigned` names paths (with their
    /// children) no signature covers and no decision reads, each with the reason; their changes
    /// are not tampering and are left out.
    public static func json(_ bytes: [UInt8], unsigned: [String: String] = [:]) throws -> [TamperMutation] {
        let document = try TamperJSON.parse(bytes)
        var mutations: [TamperMutation] = []
        document.visit(path: "") { path, value, replace in
            guard !unsigned.keys.contains(where: { path == $0 || path == $0 + " removed" || path.hasPrefix($0 + ".") || path.hasPrefix($0 + "[") }) else { return }
            for (what, changed) in value.alterations() {
                mutations.append(TamperMutation("\(path): \(what)", replace(changed).serialized()))
            }
        }
        return mutations
    }

    /// Byte flips of a binary document at `count` positions spread over it (bit 0x01 of each).
    public static func bytes(_ bytes: [UInt8], count: Int) -> [TamperMutation] {
        guard !bytes.isEmpty else { return [] }
        let step = max(1, bytes.count / count)
        return stride(from: step / 2, to: bytes.count, by: step).prefix(count).map { offset in
            var changed = bytes
            changed[offset] ^= 0x01
            return TamperMutation("byte \(offset) of \(bytes.count) flipped", changed)
        }
    }
}

/// A JSON value (RFC 8259) that keeps member order and number text, for ``TamperMutation``.
public indirect enum TamperJSON: Sendable, Equatable {
    case object([(String, TamperJSON)])
    case array([TamperJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    public static func == (lhs: TamperJSON, rhs: TamperJSON) -> Bool { lhs.serialized() == rhs.serialized() }

    struct ParseError: Error {}

    public static func parse(_ bytes: [UInt8]) throws -> TamperJSON {
        guard let any = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else { throw ParseError() }
        // Foundation loses member order and number text: read them again from the bytes.
        var reader = Reader(bytes: bytes)
        let value = try reader.value()
        _ = any
        return value
    }

    /// Compact JSON text; strings escaped minimally.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    private func write(to out: inout [UInt8]) {
        switch self {
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, (name, value)) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                TamperJSON.string(name).write(to: &out)
                out.append(UInt8(ascii: ":"))
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, value) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .string(let text):
            out.append(UInt8(ascii: "\""))
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): out += Array("\\\"".utf8)
                case UInt8(ascii: "\\"): out += Array("\\\\".utf8)
                case UInt8(ascii: "\n"): out += Array("\\n".utf8)
                case 0..<0x20: out += Array(String(format: "\\u%04x", byte).utf8)
                default: out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
        case .number(let text): out += Array(text.utf8)
        case .bool(let value): out += Array((value ? "true" : "false").utf8)
        case .null: out += Array("null".utf8)
        }
    }

    /// Calls `body` for every value below this one with its path and a function that returns
    /// the whole document with that value replaced (a `nil` replacement removes a member).
    func visit(path: String, _ body: (String, TamperJSON, (TamperJSON?) -> TamperJSON) -> Void) {
        visit(path: path, rebuild: { $0 ?? .null }, body)
    }

    private func visit(path: String, rebuild: @escaping (TamperJSON?) -> TamperJSON, _ body: (String, TamperJSON, (TamperJSON?) -> TamperJSON) -> Void) {
        switch self {
        case .object(let members):
            if !path.isEmpty { body(path, self, rebuild) }
            for (index, (name, value)) in members.enumerated() {
                let childPath = path.isEmpty ? name : "\(path).\(name)"
                value.visit(path: childPath, rebuild: { replacement in
                    var changed = members
                    if let replacement { changed[index].1 = replacement } else { changed.remove(at: index) }
                    return rebuild(.object(changed))
                }, body)
                // The member removed.
                body("\(childPath) removed", .null, { _ in
                    var changed = members
                    changed.remove(at: index)
                    return rebuild(.object(changed))
                })
            }
        case .array(let elements):
            body(path, self, rebuild)
            for (index, value) in elements.enumerated() {
                value.visit(path: "\(path)[\(index)]", rebuild: { replacement in
                    var changed = elements
                    if let replacement { changed[index] = replacement } else { changed.remove(at: index) }
                    return rebuild(.array(changed))
                }, body)
            }
        default:
            body(path, self, rebuild)
        }
    }

    /// The single-point changes of this value itself (not of its children).
    func alterations() -> [(String, TamperJSON?)] {
        switch self {
        case .null:
            // The removal marker of a member (see `visit`): the member itself goes.
            return [("removed", nil)]
        case .bool(let value): return [("negated", .bool(!value))]
        case .number(let text):
            if let integer = Int64(text) { return [("+1", .number(String(integer &+ 1)))] }
            return [("changed", .number(text + "1"))]
        case .string(let text):
            guard let changed = Self.alteredString(text) else { return [] }
            return [(changed.what, .string(changed.text))]
        case .array(let elements):
            guard elements.count >= 2, elements[0] != elements[1] else { return [] }
            var swapped = elements
            swapped.swapAt(0, 1)
            return [("first two elements swapped", .array(swapped))]
        case .object:
            return []
        }
    }

    static func alteredString(_ text: String) -> (what: String, text: String)? {
        let utf8 = Array(text.utf8)
        guard !utf8.isEmpty else { return nil }
        let hexDigits = Set("0123456789abcdefABCDEF".utf8)
        if utf8.count >= 8, utf8.allSatisfy({ hexDigits.contains($0) }) {
            var changed = utf8
            let middle = utf8.count / 2
            changed[middle] = changed[middle] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
            return ("hex digit \(middle) changed", String(decoding: changed, as: UTF8.self))
        }
        if utf8.count >= 8, utf8.count % 4 == 0, var decoded = Data(base64Encoded: text).map([UInt8].init), decoded.count >= 4 {
            // Three quarters in: past a DER structure's headers and embedded copies, into what is signed.
            let offset = decoded.count * 3 / 4
            decoded[offset] ^= 0x01
            return ("base64 value: bit flipped in byte \(offset)", Data(decoded).base64EncodedString())
        }
        if let body = text.range(of: "\n\n") {
            // A signed note (checkpoint): change its signed text, not a signature line's key name.
            return alteredString(String(text[..<body.lowerBound])).map { ("signed note text: \($0.what)", $0.text + text[body.lowerBound...]) }
        }
        // Text: one character in the middle replaced by another of the same class.
        var changed = utf8
        let middle = utf8.count / 2
        let byte = changed[middle]
        changed[middle] = switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "8"), UInt8(ascii: "a")...UInt8(ascii: "y"), UInt8(ascii: "A")...UInt8(ascii: "Y"): byte + 1
        case UInt8(ascii: "9"): UInt8(ascii: "0")
        case UInt8(ascii: "z"): UInt8(ascii: "a")
        case UInt8(ascii: "Z"): UInt8(ascii: "A")
        case 0x80...: UInt8(ascii: "x")
        default: UInt8(ascii: "x")
        }
        guard let result = String(validating: changed, as: UTF8.self) else {
            return ("text character \(middle) changed", String(text.dropLast()) + "x")
        }
        return ("text character \(middle) changed", result)
    }

    /// A recursive-descent reader that keeps member order and number text.
    struct Reader {
        let bytes: [UInt8]
        var index = 0

        mutating func value() throws -> TamperJSON {
            skipWhitespace()
            guard index < bytes.count else { throw ParseError() }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var members: [(String, TamperJSON)] = []
                skipWhitespace()
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                while true {
                    skipWhitespace()
                    guard case .string(let name) = try value() else { throw ParseError() }
                    skipWhitespace()
                    guard bytes[index] == UInt8(ascii: ":") else { throw ParseError() }
                    index += 1
                    members.append((name, try value()))
                    skipWhitespace()
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    guard bytes[index] == UInt8(ascii: "}") else { throw ParseError() }
                    index += 1
                    return .object(members)
                }
            case UInt8(ascii: "["):
                index += 1
                var elements: [TamperJSON] = []
                skipWhitespace()
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
                while true {
                    elements.append(try value())
                    skipWhitespace()
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    guard bytes[index] == UInt8(ascii: "]") else { throw ParseError() }
                    index += 1
                    return .array(elements)
                }
            case UInt8(ascii: "\""):
                let start = index
                index += 1
                while bytes[index] != UInt8(ascii: "\"") { index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1 }
                index += 1
                let literal = Data(bytes[start..<index])
                guard let text = try JSONSerialization.jsonObject(with: literal, options: [.fragmentsAllowed]) as? String else { throw ParseError() }
                return .string(text)
            case UInt8(ascii: "t"): index += 4; return .bool(true)
            case UInt8(ascii: "f"): index += 5; return .bool(false)
            case UInt8(ascii: "n"): index += 4; return .null
            default:
                let start = index
                while index < bytes.count, Set("+-0123456789.eE".utf8).contains(bytes[index]) { index += 1 }
                guard index > start else { throw ParseError() }
                return .number(String(decoding: bytes[start..<index], as: UTF8.self))
            }
        }

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[index]) { index += 1 }
        }
    }
}

/// The outcome of one tamper matrix over one signed artifact: how many mutations, how many the
/// verifier refused, and the mutations it let through (false allows); recorded for `make harden`.
public struct TamperOutcome: Sendable {
    public var matrix: String
    public var artifact: String
    public var mutations = 0
    public var denied = 0
    public var falseAllows: [String] = []

    public init(matrix: String, artifact: String) {
        self.matrix = matrix
        self.artifact = artifact
    }

    /// Runs every mutation through `verifies` (true: the verifier accepted it). `unsigned` is
    /// what the mutations left out and why, for the record.
    public static func run(
        matrix: String, artifact: String, _ mutations: [TamperMutation], unsigned: [String: String] = [:],
        verifies: (TamperMutation) async throws -> Bool
    ) async rethrows -> TamperOutcome {
        var outcome = TamperOutcome(matrix: matrix, artifact: artifact)
        for mutation in mutations {
            outcome.mutations += 1
            if try await verifies(mutation) { outcome.falseAllows.append(mutation.description) } else { outcome.denied += 1 }
        }
        HardenReport.write(part: "tamper", name: "\(matrix)-\(artifact)", [
            "matrix": matrix, "artifact": artifact, "mutations": outcome.mutations, "denied": outcome.denied,
            "falseAllows": outcome.falseAllows, "unsigned": unsigned,
        ])
        return outcome
    }
}
