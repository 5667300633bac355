import Foundation

/// A throwaway PKI made with the `openssl` command line for TLS tests:
///
/// - a root CA (`caFile`) that signs server certificates,
/// - a server certificate for `localhost` with SANs `DNS:localhost` and `IP:127.0.0.1`,
/// - a second root, the client CA (`clientCAFile`), that signs client certificates,
/// - a client certificate (`clientCertFile`, `clientKeyFile`) with `extendedKeyUsage=clientAuth`.
///
/// Keys are EC P-256 by default (RSA 2048 on request), stored unencrypted as PKCS#8 PEM.
/// Certificates are X.509 v3 (RFC 5280) and valid from one hour ago for two days. Everything
/// lives in a temporary directory that is removed with the value.
public final class TestPKI: @unchecked Sendable {
    // @unchecked Sendable: all stored properties are immutable after init; the methods only
    // create new files and run openssl.

    /// The key algorithm of the certificates this PKI issues.
    public enum KeyType: Sendable {
        case ecP256
        case rsa2048
    }

    /// Which root signs a certificate.
    public enum Authority: Sendable {
        /// The root in `caFile`, which clients trust for server certificates.
        case serverCA
        /// The root in `clientCAFile`, which servers trust for client certificates.
        case clientCA
    }

    /// A certificate and its private key on disk.
    public struct IssuedCertificate: Sendable, Hashable {
        public let certificateFile: String
        public let privateKeyFile: String
    }

    public let keyType: KeyType
    public let directory: TemporaryDirectory

    /// PEM of the root CA that signs server certificates (what clients trust).
    public let caFile: String
    /// PEM of the server certificate (leaf only) for localhost / 127.0.0.1.
    public let serverCertFile: String
    /// PEM (PKCS#8) of the server certificate's key.
    public let serverKeyFile: String
    /// PEM of the root CA that signs client certificates (what the server trusts).
    public let clientCAFile: String
    /// PEM of a client certificate signed by the client CA.
    public let clientCertFile: String
    /// PEM (PKCS#8) of the client certificate's key.
    public let clientKeyFile: String

    private let caKeyFile: String
    private let clientCAKeyFile: String

    public init(keyType: KeyType = .ecP256) throws {
        self.keyType = keyType
        directory = TemporaryDirectory(prefix: "signet-pki")
        let root = directory.path
        caFile = "\(root)/ca.crt"
        caKeyFile = "\(root)/ca.key"
        clientCAFile = "\(root)/client-ca.crt"
        clientCAKeyFile = "\(root)/client-ca.key"
        try Self.makeRoot(commonName: "signet test server CA", certificateFile: caFile, keyFile: caKeyFile, keyType: keyType, in: root)
        try Self.makeRoot(commonName: "signet test client CA", certificateFile: clientCAFile, keyFile: clientCAKeyFile, keyType: keyType, in: root)

        serverCertFile = "\(root)/server.crt"
        serverKeyFile = "\(root)/server.key"
        clientCertFile = "\(root)/client.crt"
        clientKeyFile = "\(root)/client.key"
        try issue(
            commonName: "localhost", usage: .server, signedBy: .serverCA,
            certificateFile: serverCertFile, keyFile: serverKeyFile)
        try issue(
            commonName: "signet-test-client", usage: .client, signedBy: .clientCA,
            certificateFile: clientCertFile, keyFile: clientKeyFile)
    }

    /// Issues a fresh server certificate (new key, new serial) signed by the server CA, with SANs
    /// `DNS:localhost`, `IP:127.0.0.1` and `DNS:<commonName>`, and writes it to `tls.crt` and
    /// `tls.key` in `directory` (the names of a Kubernetes TLS secret), replacing each file by
    /// rename so a reader never sees half a file. With `throughIntermediate`, a new intermediate CA
    /// (signed by the server CA) signs the leaf and `tls.crt` holds the leaf, then the intermediate.
    @discardableResult
    public func issueServerCertificate(
        commonName: String = "localhost", into directory: URL, throughIntermediate: Bool = false
    ) throws -> IssuedCertificate {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificateFile = directory.appendingPathComponent("tls.crt").path
        let keyFile = directory.appendingPathComponent("tls.key").path
        if throughIntermediate {
            let work = TemporaryDirectory(prefix: "signet-pki-intermediate")
            let intermediate = work.file("intermediate.crt").path
            let intermediateKey = work.file("intermediate.key").path
            try issue(
                commonName: "signet test intermediate CA", usage: .certificateAuthority, signer: (caFile, caKeyFile),
                certificateFile: intermediate, keyFile: intermediateKey)
            try issue(
                commonName: commonName, usage: .server, signer: (intermediate, intermediateKey),
                certificateFile: certificateFile, keyFile: keyFile, chain: [intermediate])
        } else {
            try issue(commonName: commonName, usage: .server, signedBy: .serverCA, certificateFile: certificateFile, keyFile: keyFile)
        }
        return IssuedCertificate(certificateFile: certificateFile, privateKeyFile: keyFile)
    }

