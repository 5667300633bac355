import Foundation

/// A real CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1, with a config the
/// test chooses: anonymous, htpasswd Basic auth, or bearer tokens from a ``TokenIssuer``; plain
/// HTTP or TLS with a test CA. Storage lives in a temporary directory; the process stops when the
/// fixture is released or ``stop()`` is called.
public final class RegistryFixture: @unchecked Sendable {
    // Immutable after init except `process`, which only `stop()` (test code) touches.
    public enum Authentication: Sendable {
        case none
        /// htpasswd Basic authentication with one user (bcrypt, written with `htpasswd -B`).
        case htpasswd(username: String, password: String)
        /// Distribution's `auth: token` mode, trusting `issuer`'s signing CA.
        case token(TokenIssuer)
    }

    /// TLS material for the registry: its certificate and key (PEM files).
    public struct TLS: Sendable {
        public var certificatePath: String
        public var keyPath: String
        public init(certificatePath: String, keyPath: String) {
            self.certificatePath = certificatePath
            self.keyPath = keyPath
        }
    }

    public static let executable = "/usr/bin/docker-registry"

    public let port: Int
    public let directory: TemporaryDirectory
    private var process: TestProcess?

    /// `127.0.0.1:<port>`, the registry part of image references.
    public var host: String { "127.0.0.1:\(port)" }

    /// ``init(authentication:tls:)`` from async code, waiting on a thread of its own.
    public static func start(authentication: Authentication = .none, tls: TLS? = nil) async throws -> RegistryFixture {
        try await offThePool { try RegistryFixture(authentication: authentication, tls: tls) }
    }

    public init(authentication: Authentication = .none, tls: TLS? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw TestProcessError(message: "\(Self.executable) is missing: run `make test`, which installs Debian's docker-registry")
        }
        directory = TemporaryDirectory(prefix: "signet-registry")
        port = FreePort.make()
        var config = """
            version: 0.1
            log:
              level: warn
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: \(directory.path)/data
              delete:
                enabled: true
              maintenance:
                uploadpurging:
                  enabled: false
            http:
              addr: 127.0.0.1:\(port)
              secret: signet-test-secret

            """
        if let tls {
            config += """
                  tls:
                    certificate: \(tls.certificatePath)
                    key: \(tls.keyPath)

                """
        }
        switch authentication {
        case .none:
            break
        case .htpasswd(let username, let password):
            let result = try TestProcess.run("htpasswd", ["-Bbn", username, password])
            guard result.status == 0 else {
                throw TestProcessError(message: "htpasswd failed: \(result.stderr)")
            }
            let file = try directory.write("htpasswd", result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + "\n")
            config += """
                auth:
                  htpasswd:
                    realm: signet-test
                    path: \(file.path)

                """
        case .token(let issuer):
            config += """
                auth:
                  token:
                    realm: \(issuer.realm)
                    service: \(issuer.service)
                    issuer: \(issuer.issuer)
                    rootcertbundle: \(issuer.rootCertificatePath)

                """
        }
        let configFile = try directory.write("config.yml", config)
        process = try TestProcess(Self.executable, ["serve", configFile.path])
        guard FreePort.waitUntilListening(port) else {
            let logs = process?.stderr ?? ""
            stop()
            throw TestProcessError(message: "docker-registry did not listen on \(port): \(logs)")
        }
    }

    /// The registry's log so far (it logs to standard error).
    public var logs: String { process?.stderr ?? "" }

    /// Stops the registry (SIGTERM, then SIGKILL); waits for it to exit.
    public func stop() {
        process?.terminate()
        process = nil
    }

    deinit { stop() }
}
