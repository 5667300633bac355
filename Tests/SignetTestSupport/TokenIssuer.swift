import Foundation

/// A token service for distribution's `auth: token` mode (Docker registry token authentication
/// specification), run as a small Python `http.server` the test writes out.
///
/// At start it makes a test CA and a signing certificate with `cryptography`, writes the CA as
/// the registry's `rootcertbundle`, and answers `GET /token?service=…&scope=…` for one user
/// (HTTP Basic, RFC 7617) with an RS256 JWT whose header carries the signing certificate in
/// `x5c` and whose `access` claim grants the scopes asked for. Other credentials get 401.
/// `GET /stats` answers `{"issued": N}`. Over HTTPS on request (a Notary server's realm).
public final class TokenIssuer: @unchecked Sendable {
    // Immutable after init except `process`, which only `stop()` (test code) touches.
    public let port: Int
    public let service = "signet-test-registry"
    public let issuer = "signet-test-issuer"
    public let username: String
    public let password: String
    public let rootCertificatePath: String
    private let directory: TemporaryDirectory
    private var process: TestProcess?

    /// Whether the issuer answers over HTTPS (with ``init(username:password:tokenLifetimeSeconds:tls:)``'s certificate).
    public let usesTLS: Bool

    /// The realm URL the registry sends in its challenges.
    public var realm: String { "\(usesTLS ? "https" : "http")://127.0.0.1:\(port)/token" }

    /// ``init(username:password:tokenLifetimeSeconds:)`` from async code, waiting on a thread of its own.
    public static func start(username: String, password: String, tokenLifetimeSeconds: Int = 300) async throws -> TokenIssuer {
        try await offThePool { try TokenIssuer(username: username, password: password, tokenLifetimeSeconds: tokenLifetimeSeconds) }
    }

    /// With `tls` (a certificate and key for 127.0.0.1, PEM files), the issuer answers over HTTPS,
    /// as a realm for an HTTPS server (a Notary server) must.
    public init(username: String, password: String, tokenLifetimeSeconds: Int = 300, tls: (certificate: String, key: String)? = nil) throws {
        self.username = username
        self.password = password
        usesTLS = tls != nil
        directory = TemporaryDirectory(prefix: "signet-token-issuer")
        port = FreePort.make()
        rootCertificatePath = directory.file("token-ca.pem").path
        let script = try directory.write("token_issuer.py", Self.script)
        process = try TestProcess(
            "python3",
            [script.path, String(port), rootCertificatePath, username, password, issuer, service, String(tokenLifetimeSeconds)]
                + (tls.map { [$0.certificate, $0.key] } ?? []))
        guard FreePort.waitUntilListening(port),
              FileManager.default.fileExists(atPath: rootCertificatePath) else {
            let logs = process?.stderr ?? ""
            stop()
            throw TestProcessError(message: "token issuer did not start: \(logs)")
        }
    }

    /// Tokens issued so far, read from the issuer's log.
    public var issuedCount: Int {
        (process?.stdout ?? "").split(separator: "\n").filter { $0.hasPrefix("issued ") }.count
    }

    public func stop() {
        process?.terminate()
        process = nil
    }

    deinit { stop() }

    static let script = #"""
        import base64, datetime, json, sys, uuid
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse, parse_qs
        from cryptography import x509
        from cryptography.x509.oid import NameOID
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa, padding

        port, ca_out, user, password, issuer, service, lifetime = sys.argv[1:8]
        lifetime = int(lifetime)
        now = datetime.datetime.now(datetime.timezone.utc)

        def name(cn):
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = (x509.CertificateBuilder().subject_name(name("signet test token CA")).issuer_name(name("signet test token CA"))
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                           encipher_only=False, decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        leaf = (x509.CertificateBuilder().subject_name(name("signet test token signer")).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(ca_key, hashes.SHA256()))
        x5c = [base64.b64encode(leaf.public_bytes(serialization.Encoding.DER)).decode()]
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

        def b64url(data):
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        class Handler(BaseHTTPRequestHandler):
            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                if url.path != "/token":
                    self.reply(404, {"error": "not found"})
                    return
                if self.headers.get("Authorization") != expected:
                    self.reply(401, {"details": "invalid credentials"})
                    return
                query = parse_qs(url.query)
                access = []
                for scope in query.get("scope", []):
                    # type:name:actions, where a name may hold a port (a Notary GUN does).
                    kind, _, rest = scope.partition(":")
                    name, _, actions = rest.rpartition(":")
                    if kind == "repository" and name and actions:
                        access.append({"type": "repository", "name": name, "actions": actions.split(",")})
                issued_at = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
                claims = {"iss": issuer, "sub": user, "aud": query.get("service", [service])[0],
                          "exp": issued_at + lifetime, "nbf": issued_at - 30, "iat": issued_at,
                          "jti": uuid.uuid4().hex, "access": access}
                header = {"typ": "JWT", "alg": "RS256", "x5c": x5c}
                signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
                signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
                token = signing_input + "." + b64url(signature)
                print("issued " + ",".join(query.get("scope", [])), flush=True)
                self.reply(200, {"token": token, "access_token": token, "expires_in": lifetime,
                                 "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat()})

            def log_message(self, format, *args):
                pass

        with open(ca_out + ".tmp", "wb") as f:
            f.write(ca.public_bytes(serialization.Encoding.PEM))
        import os
        os.rename(ca_out + ".tmp", ca_out)
        server = ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
        if len(sys.argv) > 9:
            import ssl
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(sys.argv[8], sys.argv[9])
            server.socket = context.wrap_socket(server.socket, server_side=True)
        server.serve_forever()
        """#
}
