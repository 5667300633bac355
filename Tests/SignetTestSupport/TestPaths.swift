import Foundation

/// Locations the tests need: the package root, the third-party vectors in `Tests/Vectors`, the
/// built `signet` executable, and scratch directories that remove themselves.
public enum TestPaths {
    /// The package root (the folder holding Package.swift).
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url
            }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// `Tests/Vectors`: real signatures and trust metadata made by other projects' tools, one
    /// folder per source with its upstream path, licence and expected outcomes in a README.
    public static var vectors: URL {
        packageRoot.appendingPathComponent("Tests/Vectors")
    }

    /// The `signet` executable the tests drive: `$SIGNET_BINARY` when set, otherwise the debug build.
    public static var signetBinary: URL {
        if let path = ProcessInfo.processInfo.environment["SIGNET_BINARY"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.appendingPathComponent(".build/debug/signet")
    }
}

/// A directory under the system temporary directory, removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    // Immutable after init; the only mutation is the removal in deinit.
    public let url: URL

    public init(in base: URL = FileManager.default.temporaryDirectory, prefix: String = "signet-test") {
        url = base.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public var path: String { url.path }

    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    @discardableResult
    public func write(_ name: String, _ contents: String) throws -> URL {
        let target = file(name)
        try FileManager.default.createDirectory(
            at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try TemporaryDirectory.replace(target, with: Data(contents.utf8))
        return target
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `data` to a temporary file beside `target` and renames it into place (rename(2) is
    /// atomic), so a process watching `target` never reads half a file. Foundation's atomic
    /// writes on Linux leave a directory behind in /tmp at every call.
    public static func replace(_ target: URL, with data: Data) throws {
        let temporary = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).\(UUID().uuidString)")
        try data.write(to: temporary)
        guard rename(temporary.path, target.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw TestProcessError(message: "cannot rename \(temporary.path) to \(target.path): errno \(errno)")
        }
    }
}
