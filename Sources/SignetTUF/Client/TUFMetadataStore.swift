import Foundation
import NIOConcurrencyHelpers

/// Where the client keeps the last good metadata and downloaded targets between updates (TUF
/// specification section 5.2: "load the trusted root metadata file" and the previous trusted
/// metadata from the client's own storage, which the workflow treats as trusted).
public protocol TUFMetadataStore: Sendable {
    /// The file `name`, or nil when there is none.
    func read(_ name: String) async throws(TUFError) -> [UInt8]?
    /// Replaces the file `name` atomically.
    func write(_ name: String, _ bytes: [UInt8]) async throws(TUFError)
    /// Removes the file `name` if it exists.
    func remove(_ name: String) async throws(TUFError)
}

/// A ``TUFMetadataStore`` in a directory on disk: metadata as `<role>.json` (names
/// percent-encoded), targets under `targets/`. Files are written to a temporary name and
/// renamed, so a crash leaves the old copy or the new one. Disk calls run on a serial
/// dispatch queue of their own, off Swift's cooperative pool.
public final class TUFDirectoryStore: TUFMetadataStore {
    public let directory: URL
    private let queue = DispatchQueue(label: "signet.tuf-store")

    /// Creates `directory` (mode 0700) when it does not exist.
    public init(directory: URL) throws(TUFError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent("targets"), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            throw TUFError(.storage, "cannot create \(directory.path): \(error.localizedDescription)")
        }
    }

    public func read(_ name: String) async throws(TUFError) -> [UInt8]? {
        let url = file(name)
        return try await run { () throws(TUFError) -> [UInt8]? in
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            do {
                return [UInt8](try Data(contentsOf: url))
            } catch {
                throw TUFError(.storage, "cannot read \(url.path): \(error.localizedDescription)")
            }
        }
    }

    public func write(_ name: String, _ bytes: [UInt8]) async throws(TUFError) {
        let url = file(name)
        try await run { () throws(TUFError) in
            // A temporary file beside the target, then rename(2): atomic on POSIX file systems.
            // (Foundation's `.atomic` on Linux leaves a directory behind in /tmp at every write.)
            let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UInt64.random(in: 0...UInt64.max))")
            do {
                try Data(bytes).write(to: temporary)
            } catch {
                throw TUFError(.storage, "cannot write \(temporary.path): \(error.localizedDescription)")
            }
            guard rename(temporary.path, url.path) == 0 else {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(at: temporary)
                throw TUFError(.storage, "cannot replace \(url.path): \(reason)")
            }
        }
    }

    public func remove(_ name: String) async throws(TUFError) {
        let url = file(name)
        try await run { () throws(TUFError) in
            guard FileManager.default.fileExists(atPath: url.path) else { return }
            do {
                try FileManager.default.removeItem(at: url)
            } catch {
                throw TUFError(.storage, "cannot remove \(url.path): \(error.localizedDescription)")
            }
        }
    }

    /// `name` is `root.json`-like, or `targets/<target path>`; each part is percent-encoded.
    private func file(_ name: String) -> URL {
        if name.hasPrefix("targets/") {
            return directory.appendingPathComponent("targets").appendingPathComponent(PathEscaping.escape(String(name.dropFirst(8))))
        }
        return directory.appendingPathComponent(PathEscaping.escape(name))
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable () throws(TUFError) -> T) async throws(TUFError) -> T {
        let result: Result<T, TUFError> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { () throws(TUFError) -> T in try body() }) }
        }
        return try result.get()
    }
}

/// A ``TUFMetadataStore`` in memory (TUF specification section 5.2, the client's trusted
/// storage), for clients that must not write to disk and for tests.
public final class TUFMemoryStore: TUFMetadataStore {
    private let files: NIOLockedValueBox<[String: [UInt8]]>

    public init(files: [String: [UInt8]] = [:]) {
        self.files = NIOLockedValueBox(files)
    }

    public func read(_ name: String) async throws(TUFError) -> [UInt8]? { files.withLockedValue { $0[name] } }
    public func write(_ name: String, _ bytes: [UInt8]) async throws(TUFError) { files.withLockedValue { $0[name] = bytes } }
    public func remove(_ name: String) async throws(TUFError) { _ = files.withLockedValue { $0.removeValue(forKey: name) } }
}
