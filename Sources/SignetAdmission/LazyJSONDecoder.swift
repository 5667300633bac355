import SignetJSON

/// A `Decoder` over JSON text (RFC 8259) that materialises only what a `Decodable` type asks for.
///
/// An AdmissionReview carries the whole object (and, on UPDATE, the old one): labels,
/// annotations, environment variables, probes, volumes. signet reads a few dozen of those
/// bytes. This decoder checks the syntax of the whole document once, then, per object or
/// array the types open, records where each member starts; strings are decoded only when a
/// type asks for them, and everything else is skipped by scanning. Foundation's `JSONDecoder`
/// builds every value of the document first, which made it most of the cost of a decision.
///
/// Limits: nesting deeper than ``maximumDepth`` is rejected (a body of 8 MiB of `[` must not
/// exhaust a thread's stack). Errors are `DecodingError`s with the coding path, like
/// Foundation's, so callers describe them the same way.
struct LazyJSONDecoder {
    /// The deepest nesting of objects and arrays accepted.
    static let maximumDepth = 256

    /// Decodes `type` from `bytes`; throws `DecodingError.dataCorrupted` (empty coding path)
    /// when the bytes are not one JSON value.
    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try decode(type, from: try document(bytes))
    }

    /// The checked document of `bytes`; throws `DecodingError.dataCorrupted` (empty coding path)
    /// when they are not one JSON value.
    static func document(_ bytes: [UInt8]) throws -> JSONDocument {
        do {
            return try JSONDocument(validating: bytes)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "not JSON: \(error.reason) at byte \(error.offset)"))
        }
    }

    /// Decodes `type` from a checked document.
    static func decode<T: Decodable>(_ type: T.Type, from document: JSONDocument) throws -> T {
        try T(from: LazyJSONValueDecoder(document: document, start: document.skipWhitespace(0), node: .root))
    }
}

/// A JSON syntax error and where it is.
struct JSONSyntaxError: Error {
    var reason: String
    var offset: Int
}

/// The bytes of a syntactically checked JSON document and the scanning primitives over them.
///
/// While checking the syntax it records where values end, so that walking the document later
/// (``forEachMember(ofObjectAt:_:)``, ``end(ofValueAt:)``) steps over a value in one lookup
/// instead of scanning it again at every level:
/// - a document of at most ``endIndexLimit`` bytes (an AdmissionReview is a few to a few tens
///   of kilobytes) gets an end index: for the first byte of every value and of every member
///   name without an escape, where it ends; 2 bytes per byte of the document;
/// - a larger one (up to the 8 MiB a request may carry) gets the ends of its objects and arrays
///   of at least ``spanThreshold`` bytes only, found by binary search (at most a quarter of the
///   document's size), and everything smaller is scanned.
final class JSONDocument: Sendable {
    let bytes: [UInt8]
    /// For each byte that starts a value or a member name without an escape, the offset just
    /// past it (its closing quote or bracket, or its last digit or letter); 0 elsewhere (a name
    /// with an escape is scanned, which finds the escape). Empty when the document is larger
    /// than ``endIndexLimit``.
    let ends: [UInt16]
    /// Start and end offsets of large containers, in document order (sorted by start); empty
    /// when ``ends`` is kept.
    private let spans: [(start: Int, end: Int)]
    static let spanThreshold = 64
    /// The largest document given an end index: every offset in it fits the index's 16 bits.
    static let endIndexLimit = Int(UInt16.max)

    /// Checks that `bytes` hold exactly one JSON value (whitespace around it allowed).
    convenience init(validating bytes: [UInt8]) throws(JSONSyntaxError) {
        try self.init(validating: bytes, endIndexLimit: Self.endIndexLimit)
    }

