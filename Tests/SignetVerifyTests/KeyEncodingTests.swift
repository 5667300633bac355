import Foundation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// One key is one signer however its SubjectPublicKeyInfo is written: an EC point compressed or
/// uncompressed (SEC 1 v2 section 2.3.3), an RSA key under `rsaEncryption` or `id-RSASSA-PSS`
/// (RFC 4055 section 1.2). Comparing DER let the same key listed twice meet `threshold: 2`.
///
/// Vectors: connaisseur's alice key (the key of real cosign signatures) re-encoded with its point
/// compressed, and the RSA log key of sigstore-conformance `rekor2-timestamp-without-embedded-cert`
/// re-wrapped under the RSASSA-PSS identifier.
@Suite("Key equality on the key, not its encoding", .serialized)
struct KeyEncodingTests {
    static let alicePEM = ConnaisseurVectors.keyFile("alice")

    /// alice's key with its point compressed (`openssl ec -conv_form compressed`).
    static func aliceCompressedPEM() async throws -> String {
        let directory = TemporaryDirectory()
        let output = directory.path + "/alice-compressed.pub"
        try await offThePool {
            try TestSigningKey.openssl(["ec", "-pubin", "-in", alicePEM, "-conv_form", "compressed", "-pubout", "-out", output])
        }
        return try String(contentsOfFile: output, encoding: .utf8)
    }

    /// DER length octets (X.690 section 8.1.3).
    static func derLength(_ count: Int) -> [UInt8] {
        if count < 0x80 { return [UInt8(count)] }
        var bytes: [UInt8] = []
        var rest = count
        while rest > 0 { bytes.insert(UInt8(rest & 0xff), at: 0); rest >>= 8 }
        return [0x80 | UInt8(bytes.count)] + bytes
    }

    /// `rsaEncryption` (1.2.840.113549.1.1.1, NULL parameters; RFC 3279 section 2.3.1).
    static let rsaEncryption: [UInt8] = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00]
    /// `id-RSASSA-PSS` (1.2.840.113549.1.1.10, parameters absent; RFC 4055 section 1.2).
    static let rsassaPSS: [UInt8] = [0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a]

    /// A SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7) around a PKCS #1 RSAPublicKey.
    static func subjectPublicKeyInfo(_ identifier: [UInt8], rsaPublicKey: [UInt8]) -> [UInt8] {
        let bitString = [0x03] + derLength(rsaPublicKey.count + 1) + [0x00] + rsaPublicKey
        let body = identifier + bitString
        return [0x30] + derLength(body.count) + body
    }

    /// The RSA key a real trusted root names (`keyDetails: PKCS1_RSA_PKCS1V5`, a PKCS #1
    /// RSAPublicKey, RFC 8017 appendix A.1.1).
    static func vectorRSAKey() throws -> [UInt8] {
        let url = TestPaths.vectors.appendingPathComponent(
            "sigstore-conformance/test/assets/bundle-verify/rekor2-timestamp-without-embedded-cert/trusted_root.json")
        let text = try String(contentsOf: url, encoding: .utf8)
        let document = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        for group in ["tlogs", "ctlogs"] {
            for log in document[group] as? [[String: Any]] ?? [] {
                let key = log["publicKey"] as! [String: Any]
                if key["keyDetails"] as? String == "PKCS1_RSA_PKCS1V5" {
                    return [UInt8](Data(base64Encoded: key["rawBytes"] as! String)!)
                }
            }
        }
        throw TestProcessError(message: "no RSA key in \(url.path)")
    }

    @Test("a P-256 key compressed and uncompressed is one key")
    func compressedPoint() async throws {
        let uncompressed = try PublicKey(pem: String(contentsOfFile: Self.alicePEM, encoding: .utf8))
        let compressed = try PublicKey(pem: try await Self.aliceCompressedPEM())
        #expect(compressed.subjectPublicKeyInfo != uncompressed.subjectPublicKeyInfo)
        #expect(compressed.subjectPublicKeyInfo.count < uncompressed.subjectPublicKeyInfo.count)
        #expect(compressed == uncompressed)
        #expect(Set([compressed, uncompressed]).count == 1)
        #expect(compressed.fingerprint != uncompressed.fingerprint)
    }

    @Test("an RSA key under rsaEncryption and under RSASSA-PSS is one key")
    func rsaIdentifiers() throws {
        let rsaPublicKey = try Self.vectorRSAKey()
        let plain = try PublicKey(der: Self.subjectPublicKeyInfo(Self.rsaEncryption, rsaPublicKey: rsaPublicKey))
        let pss = try PublicKey(der: Self.subjectPublicKeyInfo(Self.rsassaPSS, rsaPublicKey: rsaPublicKey))
        #expect(plain.algorithm == .rsa(bits: 4096))
        #expect(plain.subjectPublicKeyInfo != pss.subjectPublicKeyInfo)
        #expect(plain == pss)
        #expect(Set([plain, pss]).count == 1)
        let other = try PublicKey(pem: String(contentsOfFile: Self.alicePEM, encoding: .utf8))
        #expect(plain != other)
    }

    @Test("a policy listing one key twice in two encodings is refused when it compiles")
    func policyRefusesTheSameKeyTwice() async throws {
        let first = try String(contentsOfFile: Self.alicePEM, encoding: .utf8)
        let second = try await Self.aliceCompressedPEM()
        func entry(_ pem: String) -> String {
            "          - pem: |\n" + pem.split(separator: "\n").map { "              " + $0 + "\n" }.joined()
        }
        let yaml = """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: two-of-alice
            spec:
              images:
                - glob: "**"
              authorities:
                - name: release
                  key:
                    publicKeys:

            """ + entry(first) + entry(second) + "        threshold: 2\n"
        do {
            _ = try PolicyLoader().load(files: [PolicySourceFile(name: "keys.yaml", bytes: Array(yaml.utf8))])
            Issue.record("the policy must be refused: both entries are alice's key")
        } catch {
            #expect(error.fieldPath == "spec.authorities[0].key.publicKeys[1]")
            #expect(error.message.contains("the same key as publicKeys[0] in another encoding"), "\(error)")
        }
    }

    @Test("a threshold of two is not met by alice's one signature under two encodings of her key")
    func thresholdCountsKeysNotEncodings() async throws {
        let fixture = try await VerificationFixture(vectors: true)
        let alice = try trustedKey(file: Self.alicePEM, source: "alice")
        let aliceAgain = TrustedPublicKey(key: try PublicKey(pem: try await Self.aliceCompressedPEM()), source: "alice (compressed)")
        let image = try fixture.reference("\(ConnaisseurVectors.repository):multi-cosigned-alice")
        let once = try await fixture.verify(image, keyAuthority([alice]))
        #expect(once.passed, "\(once.reason)")
        // An authority compiled around the loader (the loader refuses this list) still counts one signer.
        let twice = try await fixture.verify(image, keyAuthority([alice, aliceAgain], threshold: 2))
        #expect(!twice.passed)
        #expect(twice.failure == .thresholdNotMet)
        #expect(twice.signers.count == 1)
        #expect(twice.reason.contains("signed by 1 distinct trusted key(s), 2 required"), "\(twice.reason)")
        await fixture.stop()
    }
}
