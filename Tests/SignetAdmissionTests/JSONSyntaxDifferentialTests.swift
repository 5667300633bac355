import Foundation
import SignetTestSupport
import Testing

@testable import SignetAdmission

/// signet's JSON syntax check against Foundation's `JSONSerialization` (RFC 8259) on many
/// documents made by mutating a real AdmissionReview byte by byte and by breaking random
/// documents token by token: both must accept and refuse the same texts, except where
/// Foundation is more lenient than the RFC (a trailing comma, which signet refuses, as Go's
/// encoding/json does). A document that signet reads one way and another JSON reader (the API
/// server's) another, or that one of them refuses, is where a parser differential would let an
/// object past the webhook; every check here must agree with a reader written by others.
///
/// The mutations stay clear of what the two readers may rightly decide differently: no `\u`
/// escapes (a lone surrogate is valid RFC 8259 syntax that Foundation refuses to decode), no
/// exponents (a number too large for a Double), bytes of ASCII only, and nesting far below
/// either reader's depth limit.
struct JSONSyntaxDifferentialTests {
    /// Draws from a deterministic generator, so a failure is the same failure on every run.
    struct Steps {
        var generator: SeededGenerator
        init(state: UInt64) { generator = SeededGenerator(seed: state) }
        mutating func next(_ bound: Int) -> Int { Int(generator.next() % UInt64(bound)) }
    }

    /// What mutations write: JSON's structural bytes, whitespace, the bytes of literals and
    /// numbers (no `e`, `E` or `u`), a backslash and the escapes' letters, and control bytes.
    static let alphabet: [UInt8] = Array("{}[]\",:  \t\n\r0123456789-.+trfalsn\\/bx".utf8) + [0x00, 0x01, 0x1F, 0x7F]

