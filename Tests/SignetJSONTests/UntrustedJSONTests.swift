import Foundation
import Testing

@testable import SignetJSON

/// The gate counts what Foundation would build (values, objects and arrays, nesting) in one
/// pass, skipping strings eight bytes at a time; these tests pin what it counts, where strings
/// end, and that text which is not UTF-8 is refused.
@Suite
struct UntrustedJSONTests {
    func refusal(_ text: String, _ limits: UntrustedJSON.Limits) -> UntrustedJSON.Refusal.Reason? {
        refusal(Array(text.utf8), limits)
    }

    func refusal(_ bytes: [UInt8], _ limits: UntrustedJSON.Limits) -> UntrustedJSON.Refusal.Reason? {
        do throws(UntrustedJSON.Refusal) {
            try UntrustedJSON.check(bytes, limits: limits)
            return nil
        } catch {
            return error.reason
        }
    }

    /// 4 containers, 3 commas and 3 colons outside strings: 11 values. The brackets, commas,
    /// colons and escaped quotes inside the strings are not counted.
    @Test
    func bracketsAndCommasInsideStringsAreNotCounted() {
        let text = #"{"a":"[{\",[{:","b":[{},[]],"c":"\\"}"#
        #expect(refusal(text, .init(values: 11, containers: 4)) == nil)
        #expect(refusal(text, .init(values: 10, containers: 4)) == .tooManyValues(limit: 10))
        #expect(refusal(text, .init(values: 11, containers: 3)) == .tooManyContainers(limit: 3))
    }

