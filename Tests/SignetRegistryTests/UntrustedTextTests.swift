@testable import SignetRegistry
import Testing

/// Text from outside is bounded in characters and in bytes, and printable where signet shows it.
@Suite
struct UntrustedTextTests {
    /// One character can be any number of combining scalars: the byte bound holds anyway.
    @Test func oneCharacterOfAMillionCombiningMarksIsCut() {
        let text = "a" + String(repeating: "\u{301}", count: 500_000)
        #expect(text.count == 1)
        let bounded = UntrustedText.bounded(text, limit: 100)
        #expect(bounded.utf8.count < 4 * 100 + 40, "\(bounded.utf8.count) bytes")
        #expect(bounded.hasSuffix("… (\(text.utf8.count) bytes)"))
        // Within both bounds a text is kept as written.
        #expect(UntrustedText.bounded("café \u{1F600}", limit: 100) == "café \u{1F600}")
    }

    /// A short text is made printable too: an escape sequence in a certificate's identity or a
    /// registry's answer reaches a deny message whatever its length.
    @Test func aShortTextIsShownWithoutControlsOrOverrides() {
        #expect(UntrustedText.bounded("identity \u{1B}]8;;https://x\u{7}ok", limit: 100) == "identity ?]8;;https://x?ok")
        #expect(UntrustedText.bounded("csi \u{9B}2J", limit: 100) == "csi ?2J")
        #expect(UntrustedText.bounded("a\u{202E}b\u{2028}c\u{200F}d", limit: 100) == "a?b?c?d")
        #expect(UntrustedText.bounded("line\nbreak\ttab", limit: 100) == "line?break?tab")
        #expect(UntrustedText.bounded("plain: café ✓", limit: 100) == "plain: café ✓")
    }

    /// The eight-bytes-at-a-time check agrees with a byte-by-byte one for every byte value at
    /// every offset of a word, and in the bytes after the last whole word.
    @Test func thePrintableASCIICheckAgreesWithAPlainOne() {
        for length in [1, 7, 8, 9, 15, 16, 17, 24] {
            for offset in 0..<length {
                for byte in [UInt8(0), 0x09, 0x1F, 0x20, 0x41, 0x7E, 0x7F, 0x80, 0x9B, 0xC3, 0xFF] {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[offset] = byte
                    let expected = bytes.allSatisfy { (0x20..<0x7F).contains($0) }
                    #expect(bytes.withUnsafeBufferPointer(UntrustedText.isPrintableASCII) == expected, "\(length) \(offset) \(byte)")
                }
            }
        }
        #expect([UInt8]().withUnsafeBufferPointer(UntrustedText.isPrintableASCII))
    }

    /// An image is shown as printable ASCII within the longest valid reference: C0 and C1
    /// controls, escape sequences, bidirectional overrides and combining marks become `?`.
    @Test func anImageIsShownAsPrintableASCII() {
        #expect(UntrustedText.shown(image: "r.example/app\u{1B}[2J:v1") == "r.example/app?[2J:v1")
        #expect(UntrustedText.shown(image: "r.example/app\u{9B}2J:v1") == "r.example/app??2J:v1")
        #expect(UntrustedText.shown(image: "r.example/\u{202E}ppa:v1") == "r.example/???ppa:v1")
        let marks = "r.example/a" + String(repeating: "\u{301}", count: 100_000)
        let shown = UntrustedText.shown(image: marks)
        #expect(shown.utf8.count <= UntrustedText.imageLimit + 30)
        #expect(shown.utf8.prefix(UntrustedText.imageLimit).allSatisfy { (0x20...0x7E).contains($0) })
        #expect(shown.hasSuffix("… (\(marks.utf8.count) bytes)"))
    }

    /// The longest valid references (a 255-character name, a 128-character tag, a sha512 or a
    /// long digest of another algorithm) are kept as written: digest pinning patches them.
    @Test func everyValidReferenceIsKeptAsWritten() throws {
        let name = "r.example/" + String(repeating: "a", count: 245)
        let longest = [
            name + ":" + String(repeating: "t", count: 128) + "@sha512:" + String(repeating: "0", count: 128),
            name + ":" + String(repeating: "t", count: 128) + "@x:" + String(repeating: "0", count: 198),
        ]
        for reference in longest {
            _ = try ImageReference(parsing: reference)
            #expect(UntrustedText.shown(image: reference) == reference, "\(reference.utf8.count) bytes")
        }
    }

    /// A container's name is shown by the same rule within 63 bytes, the longest RFC 1123 label
    /// Kubernetes accepts: every valid name is kept, anything else is cut and made printable.
    @Test func aContainerNameIsShownAsPrintableASCIIWithinALabel() {
        let longest = String(repeating: "a", count: 62) + "z"
        #expect(UntrustedText.shown(containerName: longest) == longest)
        #expect(UntrustedText.shown(containerName: "web-1") == "web-1")
        #expect(UntrustedText.shown(containerName: "web\u{1B}]8;;http://x\u{7}") == "web?]8;;http://x?")
        let long = String(repeating: "b", count: 100_000)
        let shown = UntrustedText.shown(containerName: long)
        #expect(shown == String(repeating: "b", count: UntrustedText.containerNameLimit) + "… (100000 bytes)")
    }
}