    static let review: [UInt8] = Array(#"""
        {"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002",\#
        "kind":{"group":"apps","version":"v1","kind":"Deployment"},"resource":{"group":"apps","version":"v1","resource":"deployments"},\#
        "requestKind":{"group":"apps","version":"v1","kind":"Deployment"},"name":"web","namespace":"team","operation":"CREATE",\#
        "userInfo":{"username":"alice","groups":["system:authenticated"]},"object":{"kind":"Deployment","apiVersion":"apps/v1",\#
        "metadata":{"name":"web","namespace":"team","labels":{"app":"web","tier":"front"},"annotations":{"note":"a \"quoted\" \\ value"}},\#
        "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{\#
        "containers":[{"name":"app","image":"ghcr.io/signet-demo/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",\#
        "ports":[{"containerPort":8080,"protocol":"TCP"}],"env":[{"name":"RATIO","value":"0.5"},{"name":"EMPTY","value":""}],\#
        "resources":{"limits":{"cpu":"500m","memory":"128Mi"}},"readinessProbe":{"httpGet":{"path":"/healthz","port":8080},"periodSeconds":-1.25},\#
        "securityContext":{"runAsNonRoot":true,"readOnlyRootFilesystem":false,"capabilities":{"drop":["ALL"]},"seccompProfile":null}}],\#
        "initContainers":[],"volumes":[{"name":"tmp","emptyDir":{}}],"restartPolicy":"Always","terminationGracePeriodSeconds":30}}}},\#
        "oldObject":null,"dryRun":false,"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}}}
        """#.utf8)

    /// The verdicts of one test: how many documents were valid, and the first disagreements.
    struct Tally {
        var accepted = 0
        var disagreements: [String] = []

        /// Judges `bytes` both ways and records the outcome.
        mutating func judge(_ bytes: [UInt8]) {
            let reference = JSONSyntaxDifferentialTests.rfc8259Accepts(bytes)
            if reference { accepted += 1 }
            if JSONSyntaxDifferentialTests.signetAccepts(bytes) != reference, disagreements.count < 5 {
                disagreements.append(
                    "RFC 8259 (by Foundation) \(reference ? "accepts" : "refuses"), signet does not: \(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }

    static func foundationAccepts(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
    }

    /// Whether RFC 8259 accepts `bytes`, by Foundation's judgement except where Foundation is
    /// more lenient than the RFC: it accepts a comma before `]` or `}` (`[1,]`), which the RFC's
    /// grammar (§4, §5) and Go's encoding/json, the API server's reader, refuse.
    static func rfc8259Accepts(_ bytes: [UInt8]) -> Bool {
        foundationAccepts(bytes) && !hasTrailingComma(bytes)
    }

    /// A comma followed, after whitespace, by `]` or `}`, outside strings.
    static func hasTrailingComma(_ bytes: [UInt8]) -> Bool {
        var inString = false
        var escaped = false
        var lastSignificant: UInt8 = 0
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                continue
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if lastSignificant == UInt8(ascii: ",") { return true }
            case UInt8(ascii: "\""):
                inString = true
            default:
                break
            }
            lastSignificant = byte
        }
        return false
    }

    @Test func trailingCommasAreFoundOutsideStringsAndRefused() {
        #expect(Self.hasTrailingComma(Array("[1, ]".utf8)))
        #expect(Self.hasTrailingComma(Array(#"{"a":1,}"#.utf8)))
        #expect(!Self.hasTrailingComma(Array(#"["a,]"]"#.utf8)))
        #expect(!Self.hasTrailingComma(Array(#"["\",]"]"#.utf8)))
        #expect(!Self.signetAccepts(Array("[1,]".utf8)))
        #expect(!Self.signetAccepts(Array(#"{"a":1,}"#.utf8)))
    }

    static func signetAccepts(_ bytes: [UInt8]) -> Bool {
        (try? JSONDocument(validating: bytes)) != nil
    }

    @Test func theUnmutatedReviewIsAcceptedByBoth() {
        #expect(Self.foundationAccepts(Self.review))
        #expect(Self.signetAccepts(Self.review))
    }

    /// 1, 2 or 3 mutations each (replace, insert or delete one byte), 6,000 documents; about
    /// half of them stay valid, so both verdicts are exercised.
    @Test func mutatedReviewsAreJudgedAsFoundationJudgesThem() {
        var steps = Steps(state: 0x5167_6E65_7400_0001)
        var tally = Tally()
        for _ in 0..<6_000 {
            var bytes = Self.review
            for _ in 0..<(1 + steps.next(3)) {
                let position = steps.next(bytes.count)
                switch steps.next(3) {
                case 0: bytes[position] = Self.alphabet[steps.next(Self.alphabet.count)]
                case 1: bytes.insert(Self.alphabet[steps.next(Self.alphabet.count)], at: position)
                default: bytes.remove(at: position)
                }
            }
            tally.judge(bytes)
        }
        #expect(tally.disagreements.isEmpty, "\(tally.disagreements.joined(separator: "\n"))")
        #expect(tally.accepted > 300 && tally.accepted < 5_700, "both verdicts exercised: \(tally.accepted) of 6,000 valid")
    }

    /// Random JSON values (nested objects and arrays of every kind of scalar), written as tokens
    /// with random whitespace, then broken at the token level: a token dropped (a trailing or
    /// doubled comma, a member without its value), repeated, swapped with its neighbour, or one
    /// inserted. About a third stay valid.
    @Test func brokenTokenStreamsAreJudgedAsFoundationJudgesThem() {
        let scalars = ["\"a\"", "\"\"", "\"\\\"\\\\\"", "\"x\\ty\"", "1", "-0", "0.5", "-12.75", "true", "false", "null"]
        let strays = ["{", "}", "[", "]", ",", ":", "\"k\"", "1", "tru", "01", "1.", "\"\\q\"", "\"open", "nul", "-"]
        var steps = Steps(state: 0x5167_6E65_7400_0002)
        func value(_ depth: Int) -> [String] {
            switch steps.next(depth >= 4 ? 3 : 5) {
            case 0, 1, 2:
                return [scalars[steps.next(scalars.count)]]
            case 3:
                var tokens = ["["]
                for index in 0..<steps.next(4) {
                    if index > 0 { tokens.append(",") }
                    tokens += value(depth + 1)
                }
                return tokens + ["]"]
            default:
                var tokens = ["{"]
                for index in 0..<steps.next(4) {
                    if index > 0 { tokens.append(",") }
                    tokens += ["\"m\(index)\"", ":"] + value(depth + 1)
                }
                return tokens + ["}"]
            }
        }
        var tally = Tally()
        for _ in 0..<20_000 {
            var tokens = value(0)
            for _ in 0..<steps.next(3) {
                let at = steps.next(tokens.count)
                switch steps.next(4) {
                case 0: tokens.remove(at: at)
                case 1: tokens.insert(tokens[at], at: at)
                case 2: if at + 1 < tokens.count { tokens.swapAt(at, at + 1) }
                default: tokens.insert(strays[steps.next(strays.count)], at: at)
                }
                if tokens.isEmpty { tokens = ["null"] }
            }
            let text = tokens.map { $0 + [" ", "", "", "\n"][steps.next(4)] }.joined()
            tally.judge(Array(text.utf8))
        }
        #expect(tally.disagreements.isEmpty, "\(tally.disagreements.joined(separator: "\n"))")
        #expect(tally.accepted > 2_000 && tally.accepted < 18_000, "both verdicts exercised: \(tally.accepted) of 20,000 valid")
    }
}
