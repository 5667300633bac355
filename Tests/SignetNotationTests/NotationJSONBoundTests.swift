import Testing

@testable import SignetNotation

/// The JSON of a Notary Project signature is read before its signature is verified, so a
/// document of more objects and arrays than any signature holds is refused before Foundation
/// builds it (it reserved room in every one: 1 MiB of tiny objects grew to half a gigabyte). How
/// the gate counts is tested in `UntrustedJSONTests`.
@Suite
struct NotationJSONBoundTests {
    static let jws = "application/jose+json"

    /// `JSONSerialization` reads UTF-16 too, where a quote byte can hide inside another
    /// character (U+0122 is `22 01`) and blind the gate's scan to every bracket after it.
    @Test
    func aDocumentNotInUTF8IsRefused() {
        let hidden = "[\"\u{0122}\"," + Array(repeating: "{}", count: 2_000).joined(separator: ",") + "]"
        var utf16: [UInt8] = []
        for unit in hidden.utf16 { utf16 += [UInt8(truncatingIfNeeded: unit), UInt8(truncatingIfNeeded: unit >> 8)] }
        #expect(NotationJSON.object(utf16) == nil)
    }

    @Test
    func aFlatArrayOfManyValuesIsRefused() {
        func document(_ values: Int) -> [UInt8] {
            Array(("{\"x\":[" + Array(repeating: "0", count: values).joined(separator: ",") + "]}").utf8)
        }
        // The object, its member's name and value, the array's elements: values + 3.
        #expect(NotationJSON.object(document(NotationJSON.maximumValues - 3)) != nil)
        #expect(NotationJSON.object(document(NotationJSON.maximumValues - 2)) == nil)
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
            "\(error)".contains("the JWS envelope is not a JSON object in UTF-8 of at most 1000 objects and arrays and 10000 values")
        }
    }
}