    /// Foundation's index holds a member's name as a value of its own: an object of many
    /// members counts two values each: the object and 1,000 members are 2,001.
    @Test
    func memberNamesCountAsValues() {
        let members = "{" + (0..<1_000).map { #""m\#($0)":0"# }.joined(separator: ",") + "}"
        #expect(refusal(members, .init(values: 2_001)) == nil)
        #expect(refusal(members, .init(values: 2_000)) == .tooManyValues(limit: 2_000))
    }

    /// An object that names a member twice is refused: readers disagree on which one counts
    /// (JSONDecoder the first, JSONSerialization and Go the last). Names compare with their
    /// escapes resolved; the same name in different objects, or as a string value, is fine.
    @Test
    func aMemberNamedTwiceInOneObjectIsRefused() {
        let digest = #"{"critical":{"image":{"docker-manifest-digest":"sha256:aa"}},"critical":{"image":{"docker-manifest-digest":"sha256:bb"}}}"#
        #expect(refusal(digest, .registryDocument) == .duplicateMember("critical"))
        #expect(refusal(#"{"a":1,"\u0061":2}"#, .registryDocument) == .duplicateMember("a"))
        #expect(refusal(#"{"a\"b":1, "a\u0022b" : 2}"#, .registryDocument) == .duplicateMember("a\"b"))
        #expect(refusal(#"{"\ud83d\ude00":1,"😀":2}"#, .registryDocument) == .duplicateMember("😀"))
        #expect(refusal(#"{"x":{"a":1,"a":2}}"#, .registryDocument) == .duplicateMember("a"))
        #expect(refusal(#"[{"a":1},{"a":2}]"#, .registryDocument) == nil)
        #expect(refusal(#"{"a":"a","b":{"a":1},"c":["a","a"]}"#, .registryDocument) == nil)
        #expect(refusal(#"{"a":1,"A":2,"a ":3}"#, .registryDocument) == nil)
        // Canonically equivalent names are one key to Swift's strings and to what Foundation
        // builds, two to Go: U+212A KELVIN SIGN and K, a precomposed é and e with a combining acute.
        #expect(refusal(#"{"K":1,"\u212A":2}"#, .registryDocument) == .duplicateMember("\u{212A}"))
        #expect(refusal("{\"caf\u{E9}\":1,\"cafe\u{301}\":2}", .registryDocument) == .duplicateMember("cafe\u{301}"))
        let refused = UntrustedJSON.Refusal(reason: .duplicateMember("critical"))
        #expect(refused.description.contains(#"names the member "critical" twice"#))
    }

    /// A string's closing quote, an escaped quote and a NUL byte are found at every offset of the
    /// eight-byte words the scan reads, and in the bytes after the last whole word.
    @Test
    func stringsEndWhereTheyEndAtEveryOffset() {
        for length in 0..<40 {
            let filler = String(repeating: "a", count: length)
            // `[ "…" , [] ]`: 2 containers, 1 comma, 4 values; were the quote missed, the comma
            // and brackets after it would be read as inside the string.
            #expect(refusal(#"["\#(filler)",[]]"#, .init(values: 4)) == nil, "length \(length)")
            #expect(refusal(#"["\#(filler)",[]]"#, .init(values: 3)) == .tooManyValues(limit: 3), "length \(length)")
            // An escaped quote does not end the string: the brackets after it are text.
            #expect(refusal(#"["\#(filler)\"[[[,,,"]"#, .init(values: 2, containers: 1)) == nil, "length \(length)")
            // An escaped backslash does: `[ "…\\" , [] ]` again holds 4 values.
            #expect(refusal(#"["\#(filler)\\",[]]"#, .init(values: 3)) == .tooManyValues(limit: 3), "length \(length)")
            // A NUL byte inside a string, escaped or not.
            #expect(refusal(Array("[\"\(filler)".utf8) + [0] + Array("\"]".utf8), .registryDocument) == .notUTF8, "length \(length)")
            #expect(refusal(Array("[\"\(filler)\\".utf8) + [0] + Array("\"]".utf8), .registryDocument) == .notUTF8, "length \(length)")
        }
    }

    /// Foundation reads UTF-16 too, where a quote byte can hide inside another character
    /// (U+0122 is `22 01`) and blind a byte scan to every bracket after it: the NUL bytes every
    /// UTF-16 text of JSON holds refuse it.
    @Test
    func aDocumentNotInUTF8IsRefused() {
        let hidden = "[\"\u{0122}\"," + Array(repeating: "{}", count: 2_000).joined(separator: ",") + "]"
        for bigEndian in [false, true] {
            var utf16: [UInt8] = bigEndian ? [0xFE, 0xFF] : [0xFF, 0xFE]
            for unit in hidden.utf16 {
                let pair = [UInt8(truncatingIfNeeded: unit), UInt8(truncatingIfNeeded: unit >> 8)]
                utf16 += bigEndian ? pair.reversed() : pair
            }
            #expect(refusal(utf16, .init(values: 100)) == .notUTF8)
        }
    }

    @Test
    func nestingIsCountedAcrossObjectsAndArrays() {
        func nested(_ depth: Int) -> String {
            String(repeating: #"{"a":["#, count: depth / 2) + (depth % 2 == 1 ? "[]" : "0") + String(repeating: "]}", count: depth / 2)
        }
        #expect(refusal(nested(64), .registryDocument) == nil)
        #expect(refusal(nested(65), .registryDocument) == .nestedTooDeeply(limit: 64))
        #expect(refusal(nested(128), .inTotoStatement) == nil)
        #expect(refusal(nested(129), .inTotoStatement) == .nestedTooDeeply(limit: 128))
    }

    /// At the registry limit a document is decoded; one value more and it is refused unread,
    /// saying why; malformed JSON within the limits gets the decoder's own error.
    @Test
    func decodeReadsUpToTheLimitAndRefusesPastIt() throws {
        struct Wanted: Decodable { var name: String }
        func document(padding: Int) -> [UInt8] {
            // The object, its two members' names and values, the array's elements: padding + 5.
            Array((#"{"name":"x","padding":["# + Array(repeating: "0", count: padding).joined(separator: ",") + "]}").utf8)
        }
        let limit = UntrustedJSON.Limits.registryDocument.values
        #expect(try UntrustedJSON.decode(Wanted.self, from: document(padding: limit - 5)).name == "x")
        #expect {
            _ = try UntrustedJSON.decode(Wanted.self, from: document(padding: limit - 4))
        } throws: { error in
            "\(error)".contains("the document holds more than \(limit) JSON values") && error is UntrustedJSON.Refusal
        }
        #expect {
            _ = try UntrustedJSON.decode(Wanted.self, from: Array(#"{"name":"x","#.utf8))
        } throws: { error in
            !(error is UntrustedJSON.Refusal)
        }
        #expect(try UntrustedJSON.object(Array(#"{"name":"x"}"#.utf8)) as? [String: String] == ["name": "x"])
    }
}
