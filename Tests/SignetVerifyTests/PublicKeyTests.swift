import Foundation
import SignetCrypto
import SignetTestSupport
import Testing

@Suite("Public keys")
struct PublicKeyTests {
    @Test(arguments: TestSigningKey.Kind.allCases)
    func verifiesWhatOpenSSLSigned(_ kind: TestSigningKey.Kind) async throws {
        let signer = try await TestSigningKey.generate(kind)
        let key = try signer.publicKey()
        let message = Array("the payload".utf8)
        let signature = try await signer.signature(over: message)
        #expect(key.verify(signature: signature, message: message, scheme: signer.scheme))
        #expect(!key.verify(signature: signature, message: Array("another payload".utf8), scheme: signer.scheme))
        #expect(!key.verify(signature: Array(signature.dropLast(3)), message: message, scheme: signer.scheme))
        #expect(!key.verify(signature: [], message: message, scheme: signer.scheme))
        let other = try await TestSigningKey.generate(kind, slot: 1).publicKey()
        #expect(!other.verify(signature: signature, message: message, scheme: signer.scheme))
    }

    @Test func algorithmsAreRecognised() async throws {
        #expect(try await TestSigningKey.generate(.ecP256).publicKey().algorithm == .ecdsaP256)
        #expect(try await TestSigningKey.generate(.ecP384).publicKey().algorithm == .ecdsaP384)
        #expect(try await TestSigningKey.generate(.ecP521).publicKey().algorithm == .ecdsaP521)
        #expect(try await TestSigningKey.generate(.rsa2048).publicKey().algorithm == .rsa(bits: 2048))
        #expect(try await TestSigningKey.generate(.ed25519).publicKey().algorithm == .ed25519)
    }

    @Test func rsaPaddingMustMatch() async throws {
        let pss = try await TestSigningKey.generate(.rsaPSS2048)
        let message = Array("payload".utf8)
        let signature = try await pss.signature(over: message)
        let key = try pss.publicKey()
        #expect(key.verify(signature: signature, message: message, scheme: SignatureScheme(rsaPadding: .pss)))
        #expect(!key.verify(signature: signature, message: message, scheme: SignatureScheme(rsaPadding: .pkcs1v15)))
        #expect(!key.verify(signature: signature, message: message, scheme: SignatureScheme(hash: .sha512, rsaPadding: .pss)))
    }

    @Test func badKeysAreRefused() async throws {
        #expect(throws: PublicKeyError.self) { try PublicKey(pem: "hello") }
        #expect(throws: PublicKeyError.self) { try PublicKey(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----") }
        let directory = TemporaryDirectory()
        try await offThePool {
            try TestSigningKey.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", directory.file("weak.pem").path])
            try TestSigningKey.openssl(["pkey", "-in", directory.file("weak.pem").path, "-pubout", "-out", directory.file("weak.pub").path])
        }
        #expect(throws: PublicKeyError.self) { try PublicKey(pem: String(contentsOf: directory.file("weak.pub"), encoding: .utf8)) }
    }

    @Test func theConnaisseurVectorKeyVerifiesItsSignature() throws {
        let alice = try PublicKey(pem: String(contentsOfFile: ConnaisseurVectors.keyFile("alice"), encoding: .utf8))
        let payload = try [UInt8](Data(contentsOf: ConnaisseurVectors.folder.appendingPathComponent(
            "securesystemsengineering/testimage/blobs/sha256:d8ee807d96efe7441b132967ad94eaffbc0172a763e69f2cd8df8f583f0ba0d4.json")))
        let signature = [UInt8](Data(base64Encoded: "MEUCIQCsrBIJ5hCGEkqfGx/GlUzKM1z8V/Z3mFcNqTVnJ42z2AIgfNWzzQc+OoK8siMd683eKynMzZZ0ezfloZz58McYb8E=")!)
        #expect(alice.verify(signature: signature, message: payload))
        let bob = try PublicKey(pem: String(contentsOfFile: ConnaisseurVectors.keyFile("bob"), encoding: .utf8))
        #expect(!bob.verify(signature: signature, message: payload))
    }
}
