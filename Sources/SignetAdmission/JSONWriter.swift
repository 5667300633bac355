import Foundation

/// Writes JSON text (RFC 8259) straight into bytes: strings escaped as §7 requires, members in
/// the order given. Used for the AdmissionReview response and the audit line on the hot path,
/// where Foundation's `JSONEncoder` cost more than the decision itself.
///
/// The bytes go into a buffer the writer owns and grows by doubling (it is not copyable, and
/// frees the buffer when it goes away): appending a key or a short literal is a bounds check and
/// a copy, without an array's uniqueness check and generic append for every piece.
struct JSONWriter: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int

    init(capacity: Int = 512) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The text written so far.
    var bytes: [UInt8] { [UInt8](UnsafeBufferPointer(start: base, count: count)) }

    /// Calls `body` with the text written so far, without copying it.
    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(toHold: count + extra) }
    }

    private mutating func grow(toHold needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.initialize(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    private mutating func append(_ text: UnsafeBufferPointer<UInt8>) {
        guard let source = text.baseAddress, !text.isEmpty else { return }
        reserve(text.count)
        (base + count).initialize(from: source, count: text.count)
        count += text.count
    }

    private mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append($0) }
    }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { append($0) }
    }

    // Two overloads rather than one over `StringProtocol`: the generic one reached the bytes
    // through the protocol and retained and released every string it wrote.
    mutating func string(_ value: String) {
        let written: Void? = value.utf8.withContiguousStorageIfAvailable { quoted($0) }
        if written == nil {
            var copy = value
            copy.withUTF8 { quoted($0) }
        }
    }

    mutating func string(_ value: Substring) {
        let written: Void? = value.utf8.withContiguousStorageIfAvailable { quoted($0) }
        if written == nil {
            var copy = value
            copy.withUTF8 { quoted($0) }
        }
    }

    /// `text` as a JSON string: quotes around, escapes inside.
    private mutating func quoted(_ text: UnsafeBufferPointer<UInt8>) {
        append(UInt8(ascii: "\""))
        appendEscaped(text)
        append(UInt8(ascii: "\""))
    }

    /// Appends runs of bytes that need no escape in one copy each (found eight bytes at a time,
    /// as the JSON syntax check finds them); escapes the others.
    private mutating func appendEscaped(_ text: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        while runStart < text.count {
            let special = JSONDocument.skipPlainStringBytes(text, runStart)
            if runStart < special { append(UnsafeBufferPointer(rebasing: text[runStart..<special])) }
            guard special < text.count else { return }
            appendEscaped(text[special])
            runStart = special + 1
        }
    }

    /// One byte of a string, escaped when RFC 8259 §7 requires it.
    private mutating func appendEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): raw("\\\"")
        case UInt8(ascii: "\\"): raw("\\\\")
        case 0x0A: raw("\\n")
        case 0x0D: raw("\\r")
        case 0x09: raw("\\t")
        case 0x08: raw("\\b")
        case 0x0C: raw("\\f")
        case 0x00..<0x20:
            raw("\\u00")
            append(Self.hex[Int(byte >> 4)])
            append(Self.hex[Int(byte & 0x0F)])
        default: append(byte)
        }
    }

    mutating func bool(_ value: Bool) { value ? raw("true") : raw("false") }

    mutating func int(_ value: Int) { append(String(value)) }

    /// A finite number as Swift prints it (`2.5`, `0.001`); not-a-number and infinities as 0.
    mutating func double(_ value: Double) {
        append(value.isFinite ? String(value) : "0")
    }

    mutating func stringArray(_ values: [String]) {
        append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { append(UInt8(ascii: ",")) }
            string(value)
        }
        append(UInt8(ascii: "]"))
    }

    /// An object of string members, keys sorted.
    mutating func stringObject(_ members: [String: String]) {
        append(UInt8(ascii: "{"))
        for (index, member) in members.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { append(UInt8(ascii: ",")) }
            string(member.key)
            append(UInt8(ascii: ":"))
            string(member.value)
        }
        append(UInt8(ascii: "}"))
    }

    /// Starts a member of an object: a comma unless it is the first, the key and the colon.
    mutating func key(_ name: StaticString, first: Bool = false) {
        name.withUTF8Buffer { name in
            reserve(name.count + 4)
            if !first {
                base[count] = UInt8(ascii: ",")
                count += 1
            }
            base[count] = UInt8(ascii: "\"")
            if let start = name.baseAddress { (base + count + 1).initialize(from: start, count: name.count) }
            base[count + 1 + name.count] = UInt8(ascii: "\"")
            base[count + 2 + name.count] = UInt8(ascii: ":")
            count += name.count + 3
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}

extension AdmissionReview {
    /// The JSON of a response review: `apiVersion`, `kind`, `response` with keys sorted, as
    /// `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes` would write it.
    static func responseJSON(_ response: AdmissionResponse) -> [UInt8] {
        var writer = JSONWriter()
        writer.raw(#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"allowed":"#)
        writer.bool(response.allowed)
        if let annotations = response.auditAnnotations {
            writer.key("auditAnnotations")
            writer.stringObject(annotations)
        }
        if let patch = response.patch {
            writer.key("patch")
            writer.string(patch.base64EncodedString())
            writer.key("patchType")
            writer.string("JSONPatch")
        }
        if let status = response.status {
            writer.key("status")
            writer.raw("{")
            var first = true
            if let code = status.code {
                writer.key("code", first: first)
                writer.int(code)
                first = false
            }
            if let message = status.message {
                writer.key("message", first: first)
                writer.string(message)
                first = false
            }
            if let reason = status.reason {
                writer.key("reason", first: first)
                writer.string(reason)
            }
            writer.raw("}")
        }
        writer.key("uid")
        writer.string(response.uid)
        if let warnings = response.warnings {
            writer.key("warnings")
            writer.stringArray(warnings)
        }
        writer.raw("}}")
        return writer.bytes
    }
}