    /// Issues a client certificate signed by `authority` into `<name>.crt` / `<name>.key` in the
    /// PKI's directory. Signed by `.serverCA`, it is a certificate a server trusting only the
    /// client CA must refuse.
    @discardableResult
    public func issueClientCertificate(commonName: String, signedBy authority: Authority = .clientCA, named name: String) throws -> IssuedCertificate {
        let certificateFile = directory.file("\(name).crt").path
        let keyFile = directory.file("\(name).key").path
        try issue(commonName: commonName, usage: .client, signedBy: authority, certificateFile: certificateFile, keyFile: keyFile)
        return IssuedCertificate(certificateFile: certificateFile, privateKeyFile: keyFile)
    }

    // MARK: - openssl

    private enum Usage { case server, client, certificateAuthority }

    private func issue(
        commonName: String, usage: Usage, signedBy authority: Authority, certificateFile: String, keyFile: String
    ) throws {
        let signer = authority == .serverCA ? (caFile, caKeyFile) : (clientCAFile, clientCAKeyFile)
        try issue(commonName: commonName, usage: usage, signer: signer, certificateFile: certificateFile, keyFile: keyFile)
    }

    /// Makes a key and a certificate signed by `signer` (certificate file, key file); the
    /// certificate file gets the new certificate followed by the PEM files in `chain`.
    private func issue(
        commonName: String, usage: Usage, signer: (certificate: String, key: String),
        certificateFile: String, keyFile: String, chain: [String] = []
    ) throws {
        let work = TemporaryDirectory(prefix: "signet-pki-issue")
        let key = work.file("leaf.key").path
        let request = work.file("leaf.csr").path
        let certificate = work.file("leaf.crt").path
        try Self.generateKey(keyType, to: key)
        try Self.openssl(["req", "-new", "-key", key, "-subj", "/CN=\(commonName)", "-out", request])

        var extensions: [String] = []
        if usage == .certificateAuthority {
            extensions.append("basicConstraints = critical, CA:TRUE, pathlen:0")
            extensions.append("keyUsage = critical, keyCertSign, cRLSign")
        } else {
            extensions.append("basicConstraints = critical, CA:FALSE")
            let keyUsage = keyType == .rsa2048 ? "digitalSignature, keyEncipherment" : "digitalSignature"
            extensions.append("keyUsage = critical, \(keyUsage)")
        }
        switch usage {
        case .server:
            var names = ["DNS:localhost", "IP:127.0.0.1"]
            if commonName != "localhost" { names.append("DNS:\(commonName)") }
            extensions.append("extendedKeyUsage = serverAuth")
            extensions.append("subjectAltName = \(names.joined(separator: ", "))")
        case .client:
            extensions.append("extendedKeyUsage = clientAuth")
        case .certificateAuthority:
            break
        }
        extensions.append("subjectKeyIdentifier = hash")
        extensions.append("authorityKeyIdentifier = keyid")
        let extensionFile = try work.write("leaf.ext", extensions.joined(separator: "\n") + "\n").path

        try Self.openssl([
            "x509", "-req", "-in", request, "-CA", signer.certificate, "-CAkey", signer.key,
            "-set_serial", Self.randomSerial(), "-days", "2", "-sha256",
            "-extfile", extensionFile, "-out", certificate,
        ])
        if !chain.isEmpty {
            var pem = try String(contentsOfFile: certificate, encoding: .utf8)
            for file in chain { pem += try String(contentsOfFile: file, encoding: .utf8) }
            try TemporaryDirectory.replace(URL(fileURLWithPath: certificate), with: Data(pem.utf8))
        }
        // Rename into place: key first, so a reader that sees the new certificate finds its key.
        try Self.replace(keyFile, with: key)
        try Self.replace(certificateFile, with: certificate)
    }

    private static func makeRoot(
        commonName: String, certificateFile: String, keyFile: String, keyType: KeyType, in root: String
    ) throws {
        try generateKey(keyType, to: keyFile)
        try openssl([
            "req", "-x509", "-new", "-key", keyFile, "-subj", "/CN=\(commonName)", "-days", "3", "-sha256",
            "-set_serial", randomSerial(),
            "-addext", "basicConstraints = critical, CA:TRUE",
            "-addext", "keyUsage = critical, keyCertSign, cRLSign",
            "-out", certificateFile,
        ])
    }

    private static func generateKey(_ keyType: KeyType, to path: String) throws {
        switch keyType {
        case .ecP256:
            try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path])
        case .rsa2048:
            try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path])
        }
    }

    private static func replace(_ destination: String, with source: String) throws {
        let staged = destination + ".new"
        try? FileManager.default.removeItem(atPath: staged)
        try FileManager.default.copyItem(atPath: source, toPath: staged)
        guard rename(staged, destination) == 0 else {
            throw TestProcessError(message: "cannot move \(staged) to \(destination): \(String(cString: strerror(errno)))")
        }
    }

    private static func randomSerial() -> String {
        "0x" + (0..<16).map { _ in String(UInt8.random(in: 0...255), radix: 16) }
            .map { $0.count == 1 ? "0" + $0 : $0 }.joined()
    }

    private static func openssl(_ arguments: [String]) throws {
        let result = try TestProcess.run("openssl", arguments, timeout: .seconds(60))
        guard result.status == 0 else {
            throw TestProcessError(
                message: "openssl \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.stderr)")
        }
    }
}
