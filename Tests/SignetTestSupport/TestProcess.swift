import Foundation
import NIOConcurrencyHelpers

/// A child process started by a test (the signet server, a registry, openssl, python), with its
/// output captured to files so a chatty child never blocks on a full pipe. Terminated when released.
///
/// Started with posix_spawn(3) directly, not Foundation's `Process`: on Linux, `Process.run()`
/// finds the highest open descriptor by copying each `/proc/self/fd` entry's whole 256-byte name
/// out of the directory buffer, which reads past the buffer's end for the last entries and
/// crashed the test process whenever that memory was not mapped.
public final class TestProcess: @unchecked Sendable {
    // `process` is thread-safe; the output URLs are immutable.
    public let process: Child
    public let stdoutURL: URL
    public let stderrURL: URL
    private let directory: TemporaryDirectory

    /// Starts `executable` with `arguments`. `environment` entries are added to the current environment.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        currentDirectory: URL? = nil
    ) throws {
        directory = TemporaryDirectory(prefix: "signet-proc")
        stdoutURL = directory.file("stdout")
        stderrURL = directory.file("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process = try Child(
            executable: executable.hasPrefix("/") ? executable : Self.which(executable), arguments: arguments,
            environment: env, standardOutput: stdoutURL.path, standardError: stderrURL.path,
            currentDirectory: currentDirectory?.path)
    }

    /// Runs a command to completion (bounded by `timeout`) and returns its exit status and output.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        timeout: Duration = TestBudget.seconds(120)
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try TestProcess(executable, arguments, environment: environment)
        guard child.waitForExit(timeout: timeout) else {
            child.terminate()
            throw TestProcessError(message: "\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        return (child.process.terminationStatus, child.stdout, child.stderr)
    }

    /// ``run(_:_:environment:timeout:)`` from async code, waiting on a thread of its own.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        timeout: Duration = TestBudget.seconds(120)
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await offThePool { try run(executable, arguments, environment: environment, timeout: timeout) }
    }

    public var stdout: String { Self.readText(stdoutURL.path) }
    public var stderr: String { Self.readText(stderrURL.path) }

    /// A captured output file as text ("" when it cannot be opened), read with read(2) into an
    /// array: `String(contentsOf:)` left the buffer FoundationEssentials' `readBytesFromFile`
    /// read each of these files into unfreed (LeakSanitizer counted 25 MB of them at the exit of
    /// a whole-suite run).
    static func readText(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
    public var isRunning: Bool { process.isRunning }

    /// Waits until the process exits; false when `timeout` passed first.
    @discardableResult
    public func waitForExit(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return false }
            usleep(10_000)
        }
        return true
    }

    /// Sends `signal` (SIGTERM by default).
    public func signal(_ signal: Int32 = SIGTERM) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// SIGTERM, then SIGKILL if it has not exited within two seconds.
    public func terminate() {
        guard process.isRunning else { return }
        signal(SIGTERM)
        if !waitForExit(timeout: .seconds(2)) {
            signal(SIGKILL)
            waitForExit(timeout: .seconds(2))
        }
    }

    deinit { terminate() }

    static func which(_ name: String) -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return "/usr/bin/\(name)"
    }

    /// One spawned child: its process id, and its exit status once it has been reaped.
    ///
    public final class Child: Sendable {
        public let processIdentifier: pid_t
        private let waitStatus = NIOLockedValueBox<Int32?>(nil)

        /// Spawns the child in its own process group (as `Process` does) with standard input from
        /// /dev/null, output appended to the two files, and no other descriptor of this process.
        init(
            executable: String, arguments: [String], environment: [String: String], standardOutput: String,
            standardError: String, currentDirectory: String?
        ) throws {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_APPEND, 0)
            posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_APPEND, 0)
            if let closeFrom = Self.closeFrom, closeFrom(&actions, 3) != 0 {
                throw TestProcessError(message: "posix_spawn: cannot close inherited descriptors")
            }
            if let currentDirectory {
                guard let changeDirectory = Self.changeDirectory, changeDirectory(&actions, currentDirectory) == 0 else {
                    throw TestProcessError(message: "posix_spawn: cannot change to \(currentDirectory)")
                }
            }
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
            posix_spawnattr_setpgroup(&attributes, 0)

            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            let envp = environment.map { strdup("\($0)=\($1)") } + [nil]
            defer {
                argv.forEach { free($0) }
                envp.forEach { free($0) }
            }
            var pid = pid_t()
            let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            guard result == 0 else {
                throw TestProcessError(message: "cannot start \(executable): \(String(cString: strerror(result)))")
            }
            processIdentifier = pid
        }

        /// Whether the child has not exited yet (reaping it when it has).
        public var isRunning: Bool { currentStatus() == nil }

        /// The exit code, or the number of the signal that ended it (as `Process` reports it).
        public var terminationStatus: Int32 {
            guard let status = currentStatus() else { preconditionFailure("the process is still running") }
            let signal = status & 0x7f
            return signal == 0 ? (status >> 8) & 0xff : signal
        }

        private func currentStatus() -> Int32? {
            waitStatus.withLockedValue { waitStatus in
                if waitStatus == nil {
                    var status: Int32 = 0
                    let reaped = waitpid(processIdentifier, &status, WNOHANG)
                    if reaped == processIdentifier { waitStatus = status }
                }
                return waitStatus
            }
        }

        // posix_spawn_file_actions_addclosefrom_np and _addchdir_np (glibc 2.34 and 2.29) are not
        // in the Glibc module Swift imports; they are looked up by name.
        private typealias CloseFromAction = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        private typealias ChangeDirectoryAction = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

        private static let closeFrom: CloseFromAction? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
            .map { unsafeBitCast($0, to: CloseFromAction.self) }
        private static let changeDirectory: ChangeDirectoryAction? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np")
            .map { unsafeBitCast($0, to: ChangeDirectoryAction.self) }
    }
}

public struct TestProcessError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Loopback ports for servers the tests start.
public enum FreePort {
    /// Ports already handed out in this process: the kernel may offer a released port again at
    /// once, and two fixtures starting side by side must never be given the same one.
    private static let handedOut = NIOLockedValueBox(Set<Int>())

    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, released),
    /// never one this process was given before.
    public static func make() -> Int {
        for _ in 0..<1_000 {
            let port = kernelOffer()
            if handedOut.withLockedValue({ $0.insert(port).inserted }) { return port }
        }
        preconditionFailure("no TCP port on 127.0.0.1 that this process has not used already")
    }

    private static func kernelOffer() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:`port`; false after `timeout`.
    public static func waitUntilListening(_ port: Int, timeout: Duration = TestBudget.seconds(60)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(fd)
            if result == 0 { return true }
            usleep(20_000)
        }
        return false
    }
}
