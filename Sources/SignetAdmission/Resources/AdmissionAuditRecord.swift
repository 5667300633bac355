import Foundation
import SignetPolicy
import Synchronization

/// One structured audit record per admission decision, written as a single JSON line.
///
/// Fields (stable; documented in README.md, "Audit trail"): `event` (`admission`, or
/// `emergency-bypass` for the extra record of each bypass use), `time` (RFC 3339), `uid`,
/// `namespace`, `kind`, `name`, `user`, `operation`, `dryRun`, `allowed`, `reason`,
/// `policyRevision`, `latencyMs`, `images` (each with `image`, `reference`, `digest` when the
/// reference pins one, `container`, `verdict`, `policies`, `authorities`, `reason`,
/// `exemptions`), and `exemptions` (every PolicyException or EmergencyBypass used).
/// The request fields mirror Kubernetes `admission.k8s.io/v1` `AdmissionRequest`.
public struct AdmissionAuditRecord: Sendable, Encodable {
    public var event: String
    public var time: String
    public var uid: String
    public var namespace: String?
    public var kind: String
    public var name: String?
    public var user: String?
    public var operation: String
    public var dryRun: Bool
    public var allowed: Bool
    public var reason: String?
    public var policyRevision: String?
    public var latencyMs: Double
    public var images: [Image]
    public var exemptions: [ExemptionUse]

    /// One image of the decision.
    public struct Image: Sendable, Encodable {
        public var image: String
        public var reference: String?
        public var digest: String?
        public var container: String
        public var containerType: String
        public var verdict: String
        public var policies: [String]
        public var authorities: [Authority]
        public var reason: String
        public var exemptions: [ExemptionUse]
    }

    /// How one authority of one policy decided.
    public struct Authority: Sendable, Encodable {
        public var policy: String
        public var authority: String
        public var status: String
    }

    /// Builds the record of `decision` (nil when no image was evaluated) for `subject`.
    public static func make(
        uid: String, subject: AdmissionSubject, allowed: Bool, reason: String?, decision: AdmissionDecision?,
        policyRevision: String?, latency: Duration, time: Date
    ) -> AdmissionAuditRecord {
        let verdicts = decision?.verdicts ?? []
        var images: [Image] = []
        images.reserveCapacity(verdicts.count)
        for index in verdicts.indices {
            images.append(Image(
                image: verdicts[index].image, reference: verdicts[index].reference,
                digest: verdicts[index].reference.flatMap(Self.digest(of:)),
                container: verdicts[index].container, containerType: verdicts[index].containerType.rawValue,
                verdict: verdicts[index].outcome.rawValue, policies: verdicts[index].policies,
                authorities: authorities(of: verdicts[index].results),
                reason: verdicts[index].reason, exemptions: verdicts[index].exemptions))
        }
        let (seconds, attoseconds) = latency.components
        return AdmissionAuditRecord(
            event: "admission", time: KubernetesTime.format(time), uid: uid, namespace: subject.namespace, kind: subject.kind,
            name: subject.name, user: subject.userName, operation: subject.operation, dryRun: subject.dryRun,
            allowed: allowed, reason: reason, policyRevision: policyRevision,
            latencyMs: Double(seconds) * 1000 + Double(attoseconds) / 1e15,
            images: images, exemptions: decision?.exemptionsUsed ?? [])
    }

    /// How each authority of each policy decided, in order, in one array.
    private static func authorities(of results: [PolicyResult]) -> [Authority] {
        var authorities: [Authority] = []
        authorities.reserveCapacity(results.reduce(0) { $0 + $1.authorities.count })
        for result in results.indices {
            for authority in results[result].authorities.indices {
                authorities.append(Authority(
                    policy: results[result].policy, authority: results[result].authorities[authority].authority,
                    status: results[result].authorities[authority].status.rawValue))
            }
        }
        return authorities
    }

    /// `sha256:…` when `reference` names a digest.
    static func digest(of reference: String) -> String? {
        // On the UTF-8 view: `@` is ASCII, and no grapheme breaking is needed to find it.
        guard let at = reference.utf8.lastIndex(of: UInt8(ascii: "@")) else { return nil }
        return String(reference[reference.utf8.index(after: at)...])
    }

