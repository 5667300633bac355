import Foundation
import SignetNotation
import SignetTestSupport
import Testing

/// The strict CBOR decoder (RFC 8949) and the COSE envelope of the Notation vectors.
@Suite struct CBORDecoderTests {
    @Test func decodesAndRoundTrips() throws {
        let item = try CBORDecoder().decode([0xa2, 0x01, 0x38, 0x24, 0x63, 0x61, 0x62, 0x63, 0x82, 0x40, 0xf6])
        #expect(item[.unsigned(1)]?.integer == -37)
        #expect(item[.text("abc")] == .array([.bytes([]), .null]))
        #expect(CBOREncoder.encode(item) == [0xa2, 0x01, 0x38, 0x24, 0x63, 0x61, 0x62, 0x63, 0x82, 0x40, 0xf6])
    }

    @Test(arguments: [
        ([0x01, 0x00] as [UInt8], "after the CBOR item"),
        ([0x18, 0x05], "shortest encoding"),
        ([0x5f, 0x40, 0xff], "indefinite-length"),
        ([0x9f, 0xff], "indefinite-length"),
        ([0x43, 0x01], "truncated"),
        ([0xa2, 0x01, 0x01, 0x01, 0x02], "duplicate map key"),
        ([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02], "duplicate map key"),
        ([0xa1, 0x81, 0x00, 0x01], "neither an integer nor a text string"),
        ([0xa1, 0x41, 0x00, 0x01], "neither an integer nor a text string"),
        ([0x62, 0xff, 0xfe], "not UTF-8"),
        ([0xf9, 0x3c, 0x00], "floating-point"),
        ([0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "exceeds"),
    ])
    func refuses(_ bytes: [UInt8], _ phrase: String) {
        do {
            _ = try CBORDecoder().decode(bytes)
            Issue.record("accepted \(bytes)")
        } catch {
            #expect(error.description.contains(phrase), "\(error)")
        }
    }

    /// A map of 4096 distinct integer keys decodes (duplicate detection is linear, not pairwise).
    @Test func largeMapsAreCheckedForDuplicatesInLinearTime() throws {
        var bytes: [UInt8] = [0xb9, 0x10, 0x00]
        for key in 0..<4096 {
            switch key {
            case 0..<24: bytes.append(UInt8(key))
            case 24..<256: bytes += [0x18, UInt8(key)]
            default: bytes += [0x19, UInt8(key >> 8), UInt8(key & 0xff)]
            }
            bytes.append(0xf6)
        }
        guard case .map(let entries) = try CBORDecoder().decode(bytes) else { Issue.record("not a map"); return }
        #expect(entries.count == 4096)
    }

    /// Every container may hold up to 4096 items, but the document as a whole at most 10,000:
    /// two arrays of 4096 nulls decode, three do not.
    @Test func refusesMoreItemsInAllThanTheTotalLimit() throws {
        func arrays(_ count: UInt8) -> [UInt8] {
            [0x80 + count] + Array(repeating: [0x99, 0x10, 0x00] + [UInt8](repeating: 0xf6, count: 4096), count: Int(count)).flatMap { $0 }
        }
        guard case .array(let two) = try CBORDecoder().decode(arrays(2)) else { Issue.record("not an array"); return }
        #expect(two.count == 2)
        #expect {
            _ = try CBORDecoder().decode(arrays(3))
        } throws: { error in
            "\(error)".contains("more than 10000 items in all")
        }
    }

    @Test func refusesDeepNesting() {
        let deep = [UInt8](repeating: 0x81, count: 40) + [0x00]
        #expect(throws: CBORError.self) { try CBORDecoder().decode(deep) }
    }

    /// `blob.cose.sig`: a real COSE_Sign1 Notation signature (PS256, x5chain, signing time).
    @Test func coseVectorVerifiesItsIntegrity() throws {
        let bytes = [UInt8](try Data(contentsOf: NotationVectors.root.appendingPathComponent("signatures/blob.cose.sig")))
        let envelope = try NotationEnvelope.parse(bytes, mediaType: "application/cose")
        #expect(envelope.format == .cose)
        #expect(envelope.algorithm == .ps256)
        #expect(envelope.signingScheme == .x509)
        #expect(envelope.signingTime != nil)
        #expect(envelope.verifyIntegrity() == nil)
        // One flipped byte of the payload breaks the signature; trailing bytes break the envelope.
        var tampered = bytes
        let payloadMarker = Array("targetArtifact".utf8)
        let at = try #require((0..<(bytes.count - payloadMarker.count)).first { Array(bytes[$0..<($0 + payloadMarker.count)]) == payloadMarker })
        tampered[at] ^= 0x01
        #expect(try NotationEnvelope.parse(tampered, mediaType: "application/cose").verifyIntegrity() != nil)
        #expect(throws: NotationEnvelopeError.self) { try NotationEnvelope.parse(bytes + [0x00], mediaType: "application/cose") }
    }

    @Test func jwsBlobVectorVerifiesItsIntegrity() throws {
        let bytes = [UInt8](try Data(contentsOf: NotationVectors.root.appendingPathComponent("signatures/blob.jws.sig")))
        let envelope = try NotationEnvelope.parse(bytes, mediaType: "application/jose+json")
        #expect(envelope.verifyIntegrity() == nil)
        let malformed = [UInt8](try Data(contentsOf: NotationVectors.root.appendingPathComponent("signatures/malformed.jws.sig")))
        #expect(throws: NotationEnvelopeError.self) { try NotationEnvelope.parse(malformed, mediaType: "application/jose+json") }
    }
}
