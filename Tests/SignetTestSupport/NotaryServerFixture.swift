import Foundation

/// A real Notary v1 server (Debian's `notary-server`) on 127.0.0.1 with TLS from a test CA and
/// memory storage, and the real `notary` client to sign with: a repository's trust data made
/// the way `docker trust` and `notary` make it. The process stops when the fixture is released
/// or ``stop()`` is called.
public final class NotaryServerFixture: @unchecked Sendable {
    // Immutable after init except `process`, which only `stop()` (test code) touches.
    public static let server = "/usr/bin/notary-server"
    public static let client = "/usr/bin/notary"

    public let port: Int
    public let pki: TestPKI
    public let directory: TemporaryDirectory
    private var process: TestProcess?

    /// `https://127.0.0.1:<port>`.
    public var url: String { "https://127.0.0.1:\(port)" }
    /// The PEM file of the CA the server's certificate chains to.
    public var caFile: String { pki.caFile }
    /// The `notary` client's trust directory (its keys and cached metadata).
    public var trustDirectory: String { directory.url.appendingPathComponent("trust").path }

    /// The passphrases the client's keys are stored under (`NOTARY_*_PASSPHRASE`).
    public static let passphrases = [
        "NOTARY_ROOT_PASSPHRASE": "signet-root", "NOTARY_TARGETS_PASSPHRASE": "signet-targets",
        "NOTARY_SNAPSHOT_PASSPHRASE": "signet-snapshot", "NOTARY_DELEGATION_PASSPHRASE": "signet-delegation",
    ]

    /// The token service the server sends clients to (`auth: token`), when started with one.
    public let tokenIssuer: TokenIssuer?

    /// ``init(tokenAuthentication:)`` from async code, waiting on a thread of its own.
    public static func start(tokenAuthentication: (username: String, password: String)? = nil) async throws -> NotaryServerFixture {
        try await offThePool { try NotaryServerFixture(tokenAuthentication: tokenAuthentication) }
    }

    /// With `tokenAuthentication`, the server is configured with `auth: token` (Docker registry
    /// token authentication, as Docker Hub's Notary runs) against a ``TokenIssuer`` over HTTPS
    /// that knows one user; the `notary` client then signs with `NOTARY_AUTH`.
    public init(tokenAuthentication: (username: String, password: String)? = nil) throws {
        for executable in [Self.server, Self.client] where !FileManager.default.isExecutableFile(atPath: executable) {
            throw TestProcessError(message: "\(executable) is missing: run `make test`, which installs Debian's notary")
        }
        pki = try TestPKI()
        directory = TemporaryDirectory(prefix: "signet-notary")
        port = FreePort.make()
        if let tokenAuthentication {
            tokenIssuer = try TokenIssuer(
                username: tokenAuthentication.username, password: tokenAuthentication.password,
                tls: (certificate: pki.serverCertFile, key: pki.serverKeyFile))
        } else {
            tokenIssuer = nil
        }
        let auth = tokenIssuer.map {
            #","auth": {"type": "token", "options": {"realm": "\#($0.realm)", "service": "\#($0.service)", "issuer": "\#($0.issuer)", "rootcertbundle": "\#($0.rootCertificatePath)"}}"#
        } ?? ""
        let config = """
            {"server": {"http_addr": "127.0.0.1:\(port)", "tls_cert_file": "\(pki.serverCertFile)", "tls_key_file": "\(pki.serverKeyFile)"}\(auth),
             "trust_service": {"type": "local", "key_algorithm": "ecdsa"},
             "logging": {"level": "warn"},
             "storage": {"backend": "memory"}}
            """
        let configFile = try directory.write("server.json", config)
        process = try TestProcess(Self.server, ["-config", configFile.path])
        guard FreePort.waitUntilListening(port) else {
            let logs = process?.stderr ?? ""
            stop()
            throw TestProcessError(message: "notary-server did not listen on \(port): \(logs)")
        }
    }

    /// Runs the `notary` client against this server (`-d`, `-s`, `--tlscacert` set) and returns
    /// its output; throws with the output when it fails. `confirm` answers `yes` on its input
    /// (root key rotation asks).
    @discardableResult
    public func notary(_ arguments: [String], confirm: Bool = false) async throws -> String {
        let base = [Self.client, "-d", trustDirectory, "-s", url, "--tlscacert", caFile]
        var environment = Self.passphrases
        if let tokenIssuer {
            environment["NOTARY_AUTH"] = Data("\(tokenIssuer.username):\(tokenIssuer.password)".utf8).base64EncodedString()
        }
        let result: (status: Int32, stdout: String, stderr: String)
        if confirm {
            let command = "echo yes | " + (base + arguments).map { "'\($0)'" }.joined(separator: " ")
            result = try await TestProcess.run("/bin/sh", ["-c", command], environment: environment)
        } else {
            result = try await TestProcess.run(Self.client, Array(base.dropFirst()) + arguments, environment: environment)
        }
        guard result.status == 0 else {
            throw TestProcessError(message: "notary \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.stdout) \(result.stderr)")
        }
        return result.stdout + result.stderr
    }

    /// The server's log so far.
    public var logs: String { process?.stderr ?? "" }

    /// Stops the server (SIGTERM, then SIGKILL); waits for it to exit.
    public func stop() {
        process?.terminate()
        process = nil
        tokenIssuer?.stop()
    }

    deinit { stop() }
}
