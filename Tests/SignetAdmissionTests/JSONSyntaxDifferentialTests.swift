import Foundation
import Testing

@testable import SignetAdmission

/// signet's JSON syntax check against Foundation's `JSONSerialization` (RFC 8259) on many
/// documents made by mutating a real AdmissionReview byte by byte: both must accept and refuse
/// the same texts. A document that signet reads one way and another JSON reader (the API
/// server's) another, or that one of them refuses, is where a parser differential would let an
/// object past the webhook; every check here must agree with a reader written by others.
///
/// The mutations stay clear of what the two readers may rightly decide differently: no `\u`
/// escapes (a lone surrogate is valid RFC 8259 syntax that Foundation refuses to decode), no
/// exponents (a number too large for a Double), bytes of ASCII only, and nesting far below
/// either reader's depth limit.
struct JSONSyntaxDifferentialTests {
    /// A deterministic generator (SplitMix64), so a failure is the same failure on every run.
    struct Steps {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
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

    static func foundationAccepts(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
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
        var accepted = 0
        var disagreements: [String] = []
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
            let reference = Self.foundationAccepts(bytes)
            if reference { accepted += 1 }
            if Self.signetAccepts(bytes) != reference, disagreements.count < 5 {
                disagreements.append("Foundation \(reference ? "accepts" : "refuses"), signet does not: \(String(decoding: bytes, as: UTF8.self))")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
        #expect(accepted > 300 && accepted < 5_700, "both verdicts exercised: \(accepted) of 6,000 valid")
    }

    /// Documents built from random tokens, mostly invalid, some deeply nested: nesting, commas
    /// and colons in every wrong place, empty containers, literals cut short.
    @Test func randomTokenSequencesAreJudgedAsFoundationJudgesThem() {
        let tokens = ["{", "}", "[", "]", ",", ":", "\"a\"", "\"\"", "\"\\\"\"", "1", "-0", "0.5", "-12.75", "true", "false", "null",
                      " ", "\n", "tru", "01", "1.", "\"\\q\"", "\"x"]
        var steps = Steps(state: 0x5167_6E65_7400_0002)
        var accepted = 0
        var disagreements: [String] = []
        for _ in 0..<20_000 {
            var text = ""
            for _ in 0..<(1 + steps.next(12)) { text += tokens[steps.next(tokens.count)] }
            let bytes = Array(text.utf8)
            let reference = Self.foundationAccepts(bytes)
            if reference { accepted += 1 }
            if Self.signetAccepts(bytes) != reference, disagreements.count < 5 {
                disagreements.append("Foundation \(reference ? "accepts" : "refuses"), signet does not: \(text)")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
        #expect(accepted > 100, "some sequences are valid: \(accepted)")
    }
}
