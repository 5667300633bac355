import Foundation

/// A real PostgreSQL server (Debian's `postgresql`) on 127.0.0.1 and a free port, its cluster
/// made by `initdb` in a temporary directory, with password (SCRAM) authentication for the user
/// `signet`. PostgreSQL refuses to run as root, so as root the cluster belongs to `nobody` and
/// both programs run through `runuser`. Stopped (fast shutdown) when ``stop()`` is called or the
/// fixture is released.
public final class PostgresServerFixture: @unchecked Sendable {
    // Immutable after init except `process`, which only `stop()` touches.
    public let port: Int
    public let user = "signet"
    public let password = "signet-history-password"
    public let directory: TemporaryDirectory
    private var process: TestProcess?
    private let binaries: URL

    /// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `postgres`, if any.
    public static let binaryDirectory: URL? = {
        let base = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base.path)) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() {
            let bin = base.appendingPathComponent("\(version)/bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path),
               FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("postgres").path) {
                return bin
            }
        }
        return nil
    }()

    /// Whether the server can be started here (Debian's postgresql installed).
    public static var isAvailable: Bool { binaryDirectory != nil }

    /// `postgres://signet:…@127.0.0.1:<port>/<database>?sslmode=disable`.
    public func connectionString(database: String) -> String {
        "postgres://\(user):\(password)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// ``init()`` from async code, waiting on a thread of its own.
    public static func start() async throws -> PostgresServerFixture {
        try await offThePool { try PostgresServerFixture() }
    }

    public init() throws {
        guard let binaries = Self.binaryDirectory else {
            throw TestProcessError(message: "Debian's postgresql is not installed (no /usr/lib/postgresql/*/bin/initdb): run `make test`, which installs it")
        }
        self.binaries = binaries
        directory = TemporaryDirectory(prefix: "signet-postgres")
        port = FreePort.make()
        let data = directory.file("data").path
        let passwordFile = try directory.write("password", password + "\n")
        if getuid() == 0 {
            // The cluster's owner must be the unprivileged user the server runs as.
            guard chown(directory.path, 65534, 65534) == 0, chown(passwordFile.path, 65534, 65534) == 0 else {
                throw TestProcessError(message: "cannot hand \(directory.path) to nobody: errno \(errno)")
            }
        }
        let initdb = try TestProcess.run(Self.unprivileged(binaries.appendingPathComponent("initdb").path), Self.unprivilegedArguments([
            binaries.appendingPathComponent("initdb").path, "-D", data, "-U", user, "--pwfile", passwordFile.path,
            "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync", "--locale", "C",
        ]), timeout: TestBudget.seconds(120))
        guard initdb.status == 0 else {
            throw TestProcessError(message: "initdb failed (\(initdb.status)): \(initdb.stderr)\(initdb.stdout)")
        }
        let postgres = binaries.appendingPathComponent("postgres").path
        process = try TestProcess(Self.unprivileged(postgres), Self.unprivilegedArguments([
            postgres, "-D", data, "-p", "\(port)", "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=\(data)",
            "-c", "fsync=off", "-c", "max_connections=40",
        ]))
        guard FreePort.waitUntilListening(port) else {
            let logs = process?.stderr ?? ""
            stop()
            throw TestProcessError(message: "postgres did not listen on \(port): \(logs)")
        }
        // Listening is not accepting: until recovery ends, connections are refused with "the
        // database system is starting up". Wait (bounded) for pg_isready to say it accepts.
        let deadline = TestBudget.deadline(60)
        while true {
            let ready = try TestProcess.run(binaries.appendingPathComponent("pg_isready").path, [
                "-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", "postgres",
            ])
            if ready.status == 0 { break }
            guard ContinuousClock.now < deadline else {
                let logs = process?.stderr ?? ""
                stop()
                throw TestProcessError(message: "postgres on \(port) never accepted connections: \(ready.stdout) \(logs)")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// Creates the database `name` (owned by ``user``).
    public func createDatabase(_ name: String) throws {
        let result = try TestProcess.run(binaries.appendingPathComponent("createdb").path, [
            "-h", "127.0.0.1", "-p", "\(port)", "-U", user, name,
        ], environment: ["PGPASSWORD": password])
        guard result.status == 0 else { throw TestProcessError(message: "createdb \(name) failed: \(result.stderr)") }
    }

    /// Runs one SQL command with `psql` on `database`; its output.
    @discardableResult
    public func psql(_ command: String, database: String) throws -> String {
        let result = try TestProcess.run(binaries.appendingPathComponent("psql").path, [
            "-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", command,
        ], environment: ["PGPASSWORD": password])
        guard result.status == 0 else { throw TestProcessError(message: "psql failed: \(result.stderr)") }
        return result.stdout
    }

    /// Stops the server: a fast shutdown (SIGINT to the postmaster, whose pid is in
    /// `postmaster.pid`), then the `runuser` around it.
    public func stop() {
        let pidFile = directory.file("data/postmaster.pid")
        if let text = try? String(contentsOf: pidFile, encoding: .utf8), let line = text.split(separator: "\n").first,
           let pid = pid_t(line.trimmingCharacters(in: .whitespaces)) {
            kill(pid, SIGINT)
        }
        process?.waitForExit(timeout: TestBudget.seconds(20))
        process?.terminate()
        process = nil
    }

    deinit { stop() }

    private static func unprivileged(_ executable: String) -> String {
        getuid() == 0 ? "/usr/sbin/runuser" : executable
    }

    private static func unprivilegedArguments(_ command: [String]) -> [String] {
        getuid() == 0 ? ["-u", "nobody", "--"] + command : Array(command.dropFirst())
    }
}