    /// As ``init(validating:)``, with an end index when `bytes` are at most `endIndexLimit`
    /// long (tests reach the larger documents' way with a small limit).
    init(validating bytes: [UInt8], endIndexLimit: Int) throws(JSONSyntaxError) {
        self.bytes = bytes
        let indexed = bytes.count <= min(endIndexLimit, Self.endIndexLimit)
        var ends = indexed ? [UInt16](repeating: 0, count: bytes.count) : []
        let result: Result<[(start: Int, end: Int)], JSONSyntaxError> = bytes.withUnsafeBufferPointer { buffer in
            ends.withUnsafeMutableBufferPointer { ends in
                var validator = Validator(bytes: buffer, ends: ends, indexed: indexed)
                if !indexed {
                    // About one container of 64 bytes or more per 128 bytes of a Kubernetes object at most.
                    validator.spans.reserveCapacity(16 + buffer.count / 128)
                }
                do throws(JSONSyntaxError) {
                    let end = try validator.skipDocument()
                    guard validator.skipWhitespace(end) == buffer.count else {
                        throw JSONSyntaxError(reason: "text after the value", offset: end)
                    }
                    validator.spans.removeLast(validator.spans.count - validator.used)
                    return .success(validator.spans)
                } catch {
                    return .failure(error)
                }
            }
        }
        spans = try result.get()
        self.ends = ends
    }

    /// The syntax check, recording where values end (the end index, or the spans of large
    /// containers). One loop over the bytes with an explicit stack of the containers open (no
    /// call per value), so a document of small values, such as a Kubernetes object, costs a few
    /// comparisons per value.
    private struct Validator {
        let bytes: UnsafeBufferPointer<UInt8>
        /// The end index being filled (``JSONDocument/ends``), when `indexed`.
        let ends: UnsafeMutableBufferPointer<UInt16>
        let indexed: Bool
        /// Every container gets a slot as it opens (so the spans stay in document order); a
        /// small one gives back its slot and its children's by moving `used` back, and the
        /// slots are reused, so the array is not shortened and grown again for each of them.
        var spans: [(start: Int, end: Int)] = []
        var used = 0

        @inline(__always)
        func skipWhitespace(_ index: Int) -> Int { JSONDocument.skipWhitespace(bytes, index) }

        /// A container open while the document is checked: where it starts, its slot in `spans`
        /// (when not `indexed`) and whether it is an object.
        typealias OpenContainer = (start: Int, slot: Int, isObject: Bool)

        /// The index past the one value at the first non-whitespace byte.
        mutating func skipDocument() throws(JSONSyntaxError) -> Int {
            // The containers open, innermost last, on the stack: never more than the depth limit,
            // checked before each is pushed, and no array to check for uniqueness and grow.
            let result = withUnsafeTemporaryAllocation(
                of: OpenContainer.self, capacity: LazyJSONDecoder.maximumDepth
            ) { open -> Result<Int, JSONSyntaxError> in
                do throws(JSONSyntaxError) { return .success(try skipDocument(open: open)) } catch { return .failure(error) }
            }
            return try result.get()
        }

        private mutating func skipDocument(open: UnsafeMutableBufferPointer<OpenContainer>) throws(JSONSyntaxError) -> Int {
            var depth = 0
            var i = skipWhitespace(0)
            while true {
                // A value starts at `i`.
                guard i < bytes.count else { throw JSONSyntaxError(reason: "unexpected end", offset: i) }
                let byte = bytes[i]
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                    // `open` holds exactly the depth limit.
                    guard depth < open.count else {
                        throw JSONSyntaxError(reason: "nested too deeply", offset: i)
                    }
                    let isObject = byte == UInt8(ascii: "{")
                    let slot = used
                    if !indexed {
                        if slot < spans.count { spans[slot] = (i, 0) } else { spans.append((i, 0)) }
                        used += 1
                    }
                    open[depth] = (i, slot, isObject)
                    depth += 1
                    i = skipWhitespace(i + 1)
                    if i < bytes.count && bytes[i] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        // Empty: closed right away, below.
                    } else {
                        if isObject { i = try skipMemberName(i) }
                        continue
                    }
                } else {
                    // Strings, the most common value, without the call through skipScalar.
                    let start = i
                    i = byte == UInt8(ascii: "\"") ? try JSONDocument.skipString(bytes, i) : try JSONDocument.skipScalar(bytes, i)
                    if indexed { ends[start] = UInt16(truncatingIfNeeded: i) }
                    guard depth > 0 else { return i }
                    i = skipWhitespace(i)
                }
                // A value ended before `i` inside the innermost open container: a comma and the
                // next value, or the container's end (and perhaps its parents').
                while true {
                    let container = open[depth - 1]
                    guard i < bytes.count else {
                        throw JSONSyntaxError(
                            reason: container.isObject ? "unexpected end in an object" : "unexpected end in an array", offset: i)
                    }
                    let next = bytes[i]
                    if next == UInt8(ascii: ",") {
                        i = skipWhitespace(i + 1)
                        if container.isObject { i = try skipMemberName(i) }
                        break
                    }
                    guard next == (container.isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else {
                        throw JSONSyntaxError(
                            reason: container.isObject ? "expected ',' or '}'" : "expected ',' or ']'", offset: i)
                    }
                    i += 1
                    depth -= 1
                    if indexed {
                        ends[container.start] = UInt16(truncatingIfNeeded: i)
                    } else if i - container.start >= JSONDocument.spanThreshold {
                        spans[container.slot].end = i
                    } else {
                        // Everything inside a small container is smaller still: none of it is kept.
                        used = container.slot
                    }
                    if depth == 0 { return i }
                    i = skipWhitespace(i)
                }
            }
        }

