import Testing

@testable import SignetNotation

/// The JSON of a Notary Project signature is read before its signature is verified, so a
/// document of more objects and arrays than any signature holds is refused before Foundation
/// builds it (it reserved room in every one: 1 MiB of tiny objects grew to half a gigabyte).
@Suite
struct NotationJSONBoundTests {
    static let jws = "application/jose+json"

    @Test
    func containersInsideStringsAreNotCounted() {
        let text = #"{"a":"[{\"[{","b":[{},[]],"c":"\\"}"#
        #expect(NotationJSON.containerCount(Array(text.utf8), stoppingAfter: 100) == 4)
    }

    @Test
    func anObjectAtTheBoundIsReadAndOnePastItIsNot() {
        func document(_ containers: Int) -> [UInt8] {
            Array(("{\"x\":[" + Array(repeating: "{}", count: containers - 2).joined(separator: ",") + "]}").utf8)
        }
        #expect(NotationJSON.object(document(NotationJSON.maximumContainers)) != nil)
        #expect(NotationJSON.object(document(NotationJSON.maximumContainers + 1)) == nil)
    }

    @Test
    func aJWSEnvelopeOfTinyObjectsIsRefusedSayingWhy() {
        let envelope = "{\"payload\":\"e30\",\"protected\":\"e30\",\"signature\":\"AA\",\"header\":{\"x5c\":["
            + Array(repeating: "{}", count: 200_000).joined(separator: ",") + "]}}"
        #expect {
            _ = try NotationEnvelope.parse(Array(envelope.utf8), mediaType: Self.jws)
        } throws: { error in
            "\(error)".contains("not a JSON object (of at most 1000 objects and arrays)")
        }
    }
}
