import Foundation
import Testing
@testable import SignetTUF

/// OLPC canonical JSON (TUF specification section 4.2) and the strict parser under it.
@Suite struct CanonicalJSONTests {
    let parser = JSONParser()

    @Test func sortsMembersAndDropsWhitespace() throws {
        let value = try parser.parse(Array(#"{ "b": [1, true, null], "a": {"z": "x", "y": -3} }"#.utf8))
        #expect(String(decoding: try OLPCCanonicalJSON().encode(value), as: UTF8.self) == #"{"a":{"y":-3,"z":"x"},"b":[1,true,null]}"#)
    }

    @Test func escapesOnlyQuoteAndBackslash() throws {
        // A PEM key's newlines are written raw, as securesystemslib does; \u escapes are decoded.
        let value = try parser.parse(Array(#"{"k": "-----BEGIN\nq\"\\ \u00e9"}"#.utf8))
        #expect(String(decoding: try OLPCCanonicalJSON().encode(value), as: UTF8.self) == "{\"k\":\"-----BEGIN\nq\\\"\\\\ é\"}")
    }

    @Test func sortsByCodePoint() throws {
        let value = try parser.parse(Array(#"{"é": 1, "z": 2, "A": 3, "_": 4}"#.utf8))
        #expect(String(decoding: try OLPCCanonicalJSON().encode(value), as: UTF8.self) == #"{"A":3,"_":4,"z":2,"é":1}"#)
    }

    @Test func refusesNumbersItCannotEncode() throws {
        let value = try parser.parse(Array(#"{"x": 1.5}"#.utf8))
        #expect(throws: TUFError.self) { try OLPCCanonicalJSON().encode(value) }
    }

    @Test func parserRefusesDuplicatesAndTrailingText() {
        for text in [#"{"a": 1, "a": 2}"#, #"{"a": 1} x"#, #"{"a": 01}"#, #"{"a": "\ud800"}"#, "[1,]"] {
            #expect(throws: TUFError.self, "\(text)") { try parser.parse(Array(text.utf8)) }
        }
    }

    /// Metadata is read before its signatures are checked: a document of more values than the
    /// parser allows is refused before a tree is built, saying so.
    @Test func parserRefusesMoreValuesThanItAllows() throws {
        let small = JSONParser(maximumValues: 10)
        #expect(try small.parse(Array("[1,2,3,4,5,6,7,8,9]".utf8)) == .array((1...9).map { .integer(Int64($0)) }))
        #expect {
            _ = try small.parse(Array("[1,2,3,4,5,6,7,8,9,10]".utf8))
        } throws: { error in
            "\(error)".contains("the document holds more than 10 JSON values")
        }
    }

    @Test func datesAsRealRepositoriesWroteThem() {
        #expect(MetadataDate.parse("2026-11-20T13:58:18Z") == Date(timeIntervalSince1970: 1_795_183_098))
        let offset = MetadataDate.parse("2021-12-18T13:28:12.99008-06:00")!
        #expect(abs(offset.timeIntervalSince1970 - 1_639_855_692.99008) < 0.001)
        #expect(MetadataDate.parse("2021-12-18 13:28:12Z") == nil)
    }

    @Test func delegationPathPatterns() {
        #expect(ShellPattern.matches(pattern: Array("*.txt".utf8), text: Array("a.txt".utf8)))
        #expect(!ShellPattern.matches(pattern: Array("*.txt".utf8), text: Array("a.tar".utf8)))
        #expect(ShellPattern.matches(pattern: Array("file-[0-9]?".utf8), text: Array("file-3x".utf8)))
        #expect(!ShellPattern.matches(pattern: Array("file-[!0-9]".utf8), text: Array("file-3".utf8)))
    }
}
