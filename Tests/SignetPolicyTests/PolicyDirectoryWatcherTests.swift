import Foundation
import Testing
@testable import SignetPolicy

@Suite("Policy directory watcher")
struct PolicyDirectoryWatcherTests {
    @Test func reloadsOnChangeAndKeepsLastGoodSet() async throws {
        let directory = try TemporaryDirectory()
        try directory.write("a.yaml", policyYAML(name: "first"))
        let watcher = PolicyDirectoryWatcher(directory: directory.path, interval: .milliseconds(10))
        let initial = try await watcher.loadInitial()
        #expect(initial.policies.map(\.name) == ["first"])
        #expect(await watcher.poll() == nil, "unchanged directory reports nothing")

        // A valid change is picked up.
        try directory.write("b.yaml", policyYAML(name: "second"))
        guard case .reloaded(let reloaded) = await watcher.poll() else {
            Issue.record("expected a reload")
            return
        }
        #expect(reloaded.policies.map(\.name) == ["first", "second"])
        #expect(reloaded.revision != initial.revision)

        // An invalid change is rejected and the last good set stays in force.
        try directory.write("c.yaml", policyYAML(name: "third", globs: ["***"]))
        guard case .rejected(let error, let kept) = await watcher.poll() else {
            Issue.record("expected a rejection")
            return
        }
        #expect(error.file == "c.yaml")
        #expect(kept.revision == reloaded.revision)
        #expect(await watcher.current.revision == reloaded.revision)
        #expect(await watcher.poll() == nil, "the same broken state is reported once")

        // Fixing it reloads again.
        try directory.remove("c.yaml")
        try directory.write("b.yaml", policyYAML(name: "second", globs: ["quay.io/**"]))
        guard case .reloaded(let fixed) = await watcher.poll() else {
            Issue.record("expected a reload after the fix")
            return
        }
        #expect(fixed.policies.map(\.name) == ["first", "second"])
        #expect(await watcher.current.revision == fixed.revision)
    }

    @Test func runPollsAndStreamsEvents() async throws {
        let directory = try TemporaryDirectory()
        try directory.write("a.yaml", policyYAML(name: "first"))
        let watcher = PolicyDirectoryWatcher(directory: directory.path, interval: .milliseconds(20))
        try await watcher.loadInitial()
        let task = Task { await watcher.run() }
        try directory.write("a.yaml", policyYAML(name: "renamed"))
        var iterator = watcher.events.makeAsyncIterator()
        let event = await iterator.next()
        guard case .reloaded(let set) = event else {
            Issue.record("expected a reload event, got \(String(describing: event))")
            task.cancel()
            return
        }
        #expect(set.policies.map(\.name) == ["renamed"])
        task.cancel()
        await task.value
        #expect(await iterator.next() == nil, "the stream finishes when run() is cancelled")
    }

    @Test func initialLoadFailureThrows() async throws {
        let directory = try TemporaryDirectory()
        try directory.write("a.yaml", "kind: [")
        let watcher = PolicyDirectoryWatcher(directory: directory.path)
        await #expect(throws: PolicyLoadError.self) { try await watcher.loadInitial() }
        #expect(await watcher.current.policies.isEmpty)
    }
}


@Suite("Policy directory watcher, unreadable directory")
struct PolicyDirectoryWatcherMissingDirectoryTests {
    @Test func vanishedDirectoryIsReportedOnceAndKeepsPolicies() async throws {
        var directory: TemporaryDirectory? = try TemporaryDirectory()
        let path = try #require(directory?.path)
        try directory?.write("a.yaml", policyYAML(name: "first"))
        let watcher = PolicyDirectoryWatcher(directory: path)
        let initial = try await watcher.loadInitial()
        directory = nil
        guard case .rejected(let error, let kept) = await watcher.poll() else {
            Issue.record("expected a rejection")
            return
        }
        #expect(error.message.contains("cannot list"))
        #expect(kept.revision == initial.revision)
        #expect(await watcher.poll() == nil)
        #expect(await watcher.current.policies.map(\.name) == ["first"])
    }
}
