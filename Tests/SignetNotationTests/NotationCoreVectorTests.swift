import Foundation
import SignetCrypto
@testable import SignetNotation
import SignetTestSupport
import Testing

/// The notation-core-go vectors (`Tests/Vectors/notation-core-go`) with the outcomes their README
/// lists: the COSE conformance envelope decodes to its protected and unprotected headers and
/// payload and encodes back byte for byte; both conformance envelopes, which carry an extended
/// critical attribute and no certificate chain, are refused; the X.509 inputs are read (one or
/// several certificates, PEM or DER) and the invalid one refused; the timestamp token whose
/// signature was tampered with does not verify; a delta CRL is never taken for a complete one.
@Suite struct NotationCoreVectorTests {
    static let root = TestPaths.vectors.appendingPathComponent("notation-core-go")

    static func bytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent(path)))
    }

    static func hex(_ text: String) -> [UInt8] {
        Hex.decode(text.lowercased()) ?? []
    }

    @Test("COSE conformance: headers and payload as the vector lists them, re-encoded byte for byte; refused as a signature")
    func coseConformance() throws {
        struct Vector: Decodable {
            struct Hex: Decodable { var cborHex: String }
            var signingTime: UInt64
            var expiry: UInt64
            var payload: String
            var protectedHeaders: Hex
            var unprotectedHeaders: Hex
            var expectedOutput: Hex
        }
        let vector = try JSONDecoder().decode(Vector.self, from: Data(try Self.bytes("signature/cose/testdata/conformance.json")))
        let output = Self.hex(vector.expectedOutput.cborHex)
        let decoded = try CBORDecoder().decode(output)
        guard case .tagged(18, .array(let parts)) = decoded, parts.count == 4,
              case .bytes(let protected) = parts[0], case .bytes(let payload) = parts[2] else {
            Issue.record("not a tagged COSE_Sign1: \(decoded)")
            return
        }
        #expect(protected == Self.hex(vector.protectedHeaders.cborHex))
        #expect(CBOREncoder.encode(parts[1]) == Self.hex(vector.unprotectedHeaders.cborHex))
        #expect(payload == Self.hex(vector.payload))
        #expect(CBOREncoder.encode(decoded) == output, "the decoded envelope encodes back to the same bytes")

        let headers = try CBORDecoder().decode(protected)
        #expect(headers[.unsigned(1)] == .negative(37), "alg -38, PS384")
        #expect(headers[.text("io.cncf.notary.signingTime")] == .tagged(1, .unsigned(vector.signingTime)))
        #expect(headers[.text("io.cncf.notary.expiry")] == .tagged(1, .unsigned(vector.expiry)))
        #expect(headers[.unsigned(2)].flatMap { header -> Bool? in
            guard case .array(let names) = header else { return nil }
            return names.contains(.text("signedCritKey1"))
        } == true)

        // A verifier must refuse it: an extended critical attribute it does not know, no x5c.
        #expect(throws: NotationEnvelopeError.self) { _ = try NotationEnvelope.parse(output, mediaType: "application/cose") }
    }

    @Test("JWS conformance: the protected header carries the vector's attributes; refused as a signature")
    func jwsConformance() throws {
        let bytes = try Self.bytes("signature/jws/testdata/conformance.json")
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let protectedText = try #require(envelope["protected"] as? String)
        var base64 = protectedText.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        let headerBytes = try #require(Data(base64Encoded: base64))
        let header = try #require(try JSONSerialization.jsonObject(with: headerBytes) as? [String: Any])
        #expect(header["alg"] as? String == "ES256")
        #expect(header["io.cncf.notary.signingScheme"] as? String == "notary.x509")
        #expect(header["io.cncf.notary.signingTime"] as? String == "2022-08-29T13:50:00Z")
        #expect((header["crit"] as? [String])?.contains("signedCritKey1") == true)
        let error = try #require(throws: NotationEnvelopeError.self) { _ = try NotationEnvelope.parse(bytes, mediaType: "application/jose+json") }
        #expect(!error.description.isEmpty)
    }

    @Test("X.509 inputs: PEM, DER, several of each and openssl's minimal self-signed certificate are read; the invalid input is refused")
    func certificateInputs() throws {
        for (file, count) in [("pem.crt", 1), ("der.der", 1), ("multi-pem.crt", 2), ("multi-der.der", 2), ("openssl-minimum-self-signed.pem", 1),
                              ("timestamp_root.crt", 1), ("timestamp_intermediate.crt", 1), ("timestamp_leaf.crt", 1)] {
            let certificates = try NotationTrustStores.certificates(in: try Self.bytes("x509/testdata/\(file)"), origin: file)
            #expect(certificates.count == count, "\(file)")
        }
        let single = try NotationTrustStores.certificates(in: try Self.bytes("x509/testdata/der.der"), origin: "der.der")
        let double = try NotationTrustStores.certificates(in: try Self.bytes("x509/testdata/multi-der.der"), origin: "multi-der.der")
        #expect(double.allSatisfy { $0 == single[0] })
        #expect(throws: NotationTrustPolicyError.self) {
            _ = try NotationTrustStores.certificates(in: try Self.bytes("x509/testdata/invalid"), origin: "invalid")
        }
        // The timestamping chain: a leaf for time stamping only, two CAs above it.
        let leaf = try NotationTrustStores.certificates(in: try Self.bytes("x509/testdata/timestamp_leaf.crt"), origin: "leaf")[0]
        #expect(leaf.extendedKeyUsages == ["1.3.6.1.5.5.7.3.8"])
        #expect(leaf.keyUsage == [.digitalSignature])
    }

    @Test("a timestamp token whose signature was altered does not verify against its TSA root")
    func invalidTimestampToken() throws {
        let token = try Self.bytes("internal/timestamp/testdata/TimeStampTokenWithInvalidSignature.p7s")
        let root = try NotationTrustStores.certificates(in: try Self.bytes("internal/timestamp/testdata/tsaRootCert.cer"), origin: "tsaRootCert.cer")
        let response = try TimeStampResponse(derEncoded: TimeStampToken.response(wrapping: token))
        #expect(response.verify(data: Array("notation".utf8), certificates: [], trustAnchors: root) != nil)
    }

    @Test("a supplied delta CRL makes revocation unavailable rather than passing for a complete CRL")
    func deltaCRL() throws {
        let delta = try CertificateRevocationList.lists(in: try Self.bytes("revocation/crl/testdata/delta.crl"))
        #expect(delta.count == 1)
        #expect(delta[0].isDelta)
        let complete = try CertificateRevocationList.lists(in: try Self.bytes("revocation/crl/testdata/crlWithMultipleFreshestCRLs.crl"))
        #expect(complete.count == 1)
        #expect(!complete[0].isDelta)
    }
}
