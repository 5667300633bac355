import Foundation
import SignetCrypto
import SignetTestSupport
import Testing

/// Path validation refuses a certificate whose issuer signed it with SHA-1, as Go's
/// `crypto/x509` does for sigstore-go (a Fulcio chain) and notation-go: SHA-1 collisions can be
/// made, so such a signature proves nothing about what the certificate says. A root that signed
/// itself with SHA-1 still anchors a path (its self-signature is not what makes it trusted).
@Suite("Certificate chains: weak signature hashes")
struct CertificateChainStrengthTests {
    static func openssl(_ arguments: [String]) throws {
        let result = try TestProcess.run("openssl", arguments)
        guard result.status == 0 else { throw TestProcessError(message: "openssl \(arguments.first ?? ""): \(result.stderr)") }
    }

    /// A CA (its self-signature made with `rootHash`) and a leaf it signs with `leafHash`.
    static func chain(rootHash: String, leafHash: String, in directory: TemporaryDirectory) throws -> (root: Certificate, leaf: Certificate) {
        let dir = directory.path
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(dir)/ca.key",
                     "-out", "\(dir)/ca.crt", "-subj", "/CN=ca", "-days", "2", "-\(rootHash)",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(dir)/leaf.key",
                     "-out", "\(dir)/leaf.csr", "-subj", "/CN=leaf"])
        try openssl(["x509", "-req", "-in", "\(dir)/leaf.csr", "-CA", "\(dir)/ca.crt", "-CAkey", "\(dir)/ca.key", "-set_serial", "2",
                     "-days", "1", "-\(leafHash)", "-out", "\(dir)/leaf.crt"])
        func read(_ name: String) throws -> Certificate { try Certificate(pemEncoded: String(contentsOfFile: "\(dir)/\(name).crt", encoding: .utf8)) }
        return (try read("ca"), try read("leaf"))
    }

    @Test("a leaf signed with SHA-1 fails the path; SHA-256, and a root that signed itself with SHA-1, do not", arguments: [
        ("sha256", "sha1", false), ("sha256", "sha256", true), ("sha1", "sha256", true), ("sha256", "sha384", true),
    ])
    func weakSignatureHashes(rootHash: String, leafHash: String, passes: Bool) throws {
        let directory = TemporaryDirectory(prefix: "signet-chain-strength")
        let (root, leaf) = try Self.chain(rootHash: rootHash, leafHash: leafHash, in: directory)
        let result = CertificateChainVerifier(trustAnchors: [root]).verify(leaf, at: leaf.notValidBefore.addingTimeInterval(60))
        switch result {
        case .success: #expect(passes, "a leaf signed with \(leafHash) passed")
        case .failure(let error):
            #expect(!passes, "\(error)")
            #expect("\(error)".contains("too weak"), "\(error)")
        }
        #expect(leaf.signatureHashName == leafHash.uppercased(), "\(leaf.signatureHashName ?? "none")")
    }

    /// Where a certificate publishes its revocation status is read from its extension only as
    /// deep as a DistributionPoint goes: an extension nested 100,000 levels (a certificate no
    /// one has trusted yet may carry one) is not followed down the stack.
    @Test func aDeeplyNestedDistributionPointIsNotFollowed() throws {
        var bytes: [UInt8] = [0x86, 0x03] + Array("x:y".utf8)
        for _ in 0..<100_000 {
            let count = bytes.count
            let length: [UInt8] = count < 0x80 ? [UInt8(count)] : count < 0x100 ? [0x81, UInt8(count)]
                : count < 0x10000 ? [0x82, UInt8(count >> 8), UInt8(count & 0xFF)] : [0x83, UInt8(count >> 16), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
            bytes = [0x30] + length + bytes
        }
        let element = try #require(DER.element(bytes))
        #expect(Certificate.uniformResourceIdentifiers(in: element, depth: 4).isEmpty)
        let shallow = try #require(DER.element([0x30, 0x09, 0xA0, 0x07, 0xA0, 0x05, 0x86, 0x03] + Array("x:y".utf8)))
        #expect(Certificate.uniformResourceIdentifiers(in: shallow, depth: 4) == ["x:y"])
    }
}
