#if canImport(Glibc)
import Glibc
#endif

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

    /// A member name in the document: where its string starts and ends (the quotes included),
    /// and whether it holds an escape.
    struct MemberName {
        let start: Int
        let end: Int
        let hasEscape: Bool
    }

    /// Calls `body` with each member's name and where its value starts, in document order.
    /// Duplicate names are all reported; a reader that keeps the last one gets the decoder's
    /// rule (the last wins).
    func forEachMember(ofObjectAt index: Int, _ body: (_ name: MemberName, _ value: Int) -> Void) {
        bytes.withUnsafeBufferPointer { buffer in
            var i = Self.skipWhitespace(buffer, index + 1)
            if i >= buffer.count || buffer[i] == UInt8(ascii: "}") { return }
            while true {
                let start = i
                let name = memberName(at: start, in: buffer)
                i = Self.skipWhitespace(buffer, name.end)
                let value = Self.skipWhitespace(buffer, i + 1)
                body(name, value)
                i = Self.skipWhitespace(buffer, end(ofValueAt: value))
                if i >= buffer.count || buffer[i] == UInt8(ascii: "}") { return }
                i = Self.skipWhitespace(buffer, i + 1)
            }
        }
    }

    /// The member name whose string starts at `start`: from the end index (which holds only
    /// names without an escape), or scanned.
    @inline(__always)
    private func memberName(at start: Int, in buffer: UnsafeBufferPointer<UInt8>) -> MemberName {
        if start < ends.count {
            let end = ends[start]
            if end != 0 { return MemberName(start: start, end: Int(end), hasEscape: false) }
        }
        // A large document, or a name with an escape: scanned (it was checked, so the scan cannot fail).
        let (nameEnd, hasEscape) = (try? Self.skipStringNotingEscapes(buffer, start)) ?? (buffer.count, false)
        return MemberName(start: start, end: nameEnd, hasEscape: hasEscape)
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

    /// Whether the member name is `expected`: its length and bytes, or, when it holds an escape,
    /// its decoded text (as ``string(at:equals:)`` compares).
    @inline(__always)
    func name(at name: MemberName, is expected: StaticString) -> Bool {
        if name.hasEscape { return self.name(at: name.start, is: expected) }
        guard name.end - name.start - 2 == expected.utf8CodeUnitCount else { return false }
        return expected.withUTF8Buffer { key in
            bytes.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress, let keyBase = key.baseAddress else { return key.isEmpty }
                return memcmp(base + name.start + 1, keyBase, key.count) == 0
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
