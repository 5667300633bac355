import Foundation
import PostgresNIO

/// A PostgreSQL connection URI as libpq reads it (PostgreSQL documentation, "Connection
/// Strings", 34.1.1): `postgres://user:password@host:port/database?sslmode=…&sslrootcert=…`
/// (`postgresql://` too; user and password percent-encoded). The parameters signet reads:
/// `sslmode` (`disable`, `prefer` (the default), `require`, `verify-ca`, `verify-full`, with
/// libpq's meaning: only the verify modes check the server's certificate) and `sslrootcert`
/// (a PEM file of CAs). Any other parameter is refused, so a typo is not silently ignored.
public struct PostgresConnectionString: Sendable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String?
    public var sslMode: String
    public var rootCertificateFile: String?

    static let sslModes = ["disable", "prefer", "require", "verify-ca", "verify-full"]

    /// Reads `text` (surrounding whitespace, such as a Secret file's final newline, ignored).
    /// Errors never repeat the password.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let components = URLComponents(string: trimmed), let scheme = components.scheme,
              ["postgres", "postgresql"].contains(scheme.lowercased()) else {
            throw HistoryStoreError.invalidConfiguration("the PostgreSQL DSN must be a URI postgres://user:password@host:port/database")
        }
        guard let host = components.host, !host.isEmpty else {
            throw HistoryStoreError.invalidConfiguration("the PostgreSQL DSN names no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw HistoryStoreError.invalidConfiguration("the PostgreSQL DSN names no user")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.user = user
        self.password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? nil : path
        var sslMode = "prefer"
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, Self.sslModes.contains(value) else {
                    throw HistoryStoreError.invalidConfiguration(
                        "the PostgreSQL DSN's sslmode must be one of \(Self.sslModes.joined(separator: ", ")), not \(item.value ?? "(empty)")")
                }
                sslMode = value
            case "sslrootcert":
                rootCertificateFile = item.value
            default:
                throw HistoryStoreError.invalidConfiguration("the PostgreSQL DSN parameter \(item.name) is not supported (sslmode, sslrootcert are)")
            }
        }
        self.sslMode = sslMode
    }

    /// The TLS settings `sslmode` and `sslrootcert` ask for; nil for `disable`.
    private func tlsConfiguration() -> TLSConfiguration? {
        guard sslMode != "disable" else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let rootCertificateFile { tls.trustRoots = .file(rootCertificateFile) }
        switch sslMode {
        case "verify-full": tls.certificateVerification = .fullVerification
        case "verify-ca": tls.certificateVerification = .noHostnameVerification
        default: tls.certificateVerification = .none
        }
        return tls
    }

    /// TLS is required from `require` up; `prefer` falls back to plain text as libpq does.
    private var requiresTLS: Bool { sslMode != "prefer" }

    /// The postgres-nio pooled client configuration of this connection string.
    public func clientConfiguration() -> PostgresClient.Configuration {
        let mode: PostgresClient.Configuration.TLS
        if let tls = tlsConfiguration() {
            mode = requiresTLS ? .require(tls) : .prefer(tls)
        } else {
            mode = .disable
        }
        return PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: mode)
    }

    /// The postgres-nio single connection configuration of this connection string.
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let mode: PostgresConnection.Configuration.TLS
        if let tls = tlsConfiguration() {
            let context = try NIOSSLContext(configuration: tls)
            mode = requiresTLS ? .require(context) : .prefer(context)
        } else {
            mode = .disable
        }
        return PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: mode)
    }
}
