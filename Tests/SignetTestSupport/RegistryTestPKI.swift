import Foundation

/// A CA and a server certificate for 127.0.0.1, made with the openssl CLI, for a registry served
/// over TLS (the client trusts the CA through its custom CA bundle setting).
public struct RegistryTestPKI {
    public let caCertificatePath: String
    public let serverCertificatePath: String
    public let serverKeyPath: String

    /// Writes `ca.pem`, `server.pem` and `server.key` (ECDSA P-256) into `directory`.
    public init(in directory: TemporaryDirectory) throws {
        let dir = directory.path
        caCertificatePath = "\(dir)/ca.pem"
        serverCertificatePath = "\(dir)/server.pem"
        serverKeyPath = "\(dir)/server.key"
        try directory.write("server.ext", """
            basicConstraints=critical,CA:FALSE
            keyUsage=critical,digitalSignature
            extendedKeyUsage=serverAuth
            subjectAltName=IP:127.0.0.1,DNS:localhost

            """)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(dir)/ca.key",
             "-out", caCertificatePath, "-days", "2", "-subj", "/CN=signet test registry CA"],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", serverKeyPath,
             "-out", "\(dir)/server.csr", "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", "\(dir)/server.csr", "-CA", caCertificatePath, "-CAkey", "\(dir)/ca.key",
             "-CAcreateserial", "-out", serverCertificatePath, "-days", "2", "-extfile", "\(dir)/server.ext"],
        ]
        for arguments in steps {
            let result = try TestProcess.run("openssl", arguments)
            guard result.status == 0 else {
                throw TestProcessError(message: "openssl \(arguments.first ?? "") failed: \(result.stderr)")
            }
        }
    }
}
