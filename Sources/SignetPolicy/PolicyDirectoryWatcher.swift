import Foundation
import Logging

/// Keeps a ``PolicySet`` in step with a policy directory (for example a mounted ConfigMap).
///
/// It polls every `interval`: the fingerprint of the directory is the name, size, modification
/// time and content hash of each policy file, so an atomic ConfigMap update (a symlink swap) and
/// an in-place edit within the same second are both seen, plus the contents (or absence) of every
/// file the policies in force read trust material from (``PolicySet/trustMaterialFiles``: key
/// files, mounted Secret keys, trust roots), so a rotated key or trust root is seen within one
/// interval too and its new revision retires the cached verdicts of the old, plus the digest of
/// the ``PolicyLoader/liveTrustedRoot`` (a Sigstore root TUF replaced). On a change it loads the directory
/// with ``PolicyLoader``; a valid set replaces the current one and is reported as
/// ``PolicyWatchEvent/reloaded(_:)``; an invalid one is reported as
/// ``PolicyWatchEvent/rejected(_:keeping:)`` and the last good set stays in force. A key file
/// or mounted Secret key that disappears is not a rejection: the set reloads with that key
/// unresolved (``CompiledKeyAuthority/unresolvedKeys``), so its authority fails closed instead
/// of the last good set keeping the removed key trusted.
///
/// The only blocking work is reading the small policy files. Lifecycle: call
/// ``loadInitial()`` at start-up (fail the start on error), then ``run()`` in a task; it returns
/// when that task is cancelled and then finishes ``events``.
public actor PolicyDirectoryWatcher {
    /// The directory watched.
    public nonisolated let directory: String
    /// The time between polls.
    public nonisolated let interval: Duration
    /// Every reload and rejected reload, newest kept when the consumer falls behind.
    public nonisolated let events: AsyncStream<PolicyWatchEvent>

    /// The policies in force: the last set that loaded without error.
    public private(set) var current: PolicySet

    private let loader: PolicyLoader
    private let logger: Logger
    private let continuation: AsyncStream<PolicyWatchEvent>.Continuation
    private var fingerprint: String?
    private var lastRejection: PolicyLoadError?

    public init(
        directory: String,
        interval: Duration = .seconds(5),
        initial: PolicySet = .empty,
        loader: PolicyLoader = PolicyLoader(),
        logger: Logger = Logger(label: "signet.policy.watcher")
    ) {
        self.directory = directory
        self.interval = interval
        self.current = initial
        self.loader = loader
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: PolicyWatchEvent.self, bufferingPolicy: .bufferingNewest(16))
    }

    /// Loads the directory now and makes it current; throws instead of keeping a previous set.
    @discardableResult
    public func loadInitial() throws(PolicyLoadError) -> PolicySet {
        // The roots from TUF as they were before the load: one published while it runs is then
        // a change at the next poll, not folded into a fingerprint the load never saw.
        let roots = liveRoots()
        let (files, _) = try snapshot(trustMaterialFiles: [], roots: roots)
        let set = try loader.load(files: files)
        self.current = set
        self.fingerprint = try snapshot(trustMaterialFiles: set.trustMaterialFiles, roots: roots).1
        logger.info("loaded policies", metadata: [
            "directory": "\(directory)", "policies": "\(set.policies.count)", "revision": "\(set.revision)",
        ])
        return set
    }

    /// Checks the directory once. Returns the event it reported, or `nil` when nothing changed.
    @discardableResult
    public func poll() -> PolicyWatchEvent? {
        let files: [PolicySourceFile]
        let newFingerprint: String
        let roots = liveRoots()
        do {
            (files, newFingerprint) = try snapshot(trustMaterialFiles: current.trustMaterialFiles, roots: roots)
        } catch {
            // An unreadable directory is reported when it first fails, not at every poll.
            if error == lastRejection { return nil }
            return reject(error, fingerprint: nil)
        }
        if newFingerprint == fingerprint {
            return nil
        }
        do {
            let set = try loader.load(files: files)
            // The fingerprint over the new set's trust material, so that a policy that starts
            // reading a file is watched for it from now on.
            fingerprint = (try? snapshot(trustMaterialFiles: set.trustMaterialFiles, roots: roots).1) ?? newFingerprint
            lastRejection = nil
            if set.revision == current.revision {
                return nil
            }
            current = set
            logger.info("reloaded policies", metadata: [
                "directory": "\(directory)", "policies": "\(set.policies.count)", "revision": "\(set.revision)",
            ])
            let event = PolicyWatchEvent.reloaded(set)
            continuation.yield(event)
            return event
        } catch {
            return reject(error, fingerprint: newFingerprint)
        }
    }

    /// Polls every ``interval`` until the calling task is cancelled, then finishes ``events``.
    public func run() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                break
            }
            poll()
        }
        continuation.finish()
    }

    private func reject(_ error: PolicyLoadError, fingerprint newFingerprint: String?) -> PolicyWatchEvent {
        // Remember the broken fingerprint so the same error is reported once, not at every poll.
        if let newFingerprint { fingerprint = newFingerprint }
        lastRejection = error
        logger.error("policy reload rejected; keeping the policies in force", metadata: [
            "directory": "\(directory)", "error": "\(error)", "revision": "\(current.revision)",
        ])
        let event = PolicyWatchEvent.rejected(error, keeping: current)
        continuation.yield(event)
        return event
    }

    /// The Sigstore root from TUF and the roots of policies' own TUF repositories in force now.
    private func liveRoots() -> String {
        var text = ""
        if let live = loader.liveTrustedRoot {
            let current = live.current
            text += current.digest + " " + current.origin
        }
        if let tuf = loader.tufTrustRoots { text += "/" + tuf.fingerprint }
        return text
    }

    /// The policy files and a fingerprint of their names, sizes, modification times and contents,
    /// of the contents of `trustMaterialFiles`, and of `roots` (``liveRoots()`` read before the
    /// load the fingerprint goes with).
    private func snapshot(trustMaterialFiles: [String], roots: String) throws(PolicyLoadError) -> ([PolicySourceFile], String) {
        let files = try PolicyLoader.readDirectory(directory)
        var hash = StableHash()
        for file in files {
            let path = (directory as NSString).appendingPathComponent(file.name)
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            hash.combine(file.name)
            hash.combine(file.bytes.count)
            hash.combine(Int(modified * 1_000_000))
            hash.combine(file.bytes)
        }
        PolicySet.combineTrustMaterial(trustMaterialFiles, into: &hash)
        // A new Sigstore root from TUF is a change too, and so is a new root from a policy's
        // own TUF repository.
        hash.combine(roots)
        return (files, hash.hexDigest)
    }
}

/// What a ``PolicyDirectoryWatcher`` reports.
public enum PolicyWatchEvent: Sendable {
    /// A new set of policies is in force.
    case reloaded(PolicySet)
    /// The directory changed but does not load; `keeping` stays in force.
    case rejected(PolicyLoadError, keeping: PolicySet)
}