        /// Checks `"name" :` at `index`; the index of the member's value.
        @inline(__always)
        private func skipMemberName(_ index: Int) throws(JSONSyntaxError) -> Int {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw JSONSyntaxError(reason: "expected a member name", offset: index)
            }
            let (end, hasEscape) = try JSONDocument.skipStringNotingEscapes(bytes, index)
            if indexed && !hasEscape { ends[index] = UInt16(truncatingIfNeeded: end) }
            let i = skipWhitespace(end)
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw JSONSyntaxError(reason: "expected ':'", offset: i) }
            return skipWhitespace(i + 1)
        }
    }

    /// The end of the checked value at `index`: from the end index, a recorded span, or a scan
    /// for small values.
    func end(ofValueAt index: Int) -> Int {
        if index < ends.count {
            let end = ends[index]
            if end != 0 { return Int(end) }
        }
        let byte = bytes[index]
        if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
            var low = 0
            var high = spans.count
            while low < high {
                let middle = (low + high) / 2
                if spans[middle].start < index { low = middle + 1 } else { high = middle }
            }
            if low < spans.count && spans[low].start == index { return spans[low].end }
            return bytes.withUnsafeBufferPointer { Self.skipCheckedContainer($0, index) }
        }
        return bytes.withUnsafeBufferPointer { buffer in
            // A checked string ends at its closing quote: found without the syntax checks.
            if byte == Self.quote { return Self.skipPlainStringBytesAndEscapes(buffer, index + 1) }
            return (try? Self.skipScalar(buffer, index)) ?? buffer.count
        }
    }

    @inline(__always)
    func skipWhitespace(_ index: Int) -> Int { bytes.withUnsafeBufferPointer { Self.skipWhitespace($0, index) } }

    @inline(__always)
    static func skipWhitespace(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> Int {
        var i = index
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return i
            }
        }
        return i
    }

    /// The index past a string, literal or number at `index`.
    static func skipScalar(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) throws(JSONSyntaxError) -> Int {
        switch bytes[index] {
        case UInt8(ascii: "\""): return try skipString(bytes, index)
        case UInt8(ascii: "t"): return try skipLiteral(bytes, index, "true")
        case UInt8(ascii: "f"): return try skipLiteral(bytes, index, "false")
        case UInt8(ascii: "n"): return try skipLiteral(bytes, index, "null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try skipNumber(bytes, index)
        default: throw JSONSyntaxError(reason: "unexpected character", offset: index)
        }
    }

    /// The index just past the closing quote of the string starting at `index`.
    static func skipString(_ bytes: [UInt8], _ index: Int) throws(JSONSyntaxError) -> Int {
        let result: Result<Int, JSONSyntaxError> = bytes.withUnsafeBufferPointer { buffer in
            do throws(JSONSyntaxError) { return .success(try skipString(buffer, index)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    @inline(__always)
    static func skipString(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) throws(JSONSyntaxError) -> Int {
        try skipStringNotingEscapes(bytes, index).end
    }

    /// As ``skipString(_:_:)``, and whether the string holds an escape.
    @inline(__always)
    static func skipStringNotingEscapes(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) throws(JSONSyntaxError) -> (end: Int, hasEscape: Bool) {
        var i = index + 1
        var hasEscape = false
        while i < bytes.count {
            i = skipPlainStringBytes(bytes, i)
            guard i < bytes.count else { break }
            let byte = bytes[i]
            if byte == UInt8(ascii: "\"") { return (i + 1, hasEscape) }
            if byte == UInt8(ascii: "\\") {
                hasEscape = true
                i = try skipEscape(bytes, i)
                continue
            }
            if byte < 0x20 { throw JSONSyntaxError(reason: "control character in a string", offset: i) }
            i += 1
        }
        throw JSONSyntaxError(reason: "unterminated string", offset: index)
    }

    /// The index past the escape at `index` (a backslash): one of `\" \\ \/ \b \f \n \r \t`, or
    /// `\u` and four hexadecimal digits (RFC 8259 §7); anything else is an error.
    private static func skipEscape(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) throws(JSONSyntaxError) -> Int {
        guard index + 1 < bytes.count else { throw JSONSyntaxError(reason: "unterminated string", offset: index) }
        switch bytes[index + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return index + 2
        case UInt8(ascii: "u"):
            guard index + 6 <= bytes.count else { throw JSONSyntaxError(reason: "unterminated string", offset: index) }
            for position in (index + 2)..<(index + 6) {
                switch bytes[position] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"):
                    continue
                default:
                    throw JSONSyntaxError(reason: "invalid \\u escape in a string", offset: index)
                }
            }
            return index + 6
        default:
            throw JSONSyntaxError(reason: "invalid escape in a string", offset: index)
        }
    }

    /// The index of the first byte at or after `index` that ends a run of ordinary string bytes:
    /// a quote, a backslash or a control character (or the end).
    @inline(__always)
    static func skipPlainStringBytes(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> Int {
        JSONStringBytes.endOfPlainRun(bytes, from: index)
    }

    /// The index past the closing quote of a checked string whose content starts at `index`.
    @inline(__always)
    static func skipPlainStringBytesAndEscapes(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> Int {
        var i = index
        while i < bytes.count {
            i = skipPlainStringBytes(bytes, i)
            guard i < bytes.count else { break }
            if bytes[i] == UInt8(ascii: "\"") { return i + 1 }
            // A backslash and the byte it escapes (a control byte cannot be in a checked string).
            i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
        }
        return bytes.count
    }

    /// The index past the object or array at `index` in a checked document: brackets counted,
    /// strings skipped, nothing checked again.
    static func skipCheckedContainer(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> Int {
        var depth = 0
        var i = index
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                i += 1
                if depth == 0 { return i }
            case UInt8(ascii: "\""):
                i = (try? skipString(bytes, i)) ?? bytes.count
            default:
                i += 1
            }
        }
        return bytes.count
    }

    private static func skipLiteral(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int, _ literal: StaticString) throws(JSONSyntaxError) -> Int {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw JSONSyntaxError(reason: "unexpected end", offset: index) }
        let matches = literal.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw JSONSyntaxError(reason: "invalid literal", offset: index) }
        return index + count
    }

    private static func skipNumber(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) throws(JSONSyntaxError) -> Int {
        var i = index
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        let digitsStart = i
        while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
        guard i > digitsStart else { throw JSONSyntaxError(reason: "invalid number", offset: index) }
        // RFC 8259 §6: no leading zeros.
        guard i - digitsStart == 1 || bytes[digitsStart] != UInt8(ascii: "0") else {
            throw JSONSyntaxError(reason: "invalid number (leading zero)", offset: index)
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            let fraction = i
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
            guard i > fraction else { throw JSONSyntaxError(reason: "invalid number", offset: index) }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            let exponent = i
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
            guard i > exponent else { throw JSONSyntaxError(reason: "invalid number", offset: index) }
        }
        return i
    }

    /// The members of the object at `index`: where each name's string and each value start.
    /// The document has been checked, so this only walks it.
    func members(ofObjectAt index: Int) -> [(name: Int, value: Int)] {
        var result: [(name: Int, value: Int)] = []
        var i = skipWhitespace(index + 1)
        if bytes[i] == UInt8(ascii: "}") { return result }
        while true {
            let name = i
            i = skipWhitespace(end(ofValueAt: i))
            let value = skipWhitespace(i + 1)
            result.append((name, value))
            i = skipWhitespace(end(ofValueAt: value))
            if i >= bytes.count || bytes[i] == UInt8(ascii: "}") { return result }
            i = skipWhitespace(i + 1)
        }
    }

    /// Where each element of the array at `index` starts.
    func elements(ofArrayAt index: Int) -> [Int] {
        var result: [Int] = []
        var i = skipWhitespace(index + 1)
        if bytes[i] == UInt8(ascii: "]") { return result }
        while true {
            result.append(i)
            i = skipWhitespace(end(ofValueAt: i))
            if i >= bytes.count || bytes[i] == UInt8(ascii: "]") { return result }
            i = skipWhitespace(i + 1)
        }
    }

    /// Whether the string at `index` equals `name` (compared without allocating when it has no escapes).
    func string(at index: Int, equals name: String) -> Bool {
        var i = index + 1
        for byte in name.utf8 {
            guard i < bytes.count else { return false }
            let current = bytes[i]
            if current == UInt8(ascii: "\\") { return decodeString(at: index) == name }
            if current != byte { return false }
            i += 1
        }
        return i < bytes.count && bytes[i] == UInt8(ascii: "\"")
    }

    /// The string value starting at the quote at `index`, escapes resolved (RFC 8259 §7).
    func decodeString(at index: Int) -> String {
        // A checked string without escapes, the usual case, ends at the first special byte.
        let plainEnd = bytes.withUnsafeBufferPointer { Self.skipPlainStringBytes($0, index + 1) }
        if plainEnd < bytes.count && bytes[plainEnd] == Self.quote {
            return bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[(index + 1)..<plainEnd]), as: UTF8.self) }
        }
        let end = ((try? Self.skipString(bytes, index)) ?? bytes.count) - 1
        var i = index + 1
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll(keepingCapacity: true)
            }
        }
        i = index + 1
        while i < end {
            let byte = bytes[i]
            guard byte == UInt8(ascii: "\\"), i + 1 < end else {
                utf8.append(byte)
                i += 1
                continue
            }
            let escaped = bytes[i + 1]
            i += 2
            switch escaped {
            case UInt8(ascii: "\""): utf8.append(0x22)
            case UInt8(ascii: "\\"): utf8.append(0x5C)
            case UInt8(ascii: "/"): utf8.append(0x2F)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var code = hex4(at: i)
                i += 4
                if (0xD800...0xDBFF).contains(code), i + 6 <= end, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                    let low = hex4(at: i + 2)
                    if (0xDC00...0xDFFF).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                flush()
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default:
                utf8.append(escaped)
            }
        }
        flush()
        return String(scalars)
    }

    private func hex4(at index: Int) -> UInt32 {
        guard index + 4 <= bytes.count else { return 0xFFFD }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[index + offset]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: return 0xFFFD
            }
            value = value << 4 | digit
        }
        return value
    }

    /// The text of the number at `index`.
    func numberText(at index: Int) -> Substring {
        return Substring(String(decoding: bytes[index..<end(ofValueAt: index)], as: UTF8.self))
    }
}

