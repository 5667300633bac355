import SignetSigstore
import Testing

@testable import SignetVerify

/// Whether a bundle's DSSE payload is a cosign image signature is decided from its predicate
/// type alone, decoded as that field (a registry's payload, read before its signature is
/// verified); other fields of any shape do not change the answer.
@Suite
struct InTotoStatementHeadTests {
    static func problem(_ payload: String) -> String? {
        KeylessVerifier.statementProblem(DSSEEnvelope(
            payloadType: "application/vnd.in-toto+json", payload: Array(payload.utf8), signatures: []))
    }

    @Test
    func theImageSignaturePredicateIsAcceptedWhateverElseTheStatementHolds() {
        let type = KeylessVerifier.imageSignaturePredicateType
        #expect(Self.problem(#"{"predicateType":"\#(type)","subject":[{"digest":{"sha256":"ab"}}]}"#) == nil)
        #expect(Self.problem(#"{"predicateType":"\#(type)","subject":5,"predicate":[[[0,0,0]]]}"#) == nil)
    }

    @Test
    func otherStatementsAreRefusedSayingWhy() {
        #expect(Self.problem(#"{"predicateType":"https://slsa.dev/provenance/v1"}"#)?.contains("predicate https://slsa.dev/provenance/v1") == true)
        #expect(Self.problem(#"{"predicateType":5}"#)?.contains("predicate none") == true)
        #expect(Self.problem("[1,2]") == "the DSSE payload is not an in-toto statement")
        #expect(Self.problem("not json") == "the DSSE payload is not an in-toto statement")
    }

    @Test
    func fieldsOfOtherShapesReadAsAbsent() {
        let head = InTotoStatementHead(Array(#"{"subject":[{"digest":{"sha256":"AB"},"annotations":{"a":"b","n":null,"x":[1]}},{"digest":{"sha256":"CD","other":1}}]}"#.utf8))
        #expect(head?.subject?.count == 2)
        #expect(head?.subject?[0].digest?["sha256"] == "AB")
        #expect(head?.subject?[0].annotations?["n"] == .null)
        #expect(head?.subject?[0].annotations?["x"] == .other)
        #expect(head?.subject?[1].digest == nil, "a digest map with a value that is not a string is absent")
        // A subject that is not an object makes the list absent, not the statement.
        let mixed = InTotoStatementHead(Array(#"{"predicateType":"p","subject":[{"digest":{"sha256":"AB"}},7]}"#.utf8))
        #expect(mixed != nil && mixed?.subject == nil && mixed?.predicateType == .string("p"))
    }
}