    /// The record as one line of JSON (keys sorted, absent optionals left out), written
    /// directly: it is produced for every decision, where `JSONEncoder` cost more than the
    /// decision itself.
    public var jsonLine: String {
        var writer = JSONWriter(capacity: 1024)
        write(to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// The record's JSON object, as ``jsonLine`` has it.
    func write(to writer: inout JSONWriter) {
        writer.raw("{")
        writer.key("allowed", first: true)
        writer.bool(allowed)
        writer.key("dryRun")
        writer.bool(dryRun)
        writer.key("event")
        writer.string(event)
        writer.key("exemptions")
        Self.write(exemptions, to: &writer)
        writer.key("images")
        writer.raw("[")
        // By index: the images are read in place, not copied one by one.
        for index in images.indices {
            writer.raw(index == 0 ? "{" : ",{")
            writer.key("authorities", first: true)
            writer.raw("[")
            for position in images[index].authorities.indices {
                let authority = images[index].authorities[position]
                writer.raw(position == 0 ? "{" : ",{")
                writer.key("authority", first: true)
                writer.string(authority.authority)
                writer.key("policy")
                writer.string(authority.policy)
                writer.key("status")
                writer.string(authority.status)
                writer.raw("}")
            }
            writer.raw("]")
            writer.key("container")
            writer.string(images[index].container)
            writer.key("containerType")
            writer.string(images[index].containerType)
            if let digest = images[index].digest {
                writer.key("digest")
                writer.string(digest)
            }
            writer.key("exemptions")
            Self.write(images[index].exemptions, to: &writer)
            writer.key("image")
            writer.string(images[index].image)
            writer.key("policies")
            writer.stringArray(images[index].policies)
            writer.key("reason")
            writer.string(images[index].reason)
            if let reference = images[index].reference {
                writer.key("reference")
                writer.string(reference)
            }
            writer.key("verdict")
            writer.string(images[index].verdict)
            writer.raw("}")
        }
        writer.raw("]")
        writer.key("kind")
        writer.string(kind)
        writer.key("latencyMs")
        writer.double(latencyMs)
        if let name {
            writer.key("name")
            writer.string(name)
        }
        if let namespace {
            writer.key("namespace")
            writer.string(namespace)
        }
        writer.key("operation")
        writer.string(operation)
        if let policyRevision {
            writer.key("policyRevision")
            writer.string(policyRevision)
        }
        if let reason {
            writer.key("reason")
            writer.string(reason)
        }
        writer.key("time")
        writer.string(time)
        writer.key("uid")
        writer.string(uid)
        if let user {
            writer.key("user")
            writer.string(user)
        }
        writer.raw("}")
    }

    private static func write(_ uses: [ExemptionUse], to writer: inout JSONWriter) {
        writer.raw("[")
        for (index, use) in uses.enumerated() {
            writer.raw(index == 0 ? "{" : ",{")
            writer.key("expiresAt", first: true)
            writer.string(KubernetesTime.format(use.expiresAt))
            writer.key("kind")
            writer.string(use.kind.rawValue)
            writer.key("name")
            writer.string(use.name)
            if let namespace = use.namespace {
                writer.key("namespace")
                writer.string(namespace)
            }
            if let policy = use.policy {
                writer.key("policy")
                writer.string(policy)
            }
            writer.key("reason")
            writer.string(use.reason)
            writer.raw("}")
        }
        writer.raw("]")
    }
}

/// Where audit records go (one ``AdmissionAuditRecord`` per decision, the signet design's
/// "audit event"). ``StandardOutputAuditSink`` writes one JSON line (RFC 8259) per record.
public protocol AuditSink: Sendable {
    func record(_ record: AdmissionAuditRecord)
}

/// Writes each record as one JSON line (RFC 8259, newline-delimited) on standard output (logs
/// go to standard error), so a log shipper can tell the audit trail from diagnostics.
///
/// Immediate (the default): each line is written with write(2) as it is recorded. Deferred
/// (`signet serve`): lines are gathered and written together by ``flushDeferredLines()``, which
/// the server calls at the end of each event-loop pass, before that pass's answers are sent,
/// so a client never reads an answer whose audit line is not yet on standard output, and a
/// busy server makes one write per pass instead of one per review.
public struct StandardOutputAuditSink: AuditSink {
    private static let lock = Mutex<Void>(())
    /// Deferred lines not yet written.
    private static let pending = Mutex<[UInt8]>([])
    /// Whether `pending` holds anything, read without taking its lock.
    private static let hasPending = Atomic<Bool>(false)
    /// Deferred lines are written at once when they reach this size.
    static let deferredLimit = 64 * 1024

    private let deferred: Bool

    public init(deferred: Bool = false) {
        self.deferred = deferred
    }

    public func record(_ record: AdmissionAuditRecord) {
        var writer = JSONWriter(capacity: 512 + 512 * record.images.count)
        record.write(to: &writer)
        writer.raw("\n")
        guard deferred else {
            writer.withBytes { Self.writeLines($0) }
            return
        }
        let full = Self.pending.withLock { pending -> Bool in
            writer.withBytes { pending.append(contentsOf: $0) }
            return pending.count >= Self.deferredLimit
        }
        Self.hasPending.store(true, ordering: .releasing)
        if full { Self.flushDeferredLines() }
    }

    /// Writes the deferred lines gathered so far, in the order they were recorded.
    public static func flushDeferredLines() {
        guard hasPending.load(ordering: .acquiring) else { return }
        // The write lock is taken first, so lines taken later are also written later.
        lock.withLock { _ in
            var lines: [UInt8] = []
            pending.withLock { pending in
                hasPending.store(false, ordering: .releasing)
                swap(&lines, &pending)
            }
            lines.withUnsafeBytes { writeAll($0) }
        }
    }

    /// Whole lines under the lock, so that concurrent records never interleave.
    private static func writeLines(_ buffer: UnsafeRawBufferPointer) {
        lock.withLock { _ in writeAll(buffer) }
    }

    /// A line that cannot be written (standard output closed) is dropped: the decision does not
    /// depend on it.
    private static func writeAll(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let written = write(STDOUT_FILENO, base + offset, buffer.count - offset)
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                // A non-blocking descriptor: wait until it takes more.
                var ready = pollfd(fd: STDOUT_FILENO, events: Int16(POLLOUT), revents: 0)
                _ = poll(&ready, 1, 1000)
            } else {
                return
            }
        }
    }
}
