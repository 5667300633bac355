import Foundation
import Testing
import SignetPolicy

@testable import SignetAdmission

/// The lazy decoder against Foundation's `JSONDecoder` (the reference) and RFC 8259's grammar.
struct LazyJSONDecoderTests {
    struct Sample: Codable, Equatable {
        var text: String
        var flag: Bool
        var count: Int
        var ratio: Double
        var nothing: String?
        var list: [String]
        var nested: [String: [Int]]
    }

    @Test(arguments: [
        #"{"text":"plain","flag":true,"count":42,"ratio":0.5,"list":[],"nested":{}}"#,
        #"{"text":"esc \"q\" \\ \/ \b\f\n\r\t","flag":false,"count":-7,"ratio":1e3,"nothing":null,"list":["a","b"],"nested":{"x":[1,2,3]}}"#,
        #"{"text":"\u00e9\u4e2d\ud83d\ude00 é 中 😀","flag":true,"count":0,"ratio":-2.5E-2,"list":["\u0000x"],"nested":{"k":[]}}"#,
        #"  { "nested" : { "a" : [ 1 ] } , "list" : [ "z" ] , "ratio" : 3 , "count" : 1 , "flag" : true , "text" : "" }  "#,
        #"{"text":"t","flag":true,"count":1,"ratio":1,"list":[],"nested":{},"ignored":{"deep":[[[{"a":null}]]],"n":-0.0e+1}}"#,
    ])
    func matchesFoundation(_ json: String) throws {
        let bytes = Array(json.utf8)
        let reference = try JSONDecoder().decode(Sample.self, from: Data(bytes))
        let lazy = try LazyJSONDecoder.decode(Sample.self, from: bytes)
        #expect(lazy == reference)
    }