/// A coding path kept as a chain of parents, turned into an array only when an error or a
/// caller asks for it (building an array for every value read was most of the decoder's cost).
final class CodingPathNode: @unchecked Sendable {
    // Immutable after init.
    let parent: CodingPathNode?
    let key: (any CodingKey)?

    static let root = CodingPathNode(parent: nil, key: nil)

    init(parent: CodingPathNode?, key: (any CodingKey)?) {
        self.parent = parent
        self.key = key
    }

    func appending(_ key: any CodingKey) -> CodingPathNode { CodingPathNode(parent: self, key: key) }

    var path: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node: CodingPathNode? = self
        while let current = node {
            if let key = current.key { keys.append(key) }
            node = current.parent
        }
        return keys.reversed()
    }
}

/// One JSON value as a `Decoder`.
struct LazyJSONValueDecoder: Decoder {
    let document: JSONDocument
    let start: Int
    let node: CodingPathNode
    var codingPath: [any CodingKey] { node.path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(document: JSONDocument, start: Int, node: CodingPathNode) {
        self.document = document
        self.start = start
        self.node = node
    }

    var byte: UInt8 { document.bytes[start] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard byte == UInt8(ascii: "{") else {
            throw DecodingError.typeMismatch(
                [String: Any].self, .init(codingPath: codingPath, debugDescription: "expected an object"))
        }
        return KeyedDecodingContainer(
            LazyJSONKeyedContainer<Key>(document: document, members: document.members(ofObjectAt: start), node: node))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard byte == UInt8(ascii: "[") else {
            throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "expected an array"))
        }
        return LazyJSONUnkeyedContainer(document: document, elements: document.elements(ofArrayAt: start), node: node)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }
}

