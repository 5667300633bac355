import Foundation
import SignetTestSupport
import Testing

/// Every lock in the package is NIOConcurrencyHelpers' (`NIOLockedValueBox`, `NIOLock`): a pthread
/// mutex, whose hand-overs ThreadSanitizer sees. `Synchronization.Mutex` waits on a futex inside
/// the uninstrumented runtime on Linux, so ThreadSanitizer reported races on state it guarded
/// (`make harden HARDEN=full`, docs/testing.md); Foundation's `NSLock` was a second kind of lock.
struct LockDisciplineTests {
    /// Uses of a lock other than NIOConcurrencyHelpers', by regular expression.
    static let forbidden: [(pattern: String, name: String)] = [
        (#"\bMutex\s*[<(]"#, "Synchronization.Mutex"),
        (#"\bNS(Recursive)?Lock\b"#, "Foundation's NSLock"),
        (#"\bOSAllocatedUnfairLock\b|\bos_unfair_lock\b"#, "an unfair lock"),
    ]

    static func swiftFiles(under folder: String) -> [URL] {
        let root = TestPaths.packageRoot.appendingPathComponent(folder)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles]) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    }

    /// Finds `pattern`'s uses outside comments in `text`, as `line: text` entries.
    static func uses(of pattern: String, in text: String) throws -> [String] {
        let expression = try NSRegularExpression(pattern: pattern)
        var found: [String] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let code = String(line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            if expression.firstMatch(in: code, range: NSRange(code.startIndex..., in: code)) != nil {
                found.append("\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        return found
    }

    @Test func everyLockIsOneThreadSanitizerSees() throws {
        let files = ["Sources", "Tests", "Fuzz"].flatMap { Self.swiftFiles(under: $0) }
            .filter { $0.lastPathComponent != "LockDisciplineTests.swift" }
        #expect(files.count > 100, "the scan found only \(files.count) Swift files under \(TestPaths.packageRoot.path)")
        var offences: [String] = []
        for file in files {
            let text = try String(decoding: Data(contentsOf: file), as: UTF8.self)
            for (pattern, name) in Self.forbidden {
                let relative = file.path.replacingOccurrences(of: TestPaths.packageRoot.path + "/", with: "")
                offences += try Self.uses(of: pattern, in: text).map { "\(relative):\($0) uses \(name)" }
            }
        }
        #expect(offences.isEmpty, "use NIOLockedValueBox (or NIOLock) from NIOConcurrencyHelpers instead:\n\(offences.joined(separator: "\n"))")
    }

    /// The scan itself finds a lock it must refuse, and not one named in a comment.
    @Test func theScanRecognisesEachForbiddenLock() throws {
        let sample = """
            let state = Mutex<Int>(0)
            let other = Mutex(0)
            private let lock = NSLock()
            // A comment may name Mutex<Int> and NSLock.
            let fine = NIOLockedValueBox(0)
            """
        let found = try Self.forbidden.flatMap { try Self.uses(of: $0.pattern, in: sample) }
        #expect(found == ["1: let state = Mutex<Int>(0)", "2: let other = Mutex(0)", "3: private let lock = NSLock()"])
    }
}
