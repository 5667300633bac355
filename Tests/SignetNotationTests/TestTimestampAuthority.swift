import Foundation
import SignetCrypto
import SignetTestSupport

/// An RFC 3161 time-stamping authority made with the openssl CLI (`openssl ts -reply`): a root
/// and a TSA certificate with the critical time-stamping key purpose, answering with tokens that
/// carry their signer certificate and an ESS signing-certificate-v2 attribute.
final class TestTimestampAuthority: Sendable {
    let directory: TemporaryDirectory
    let root: Certificate

    /// `accuracy` is the TSTInfo accuracy its tokens state, as `openssl ts` writes it
    /// (`secs:1`), or nil for none; `policy` the TSTInfo policy (`0.4.0.2023.1.1` is RFC 3628's
    /// baseline policy). Without an accuracy a token's time range is its genTime alone, so a token
    /// made in the same second as the certificate it vouches for is within its validity.
    /// `leafExtensions` and `leafKey` make the TSA's own certificate (an `openssl x509 -extfile`
    /// and an `openssl req -newkey` argument).
    init(
        accuracy: String? = nil, policy: String = "1.2.3.4.1",
        leafExtensions: String = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
        leafKey: String = "rsa:2048"
    ) throws {
        directory = TemporaryDirectory(prefix: "notation-tsa")
        let dir = directory.path
        try NotationTestSigner.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/root.key", "-out", "\(dir)/root.crt",
                                        "-subj", "/C=US/ST=WA/O=Acme/CN=Acme TSA Root", "-days", "3650",
                                        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try leafExtensions.write(toFile: "\(dir)/tsa.ext", atomically: true, encoding: .utf8)
        try NotationTestSigner.openssl(["req", "-newkey", leafKey, "-nodes", "-keyout", "\(dir)/tsa.key", "-out", "\(dir)/tsa.csr", "-subj", "/C=US/ST=WA/O=Acme/CN=Acme TSA"])
        try NotationTestSigner.openssl(["x509", "-req", "-in", "\(dir)/tsa.csr", "-CA", "\(dir)/root.crt", "-CAkey", "\(dir)/root.key",
                                        "-set_serial", "7", "-days", "3650", "-extfile", "\(dir)/tsa.ext", "-out", "\(dir)/tsa.crt"])
        try "01\n".write(toFile: "\(dir)/serial", atomically: true, encoding: .utf8)
        try """
            [ tsa ]
            default_tsa = tsa_config
            [ tsa_config ]
            dir = \(dir)
            serial = \(dir)/serial
            crypto_device = builtin
            signer_cert = \(dir)/tsa.crt
            certs = \(dir)/tsa.crt
            signer_key = \(dir)/tsa.key
            signer_digest = sha256
            default_policy = \(policy)
            other_policies = 1.2.3.4.1
            digests = sha256, sha384, sha512
            \(accuracy.map { "accuracy = \($0)" } ?? "")
            ordering = no
            tsa_name = no
            ess_cert_id_chain = no
            ess_cert_id_alg = sha256
            """.write(toFile: "\(dir)/tsa.cnf", atomically: true, encoding: .utf8)
        root = try Certificate(pemEncoded: String(contentsOfFile: "\(dir)/root.crt", encoding: .utf8))
    }

    /// The TSA's own certificate.
    var certificate: Certificate {
        get throws { try Certificate(pemEncoded: String(contentsOfFile: "\(directory.path)/tsa.crt", encoding: .utf8)) }
    }

    /// A CRL issued by the TSA's root, listing `revoked`.
    func rootCRL(revoking revoked: [Certificate]) throws -> [UInt8] {
        try NotationTestSigner.crl(of: directory, revoking: revoked)
    }

    /// A time-stamp token (CMS ContentInfo) over `data`, hashed with SHA-256.
    func token(over data: [UInt8]) throws -> [UInt8] {
        try reply(over: data, tokenOnly: true)
    }

    /// A whole TimeStampResp (RFC 3161 section 2.4.2: status and token) over `data`.
    func response(over data: [UInt8]) throws -> [UInt8] {
        try reply(over: data, tokenOnly: false)
    }

    private func reply(over data: [UInt8], tokenOnly: Bool) throws -> [UInt8] {
        let dir = directory.path
        let name = UUID().uuidString
        try Data(data).write(to: URL(fileURLWithPath: "\(dir)/\(name).bin"))
        try NotationTestSigner.openssl(["ts", "-query", "-data", "\(dir)/\(name).bin", "-sha256", "-cert", "-no_nonce", "-out", "\(dir)/\(name).tsq"])
        try NotationTestSigner.openssl(
            ["ts", "-reply", "-config", "\(dir)/tsa.cnf", "-queryfile", "\(dir)/\(name).tsq"] + (tokenOnly ? ["-token_out"] : []) + ["-out", "\(dir)/\(name).tst"])
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).tst")))
    }
}
