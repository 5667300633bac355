/// Walking a checked document without building anything: member and element positions handed
/// to a closure, member names compared on their bytes.
extension JSONDocument {
    static let quote = UInt8(ascii: "\"")
    static let objectStart = UInt8(ascii: "{")
    static let arrayStart = UInt8(ascii: "[")

    /// The first byte of the value at `index`: `{`, `[`, `"`, `t`, `f`, `n`, or a number's first.
    @inline(__always)
    func byte(at index: Int) -> UInt8 { bytes[index] }

    @inline(__always)
    func isNull(at index: Int) -> Bool { bytes[index] == UInt8(ascii: "n") }

    /// Calls `body` with where each member's name (its opening quote) and value start, in
    /// document order. Duplicate names are all reported; a reader that keeps the last one gets
    /// the decoder's rule (the last wins).
    func forEachMember(ofObjectAt index: Int, _ body: (_ name: Int, _ value: Int) -> Void) {
        bytes.withUnsafeBufferPointer { buffer in
            var i = Self.skipWhitespace(buffer, index + 1)
            if i >= buffer.count || buffer[i] == UInt8(ascii: "}") { return }
            while true {
                let name = i
                i = Self.skipWhitespace(buffer, (try? Self.skipString(buffer, i)) ?? buffer.count)
                let value = Self.skipWhitespace(buffer, i + 1)
                body(name, value)
                i = Self.skipWhitespace(buffer, end(ofValueAt: value))
                if i >= buffer.count || buffer[i] == UInt8(ascii: "}") { return }
                i = Self.skipWhitespace(buffer, i + 1)
            }
        }
    }

    /// Calls `body` with where each element of the array at `index` starts, in order.
    func forEachElement(ofArrayAt index: Int, _ body: (_ element: Int) -> Void) {
        bytes.withUnsafeBufferPointer { buffer in
            var i = Self.skipWhitespace(buffer, index + 1)
            if i >= buffer.count || buffer[i] == UInt8(ascii: "]") { return }
            while true {
                body(i)
                i = Self.skipWhitespace(buffer, end(ofValueAt: i))
                if i >= buffer.count || buffer[i] == UInt8(ascii: "]") { return }
                i = Self.skipWhitespace(buffer, i + 1)
            }
        }
    }

    /// Whether the member name (the string) at `index` is `expected`: compared byte for byte,
    /// or, when the name holds an escape, as decoded text (as ``string(at:equals:)`` does).
    func name(at index: Int, is expected: StaticString) -> Bool {
        expected.withUTF8Buffer { key in
            bytes.withUnsafeBufferPointer { buffer in
                var i = index + 1
                for byte in key {
                    guard i < buffer.count else { return false }
                    let current = buffer[i]
                    if current == UInt8(ascii: "\\") { return decodeString(at: index) == String(decoding: key, as: UTF8.self) }
                    if current != byte { return false }
                    i += 1
                }
                return i < buffer.count && buffer[i] == Self.quote
            }
        }
    }
}