extension LazyJSONValueDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool { byte == UInt8(ascii: "n") }

    func decode(_ type: Bool.Type) throws -> Bool {
        switch byte {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        default: throw mismatch(type, "a boolean")
        }
    }

    func decode(_ type: String.Type) throws -> String {
        guard byte == UInt8(ascii: "\"") else { throw mismatch(type, "a string") }
        return document.decodeString(at: start)
    }

    func decode(_ type: Double.Type) throws -> Double {
        guard isNumber, let value = Double(document.numberText(at: start)) else { throw mismatch(type, "a number") }
        return value
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    private func decodeInteger<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        guard isNumber, let value = T(document.numberText(at: start)) else { throw mismatch(type, "an integer") }
        return value
    }

    func decode(_ type: Int.Type) throws -> Int { try decodeInteger(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeInteger(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeInteger(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeInteger(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeInteger(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeInteger(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeInteger(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeInteger(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeInteger(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeInteger(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if type == String.self { return try decode(String.self) as! T }
        if type == Bool.self { return try decode(Bool.self) as! T }
        return try T(from: self)
    }

    private var isNumber: Bool { byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private func mismatch(_ type: Any.Type, _ expected: String) -> DecodingError {
        if decodeNil() {
            return DecodingError.valueNotFound(type, .init(codingPath: codingPath, debugDescription: "expected \(expected), found null"))
        }
        return DecodingError.typeMismatch(type, .init(codingPath: codingPath, debugDescription: "expected \(expected)"))
    }
}

/// The members of one JSON object, looked up by name without materialising the others.
struct LazyJSONKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let document: JSONDocument
    let members: [(name: Int, value: Int)]
    let node: CodingPathNode
    var codingPath: [any CodingKey] { node.path }

    var allKeys: [Key] { members.compactMap { Key(stringValue: document.decodeString(at: $0.name)) } }

    /// The value of the last member with this name (duplicate names: the last wins, as in Go's encoding/json).
    private func valueStart(_ key: Key) -> Int? {
        let name = key.stringValue
        for member in members.reversed() where document.string(at: member.name, equals: name) {
            return member.value
        }
        return nil
    }

    func contains(_ key: Key) -> Bool { valueStart(key) != nil }

    private func decoder(for key: Key) throws -> LazyJSONValueDecoder {
        guard let start = valueStart(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "\(key.stringValue) is missing"))
        }
        return LazyJSONValueDecoder(document: document, start: start, node: node.appending(key))
    }

    func decodeNil(forKey key: Key) throws -> Bool { try decoder(for: key).decodeNil() }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let value = try decoder(for: key)
        if value.decodeNil() && !(T.self is any ExpressibleByNilLiteral.Type) {
            throw DecodingError.valueNotFound(type, .init(codingPath: value.codingPath, debugDescription: "\(key.stringValue) is null"))
        }
        return try value.decode(type)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let start = valueStart(key) else { return nil }
        let value = LazyJSONValueDecoder(document: document, start: start, node: node.appending(key))
        if value.decodeNil() { return nil }
        return try value.decode(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder(for: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(for: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "super decoders are not supported"))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { try decoder(for: key) }
}

/// The elements of one JSON array, in order.
struct LazyJSONUnkeyedContainer: UnkeyedDecodingContainer {
    let document: JSONDocument
    let elements: [Int]
    let node: CodingPathNode
    var codingPath: [any CodingKey] { node.path }
    private(set) var currentIndex = 0

    init(document: JSONDocument, elements: [Int], node: CodingPathNode) {
        self.document = document
        self.elements = elements
        self.node = node
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private struct IndexKey: CodingKey {
        var intValue: Int?
        var stringValue: String { "\(intValue ?? 0)" }
        init(intValue: Int) { self.intValue = intValue }
        init?(stringValue: String) { nil }
    }

    private mutating func next() throws -> LazyJSONValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "no more elements"))
        }
        defer { currentIndex += 1 }
        return LazyJSONValueDecoder(
            document: document, start: elements[currentIndex], node: node.appending(IndexKey(intValue: currentIndex)))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if document.bytes[elements[currentIndex]] == UInt8(ascii: "n") {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> any Decoder { try next() }
}
