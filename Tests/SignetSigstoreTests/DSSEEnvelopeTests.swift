import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import Testing

/// secure-systems-lab/dsse protocol vectors: PAE bytes, signatures by Ed25519 keys, thresholds
/// over distinct keys, accepted payload types.
@Suite("DSSE (secure-systems-lab/dsse vectors)")
struct DSSEEnvelopeTests {
    struct Vectors: Decodable {
        struct Key: Decodable { var algorithm: String; var `public`: String }
        struct Vector: Decodable {
            var id: String
            var envelope: AnyEnvelope
            var trustedKeys: [String]
            var threshold: Int
            var supportedPayloadTypes: [String]
            var pae: String?
            var expect: String
        }
        var keys: [String: Key]
        var vectors: [Vector]
    }

    /// The envelope exactly as written, re-encoded for ``DSSEEnvelope/init(json:)``.
    struct AnyEnvelope: Decodable {
        var json: [UInt8]
        init(from decoder: any Decoder) throws {
            struct Signature: Codable { var sig: String?; var keyid: String? }
            struct Envelope: Codable { var payload: String?; var payloadType: String?; var signatures: [Signature]? }
            json = [UInt8](try JSONEncoder().encode(try Envelope(from: decoder)))
        }
    }

    /// An Ed25519 SubjectPublicKeyInfo (RFC 8410 section 4) around a raw 32-byte key.
    static func ed25519Key(hex: String) throws -> PublicKey {
        try PublicKey(der: [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00] + Hex.decode(hex)!)
    }

    @Test("every vector")
    func vectors() throws {
        let url = TestPaths.vectors.appendingPathComponent("dsse/testvectors/vectors.json")
        let vectors = try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
        #expect(vectors.vectors.count >= 9)
        for vector in vectors.vectors {
            let keys = try vector.trustedKeys.map { try Self.ed25519Key(hex: vectors.keys[$0]!.public) }
            let accepted: Bool
            do {
                let envelope = try DSSEEnvelope(json: vector.envelope.json)
                // A rejected vector's `pae` is what was signed, not the envelope's own PAE.
                if let pae = vector.pae, vector.expect == "accept" {
                    #expect(Hex.encode(envelope.preAuthenticationEncoding) == pae, "\(vector.id): PAE")
                }
                let result = envelope.verify(keys: keys, threshold: vector.threshold, acceptedPayloadTypes: Set(vector.supportedPayloadTypes))
                if case .success = result { accepted = true } else { accepted = false }
            } catch {
                accepted = false
            }
            #expect(accepted == (vector.expect == "accept"), "\(vector.id) expects \(vector.expect)")
        }
    }

    @Test("PAE per the DSSE protocol")
    func preAuthenticationEncoding() {
        let pae = DSSEEnvelope.preAuthenticationEncoding(payloadType: "http://example.com/HelloWorld", payload: Array("hello world".utf8))
        #expect(String(decoding: pae, as: UTF8.self) == "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    }
}
