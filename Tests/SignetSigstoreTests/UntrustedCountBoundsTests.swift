import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import Testing

/// What a registry serves is read before anything trusted vouches for it, so the counts that
/// cost work per item are bounded: signatures in a DSSE envelope (each checked against each
/// trusted key), and certificates, transparency log entries and RFC 3161 timestamps in a bundle
/// (each parsed, and each entry and timestamp checked against the trusted root). A few
/// megabytes could otherwise carry hundreds of thousands of them. Each bound is tested at the
/// limit (read) and one past it (refused, naming the count).
@Suite("Untrusted counts are bounded")
struct UntrustedCountBoundsTests {
    static let vector = ConformanceCase(name: "rekor2-dsse-happy-path")

    static func bundleDocument() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: vector.bundleURL)) as! [String: Any]
    }

    static func bytes(_ document: [String: Any]) throws -> [UInt8] {
        [UInt8](try JSONSerialization.data(withJSONObject: document))
    }

    /// The vector's DSSE envelope, alone, with its one signature repeated `count` times.
    static func envelope(signatures count: Int) throws -> [UInt8] {
        var envelope = try bundleDocument()["dsseEnvelope"] as! [String: Any]
        let signature = (envelope["signatures"] as! [[String: Any]])[0]
        envelope["signatures"] = Array(repeating: signature, count: count)
        return try bytes(envelope)
    }

    @Test
    func anEnvelopeOfSixteenSignaturesIsReadAndSeventeenAreRefused() throws {
        let read = try DSSEEnvelope(json: Self.envelope(signatures: DSSEEnvelope.maximumSignatures))
        #expect(read.signatures.count == 16)
        #expect {
            _ = try DSSEEnvelope(json: Self.envelope(signatures: DSSEEnvelope.maximumSignatures + 1))
        } throws: { error in
            "\(error)".contains("17 signatures, more than the 16 signet reads")
        }
    }

    /// The bundle with its `verificationMaterial` changed by `change`.
    static func bundle(_ change: (inout [String: Any]) -> Void) throws -> [UInt8] {
        var document = try bundleDocument()
        var material = document["verificationMaterial"] as! [String: Any]
        change(&material)
        document["verificationMaterial"] = material
        return try bytes(document)
    }

    @Test(arguments: [(SigstoreBundle.maximumTransparencyLogEntries, true), (SigstoreBundle.maximumTransparencyLogEntries + 1, false)])
    func transparencyLogEntries(count: Int, read: Bool) throws {
        let json = try Self.bundle { material in
            let entry = (material["tlogEntries"] as! [Any])[0]
            material["tlogEntries"] = Array(repeating: entry, count: count)
        }
        if read {
            #expect(try SigstoreBundle(json: json).transparencyLogEntries.count == count)
        } else {
            #expect { _ = try SigstoreBundle(json: json) } throws: { "\($0)".contains("\(count) tlog entries, more than the 16 signet reads") }
        }
    }

    @Test(arguments: [(SigstoreBundle.maximumTimestamps, true), (SigstoreBundle.maximumTimestamps + 1, false)])
    func timestamps(count: Int, read: Bool) throws {
        let json = try Self.bundle { material in
            var data = material["timestampVerificationData"] as! [String: Any]
            let timestamp = (data["rfc3161Timestamps"] as! [Any])[0]
            data["rfc3161Timestamps"] = Array(repeating: timestamp, count: count)
            material["timestampVerificationData"] = data
        }
        if read {
            #expect(try SigstoreBundle(json: json).rfc3161Timestamps.count == count)
        } else {
            #expect { _ = try SigstoreBundle(json: json) } throws: { "\($0)".contains("\(count) RFC 3161 timestamps, more than the 8 signet reads") }
        }
    }

    @Test(arguments: [(SigstoreBundle.maximumCertificates, true), (SigstoreBundle.maximumCertificates + 1, false)])
    func certificatesInAChain(count: Int, read: Bool) throws {
        // A v0.3 bundle carries one certificate; as v0.2 with a chain of the leaf repeated.
        var document = try Self.bundleDocument()
        document["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.2"
        var material = document["verificationMaterial"] as! [String: Any]
        let leaf = material.removeValue(forKey: "certificate")!
        material["x509CertificateChain"] = ["certificates": Array(repeating: leaf, count: count)]
        document["verificationMaterial"] = material
        let json = try Self.bytes(document)
        if read {
            #expect(try SigstoreBundle(json: json).additionalCertificates.count == count - 1)
        } else {
            #expect { _ = try SigstoreBundle(json: json) } throws: { "\($0)".contains("\(count) certificates in x509CertificateChain, more than the 10 signet reads") }
        }
    }

    /// cosign's certificate and chain annotations are as long as a manifest allows (4 MiB): each
    /// is refused past 64 KiB, and the chain's certificates are counted before OpenSSL reads any.
    @Test
    func cosignCertificateAnnotationsAreBoundedBeforeTheyAreRead() {
        let marker = "-----BEGIN CERTIFICATE-----\n"
        func refusal(certificate: String = marker, chain: String?) -> String {
            do {
                _ = try SigstoreBundle(cosignSignature: "AAAA", certificatePEM: certificate, chainPEM: chain, rekorBundleJSON: nil)
                return "read"
            } catch {
                return "\(error)"
            }
        }
        // Eleven markers, no certificate in them: counted, not parsed.
        #expect(refusal(chain: String(repeating: marker, count: 11)).contains("11 certificates in the chain annotation, more than the 10 signet reads"))
        let long = String(repeating: marker, count: 3_000)
        #expect(refusal(chain: long).contains("the chain annotation is \(long.utf8.count) bytes, more than the 65536 signet reads"))
        #expect(refusal(certificate: long, chain: nil).contains("the certificate annotation is \(long.utf8.count) bytes, more than the 65536 signet reads"))
    }

    /// PEM blocks are found in one pass over the bytes (Foundation's `range(of:)` copied the
    /// rest of the text at every block, quadratic in its length); the first block alone is
    /// decoded when only it is wanted.
    @Test
    func pemBlocksAreFoundInOnePass() throws {
        let empty = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"
        #expect(try PEMBlocks.der("CERTIFICATE", in: String(repeating: empty, count: 64_000)).count == 64_000)
        #expect(PEMBlocks.count("CERTIFICATE", in: "x" + String(repeating: empty, count: 3) + "-----BEGIN CERTIFICATE-----") == 4)
        let first = "-----BEGIN CERTIFICATE-----\nAQID\r\n\t-----END CERTIFICATE-----\n"
        let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"
        #expect(try PEMBlocks.firstDER("CERTIFICATE", in: first + broken) == [1, 2, 3])
        #expect(throws: CertificateError.self) { try PEMBlocks.der("CERTIFICATE", in: first + broken) }
        #expect(throws: CertificateError.self) { try PEMBlocks.der("CERTIFICATE", in: "-----BEGIN CERTIFICATE-----\nAQID\n") }
        #expect(try PEMBlocks.der("X509 CRL", in: first).isEmpty)
    }

    @Test
    func aSignedNoteOfSixteenSignatureLinesIsReadAndSeventeenAreRefused() {
        func note(_ lines: Int) -> String {
            let line = "\u{2014} log.example AAAAAAAAAAA=\n"
            return "log.example\n1\nAAAA\n\n" + String(repeating: line, count: lines)
        }
        #expect(SignedNote(note(SignedNote.maximumSignatures))?.signatures.count == 16)
        #expect(SignedNote(note(SignedNote.maximumSignatures + 1)) == nil)
    }

    @Test
    func anEnvelopeBuiltWithMoreSignaturesIsNotVerified() throws {
        let envelope = DSSEEnvelope(
            payloadType: "application/vnd.in-toto+json", payload: [1],
            signatures: Array(repeating: DSSEEnvelope.Signature(keyID: nil, signature: [1]), count: 17))
        guard case .failure(let error) = envelope.verify(keys: []) else {
            Issue.record("an envelope of 17 signatures verified")
            return
        }
        #expect(error.description.contains("17 signatures, more than the 16 signet reads"))
    }
}