    /// Duplicate member names: the last wins, as in Go's encoding/json, which the API server uses.
    @Test func lastDuplicateMemberWins() throws {
        let decoded = try LazyJSONDecoder.decode([String: String].self, from: Array(#"{"image":"a","image":"b"}"#.utf8))
        #expect(decoded == ["image": "b"])
        struct Container: Decodable { var image: String }
        #expect(try LazyJSONDecoder.decode(Container.self, from: Array(#"{"image":"a","image":"b"}"#.utf8)).image == "b")
    }

    @Test(arguments: [
        "", " ", "{", "}", #"{"a":}"#, #"{"a" 1}"#, #"{"a":1,}"#, "[1,]", "[1 2]", #"{"a":"unterminated}"#,
        "tru", "nul", "01x", "-", "1.", "1e", #"{"a":1}x"#, "{\"a\":\"tab\there\"}", "[\"\u{01}\"]", "{'a':1}",
        #"{"a\x":1}"#, #"{"a\u12":1}"#, #"{"a\u12G4":1}"#, #"{"a\ ":1}"#, #"{"a\"#, #"{"a":01}"#, #"{"a":-00}"#,
    ])
    func rejectsInvalidJSON(_ json: String) {
        #expect(throws: DecodingError.self) { try LazyJSONDecoder.decode([String: Int].self, from: Array(json.utf8)) }
    }

    /// Strings are scanned eight bytes at a time: a quote, backslash or control character at
    /// every position of strings of every length up to a few words is found as Foundation finds it.
    @Test func specialBytesAreFoundAtEveryPosition() throws {
        let specials: [String] = ["\\\"", "\\\\", "\\n", "\\u00e9", "\t", "\u{01}", "é", "😀", "\u{7F}"]
        for length in 0..<20 {
            for position in 0...length {
                for special in specials {
                    let text = String(repeating: "a", count: position) + special + String(repeating: "b", count: length - position)
                    let json = Array("[\"\(text)\",\"\(text)\"]".utf8)
                    let reference = try? JSONDecoder().decode([String].self, from: Data(json))
                    let lazy = try? LazyJSONDecoder.decode([String].self, from: json)
                    #expect(lazy == reference, "\(text.debugDescription)")
                }
            }
        }
    }

    /// The syntax check against Foundation's parser on documents with one structural byte
    /// changed (brackets, braces, commas, colons, quotes, spaces put anywhere): both accept or
    /// both reject; every container ends where a plain scan ends it, and every value and member
    /// name ends where the document without an end index (its spans and scans) ends it.
    @Test func syntaxCheckAgreesWithFoundationOnMutatedDocuments() throws {
        let base = Array(#"{"a": [1, {"b": "x\"y", "\u0063": [true, false, null]}, "long string value over sixty-four bytes, to get a span ....."], "d": {"e": {"f": [[], {}, "g"]}}, "h": -1.5e3}"#.utf8)
        let replacements = Array("{}[],:\" ".utf8)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var accepted = 0
        for _ in 0..<3000 {
            var bytes = base
            bytes[next() % bytes.count] = replacements[next() % replacements.count]
            let foundation = (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil
            let document = try? JSONDocument(validating: bytes)
            #expect((document != nil) == foundation, "\(String(decoding: bytes, as: UTF8.self))")
            guard let document else { continue }
            accepted += 1
            let unindexed = try JSONDocument(validating: bytes, endIndexLimit: 0)
            #expect(unindexed.ends.isEmpty)
            var escapedNames = 0
            // The bytes that open a container, not the ones inside strings.
            var inString = false
            var escaped = false
            for index in bytes.indices {
                let byte = bytes[index]
                if inString {
                    if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                    continue
                }
                if byte == UInt8(ascii: "\"") { inString = true }
                guard byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") else { continue }
                let scanned = bytes.withUnsafeBufferPointer { JSONDocument.skipCheckedContainer($0, index) }
                #expect(document.end(ofValueAt: index) == scanned)
                #expect(document.ends[index] == UInt16(scanned), "a container without an end in the index")
                if byte == UInt8(ascii: "{") {
                    escapedNames += unindexed.members(ofObjectAt: index).count {
                        bytes[$0.name..<unindexed.end(ofValueAt: $0.name)].contains(UInt8(ascii: "\\"))
                    }
                }
            }
            var recorded = 0
            for index in bytes.indices where document.ends[index] != 0 {
                recorded += 1
                #expect(document.end(ofValueAt: index) == unindexed.end(ofValueAt: index), "\(String(decoding: bytes, as: UTF8.self)) at \(index)")
            }
            // Every value and every member name without an escape has its end recorded: as many
            // as Foundation parsed, less the names with an escape.
            let parsed = try JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)
            #expect(recorded == Self.valuesAndNames(parsed) - escapedNames, "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(accepted > 100)
    }

    /// Documents at the end index's limit: the largest indexed one ends its outer object at the
    /// last offset a 16-bit entry holds (65,535), one with trailing whitespace ends it before,
    /// and one byte more gets no index. Each walks as the unindexed document does.
    @Test func documentsAtTheEndIndexLimitWalkAsUnindexedOnes() throws {
        func document(length: Int, trailingSpaces: Int) -> [UInt8] {
            let head = #"{"b": [1, {"c": "d\"e"}, [], {}], "\u0061": null, "a": ""#
            let tail = #""}"#
            let padding = length - head.utf8.count - tail.utf8.count - trailingSpaces
            return Array((head + String(repeating: "p", count: padding) + tail + String(repeating: " ", count: trailingSpaces)).utf8)
        }
        let limit = JSONDocument.endIndexLimit
        #expect(limit == 65_535)
        for (length, spaces, indexed) in [(limit, 0, true), (limit, 3, true), (limit + 1, 0, false), (limit + 1, 1, false)] {
            let bytes = document(length: length, trailingSpaces: spaces)
            #expect(bytes.count == length)
            let document = try JSONDocument(validating: bytes)
            let unindexed = try JSONDocument(validating: bytes, endIndexLimit: 0)
            #expect(document.ends.isEmpty == !indexed, "\(length) bytes")
            #expect(document.end(ofValueAt: 0) == length - spaces)
            var members: [(String, Int, Int)] = []
            document.forEachMember(ofObjectAt: 0) { name, value in
                members.append((document.decodeString(at: name.start), value, document.end(ofValueAt: value)))
            }
            var expected: [(String, Int, Int)] = []
            unindexed.forEachMember(ofObjectAt: 0) { name, value in
                expected.append((unindexed.decodeString(at: name.start), value, unindexed.end(ofValueAt: value)))
            }
            #expect(members.map(\.0) == ["b", "a", "a"])
            #expect(members.map(\.0) == expected.map(\.0) && members.map(\.1) == expected.map(\.1) && members.map(\.2) == expected.map(\.2))
            #expect(members.last?.2 == length - spaces - 1, "the long string ends before the closing brace")
        }
    }

    /// How many values (nested ones included) and member names a parsed document holds.
    static func valuesAndNames(_ value: Any) -> Int {
        if let object = value as? [String: Any] { return 1 + object.count + object.values.reduce(0) { $0 + valuesAndNames($1) } }
        if let array = value as? [Any] { return 1 + array.reduce(0) { $0 + valuesAndNames($1) } }
        return 1
    }

    @Test func rejectsNestingDeeperThanTheLimitWithoutCrashing() throws {
        let deep = Array(repeating: UInt8(ascii: "["), count: 1_000_000)
        #expect(throws: DecodingError.self) { try LazyJSONDecoder.decode([Int].self, from: deep) }
        let nested = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: DecodingError.self) { try LazyJSONDecoder.decode([Int].self, from: Array(nested.utf8)) }
        #expect(try LazyJSONDecoder.decode([[[Int]]].self, from: Array("[[[]]]".utf8)) == [[[]]])
        // The limit exactly: as deep as it allows is checked, one level more is refused as such.
        let limit = LazyJSONDecoder.maximumDepth
        let atLimit = String(repeating: "[{\"a\":", count: limit / 2) + "1" + String(repeating: "}]", count: limit / 2)
        #expect((try? JSONDocument(validating: Array(atLimit.utf8))) != nil)
        let beyond = "[" + atLimit + "]"
        #expect(throws: JSONSyntaxError.self) { try JSONDocument(validating: Array(beyond.utf8)) }
        do {
            _ = try JSONDocument(validating: Array(beyond.utf8))
        } catch {
            #expect(error.reason == "nested too deeply", "\(error)")
        }
    }

    @Test func reportsPathsLikeFoundation() {
        struct Outer: Decodable { var request: Inner }
        struct Inner: Decodable { var uid: String }
        #expect {
            try LazyJSONDecoder.decode(Outer.self, from: Array(#"{"request":{}}"#.utf8))
        } throws: { error in
            guard case DecodingError.keyNotFound(let key, let context) = error else { return false }
            return key.stringValue == "uid" && context.codingPath.map(\.stringValue) == ["request"]
        }
        #expect {
            try LazyJSONDecoder.decode(Outer.self, from: Array(#"{"request":{"uid":5}}"#.utf8))
        } throws: { error in
            guard case DecodingError.typeMismatch(_, let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["request", "uid"]
        }
    }
}

/// The hand-written response JSON against Foundation's `JSONEncoder` with sorted keys.
struct ResponseJSONTests {
    @Test(arguments: [
        AdmissionResponse(uid: "u-1", allowed: true),
        AdmissionResponse(
            uid: "u-2", allowed: false,
            status: AdmissionStatus(
                code: 403, reason: "Forbidden", message: "image \"a/b:1\" denied: \\ / tab\tnew\nline \u{01} é 😀"),
            warnings: ["w1", "w \"2\""], auditAnnotations: ["decision": "denied", "images": #"[{"a":"b"}]"#, "dry-run": "true"]),
        AdmissionResponse(uid: "u-3", allowed: true, status: AdmissionStatus(code: nil, reason: nil, message: "m"), warnings: []),
    ])
    func matchesJSONEncoder(_ response: AdmissionResponse) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let reference = try encoder.encode(AdmissionReview(response: response))
        let written = AdmissionReview.responseJSON(response)
        // Same document (the escaping of control characters may differ in case or form).
        let a = try JSONSerialization.jsonObject(with: reference) as? NSDictionary
        let b = try JSONSerialization.jsonObject(with: Data(written)) as? NSDictionary
        #expect(a == b)
        #expect(String(decoding: written, as: UTF8.self).hasPrefix(#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"allowed":"#))
    }
}

/// The hand-written audit line against Foundation's `JSONEncoder` (the record is `Encodable`).
struct AuditLineTests {
    @Test func matchesJSONEncoder() throws {
        let use = ExemptionUse(
            kind: .policyException, namespace: "billing", name: "vendor \"x\"", expiresAt: Date(timeIntervalSince1970: 1_800_000_000),
            reason: "ticket\nOPS-1", policy: "deny-untrusted",
            attribution: ExemptionAttribution(createdBy: "alice", createdByGroups: ["sre", "system:authenticated"], lastChangedBy: "bob"))
        let record = AdmissionAuditRecord(
            event: "admission", time: "2026-11-22T10:00:00Z", uid: "u", namespace: "billing", kind: "Pod", name: nil,
            user: "alice", operation: "CREATE", dryRun: true, allowed: true, reason: nil, policyRevision: "abc",
            latencyMs: 0.125,
            verdicts: [ImageVerdict(
                image: "nginx", reference: "docker.io/library/nginx@sha256:" + String(repeating: "a", count: 64), container: "web",
                containerType: .container, policies: ["p"], outcome: .allow, reason: "r",
                results: [PolicyResult(
                    policy: "p", mode: .enforce, passed: true, required: 1,
                    authorities: [AuthorityResult(authority: "a", status: .passed, reason: "ok")])],
                exemptions: [use]),
                // Denied only because the registry did not answer: `undecided` is written.
                ImageVerdict(
                    image: "ghcr.io/org/app:1", reference: "ghcr.io/org/app:1", container: "app", containerType: .container,
                    policies: ["p"], outcome: .deny, reason: "could not verify",
                    results: [PolicyResult(
                        policy: "p", mode: .enforce, passed: false, required: 1,
                        authorities: [AuthorityResult(authority: "a", status: .error, reason: "could not verify: registry unreachable")],
                        undecided: true)])],
            exemptions: [use])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let reference = try JSONSerialization.jsonObject(with: encoder.encode(record)) as? NSDictionary
        let written = try JSONSerialization.jsonObject(with: Data(record.jsonLine.utf8)) as? NSDictionary
        #expect(reference == written)
        #expect(!record.jsonLine.contains("\n"))
        let image = try #require(record.images.first)
        #expect(image.digest == "sha256:" + String(repeating: "a", count: 64))
        #expect(image.authorities.map { "\($0.policy)/\($0.authority)=\($0.status)" } == ["p/a=passed"])
        #expect(image.containerType == "container" && image.verdict == "allow" && image.undecided == nil)
        #expect(record.images.last?.undecided == true)
        #expect(record.jsonLine.components(separatedBy: #""undecided":true"#).count == 2)
        // A review not known to come from the API server says so; the others do not.
        var forged = record
        forged.fromAPIServer = false
        let forgedReference = try JSONSerialization.jsonObject(with: encoder.encode(forged)) as? NSDictionary
        #expect(forgedReference == (try JSONSerialization.jsonObject(with: Data(forged.jsonLine.utf8)) as? NSDictionary))
        #expect(forged.jsonLine.contains(#""fromAPIServer":false"#) && !record.jsonLine.contains("fromAPIServer"))
    }

    /// The audit record's digest of a reference: what follows its last `@`, found in the bytes.
    @Test func auditDigestIsWhatFollowsTheLastAt() {
        #expect(AdmissionAuditRecord.digest(of: "r.example/a@sha256:00") == "sha256:00")
        #expect(AdmissionAuditRecord.digest(of: "r.example/é@x@sha256:01") == "sha256:01")
        #expect(AdmissionAuditRecord.digest(of: "r.example/a:1") == nil)
        #expect(AdmissionAuditRecord.digest(of: "r.example/a@") == "")
        #expect(AdmissionAuditRecord.digest(of: "") == nil)
    }
}
