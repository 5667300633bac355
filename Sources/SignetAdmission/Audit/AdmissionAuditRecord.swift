import Foundation
import NIOConcurrencyHelpers
import SignetPolicy
import SignetRegistry
import Synchronization

/// One structured audit record per admission decision, written as a single JSON line.
///
/// Fields (stable; documented in docs/audit.md): `event` (`admission`, or
/// `emergency-bypass` for the extra record of each bypass use), `time` (RFC 3339), `uid`,
/// `namespace`, `kind`, `name`, `user`, `operation`, `dryRun`, `allowed`, `reason`,
/// `policyRevision`, `latencyMs`, `images` (each with `image`, `reference`, `digest` when the
/// reference pins one, `container`, `verdict`, `policies`, `authorities`, `reason`,
/// `exemptions`), `exemptions` (every PolicyException or EmergencyBypass used, with
/// `createdBy`, `createdByGroups`, `lastChangedBy`, `lastChangedByGroups` as signet recorded
/// them), `namespaceOptOut` (`label=true`, only when the namespace's opt-out label let the object
/// in unevaluated), and who sent the review as the connection shows it: `peer` (`ip:port`) and
/// `clientCertificate` (the verified client certificate's RFC 2253 subject; absent without one),
/// and `fromAPIServer: false` when the review is not known to come from the API server
/// (``AdmissionClient/fromAPIServer``; absent when it is).
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
    /// The decision's verdicts, one per image use; written as `images`. Kept as the decision
    /// holds them (one reference), not copied field by field into ``Image`` values: a record is
    /// made for every review.
    public var verdicts: [ImageVerdict]
    public var exemptions: [ExemptionUse]
    /// `ip:port` of the connection the review came on.
    public var peer: String?
    /// RFC 2253 subject of the client certificate the review came with.
    public var clientCertificate: String?
    /// `label=true` when the namespace's opt-out label let the object in without evaluation.
    public var namespaceOptOut: String?
    /// Whether the review is known to come from the API server (``AdmissionClient/fromAPIServer``):
    /// a record of one that is not makes no alert.
    public var fromAPIServer = true

    public init(
        event: String, time: String, uid: String, namespace: String?, kind: String, name: String?, user: String?,
        operation: String, dryRun: Bool, allowed: Bool, reason: String?, policyRevision: String?, latencyMs: Double,
        verdicts: [ImageVerdict], exemptions: [ExemptionUse], peer: String? = nil, clientCertificate: String? = nil
    ) {
        self.peer = peer
        self.clientCertificate = clientCertificate
        self.event = event
        self.time = time
        self.uid = uid
        self.namespace = namespace
        self.kind = kind
        self.name = name
        self.user = user
        self.operation = operation
        self.dryRun = dryRun
        self.allowed = allowed
        self.reason = reason
        self.policyRevision = policyRevision
        self.latencyMs = latencyMs
        self.verdicts = verdicts
        self.exemptions = exemptions
    }

    /// The `images` of the record, as written.
    public var images: [Image] { verdicts.map(Image.init(verdict:)) }

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
        /// `true` when the image was denied only because verifications could not finish
        /// (``ImageVerdict/isUndecided``); absent otherwise.
        public var undecided: Bool?

        init(verdict: ImageVerdict) {
            image = verdict.image
            reference = verdict.reference
            digest = verdict.reference.flatMap { AdmissionAuditRecord.digest(of: $0) }.map(String.init)
            container = verdict.container
            containerType = verdict.containerType.rawValue
            self.verdict = verdict.outcome.rawValue
            policies = verdict.policies
            authorities = verdict.results.flatMap { result in
                result.authorities.map {
                    Authority(policy: result.policy, authority: $0.authority, status: $0.status.rawValue, trustRoot: $0.trustRoot)
                }
            }
            reason = verdict.reason
            exemptions = verdict.exemptions
            undecided = verdict.isUndecided ? true : nil
        }
    }

    /// How one authority of one policy decided.
    public struct Authority: Sendable, Encodable {
        public var policy: String
        public var authority: String
        public var status: String
        /// The Sigstore trust root the authority verified against, when it uses one.
        public var trustRoot: String?
    }

    enum CodingKeys: String, CodingKey {
        case event, time, uid, namespace, kind, name, user, operation, dryRun, allowed, reason, policyRevision, latencyMs
        case images, exemptions, peer, clientCertificate, namespaceOptOut, fromAPIServer
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(event, forKey: .event)
        try container.encode(time, forKey: .time)
        try container.encode(uid, forKey: .uid)
        try container.encodeIfPresent(namespace, forKey: .namespace)
        try container.encode(kind, forKey: .kind)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(user, forKey: .user)
        try container.encode(operation, forKey: .operation)
        try container.encode(dryRun, forKey: .dryRun)
        try container.encode(allowed, forKey: .allowed)
        try container.encodeIfPresent(reason, forKey: .reason)
        try container.encodeIfPresent(policyRevision, forKey: .policyRevision)
        try container.encode(latencyMs, forKey: .latencyMs)
        try container.encode(images, forKey: .images)
        try container.encode(exemptions, forKey: .exemptions)
        try container.encodeIfPresent(peer, forKey: .peer)
        try container.encodeIfPresent(clientCertificate, forKey: .clientCertificate)
        try container.encodeIfPresent(namespaceOptOut, forKey: .namespaceOptOut)
        if !fromAPIServer { try container.encode(false, forKey: .fromAPIServer) }
    }

    /// Builds the record of `decision` (nil when no image was evaluated) for `subject`.
    public static func make(
        uid: String, subject: AdmissionSubject, allowed: Bool, reason: String?, decision: AdmissionDecision?,
        policyRevision: String?, latency: Duration, time: Date, client: AdmissionClient = AdmissionClient()
    ) -> AdmissionAuditRecord {
        let (seconds, attoseconds) = latency.components
        var record = AdmissionAuditRecord(
            event: "admission", time: KubernetesTime.format(time), uid: uid, namespace: subject.namespace, kind: subject.kind,
            name: subject.name, user: subject.userName, operation: subject.operation, dryRun: subject.dryRun,
            allowed: allowed, reason: reason, policyRevision: policyRevision,
            latencyMs: Double(seconds) * 1000 + Double(attoseconds) / 1e15,
            verdicts: decision?.verdicts ?? [], exemptions: decision?.exemptionsUsed ?? [],
            peer: client.address, clientCertificate: client.certificateSubject)
        record.namespaceOptOut = decision?.namespaceOptOut
        record.fromAPIServer = client.fromAPIServer
        return record
    }

    /// `sha256:…` when `reference` names a digest.
    static func digest(of reference: String) -> Substring? {
        // On the UTF-8 bytes: `@` is ASCII, and no grapheme breaking is needed to find it (a
        // backward walk of the UTF-8 view cost more than the rest of the record's line).
        var bytes = reference
        guard let at = bytes.withUTF8({ $0.lastIndex(of: UInt8(ascii: "@")) }) else { return nil }
        return reference[reference.utf8.index(reference.utf8.startIndex, offsetBy: at + 1)...]
    }

    /// The record as one line of JSON (keys sorted, absent optionals left out), written
    /// directly: it is produced for every decision, where `JSONEncoder` cost more than the
    /// decision itself.
    public var jsonLine: String {
        var writer = JSONWriter(capacity: 1024)
        write(to: &writer)
        return writer.withBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// The record's JSON object, as ``jsonLine`` has it.
    func write(to writer: inout JSONWriter) {
        writer.raw("{")
        writer.key("allowed", first: true)
        writer.bool(allowed)
        if let clientCertificate {
            writer.key("clientCertificate")
            writer.string(clientCertificate)
        }
        writer.key("dryRun")
        writer.bool(dryRun)
        writer.key("event")
        writer.string(event)
        writer.key("exemptions")
        Self.write(exemptions, to: &writer)
        if !fromAPIServer {
            writer.key("fromAPIServer")
            writer.bool(false)
        }
        writer.key("images")
        writer.raw("[")
        // By index: the verdicts are read in place, not copied one by one.
        for index in verdicts.indices {
            writer.raw(index == 0 ? "{" : ",{")
            writer.key("authorities", first: true)
            writer.raw("[")
            var first = true
            for result in verdicts[index].results.indices {
                for position in verdicts[index].results[result].authorities.indices {
                    writer.raw(first ? "{" : ",{")
                    first = false
                    writer.key("authority", first: true)
                    writer.string(verdicts[index].results[result].authorities[position].authority)
                    writer.key("policy")
                    writer.string(verdicts[index].results[result].policy)
                    writer.key("status")
                    writer.string(verdicts[index].results[result].authorities[position].status.rawValue)
                    if let trustRoot = verdicts[index].results[result].authorities[position].trustRoot {
                        writer.key("trustRoot")
                        writer.string(trustRoot)
                    }
                    writer.raw("}")
                }
            }
            writer.raw("]")
            writer.key("container")
            writer.string(verdicts[index].container)
            writer.key("containerType")
            writer.string(verdicts[index].containerType.rawValue)
            if let reference = verdicts[index].reference, let digest = Self.digest(of: reference) {
                writer.key("digest")
                writer.string(digest)
            }
            writer.key("exemptions")
            Self.write(verdicts[index].exemptions, to: &writer)
            writer.key("image")
            writer.string(verdicts[index].image)
            writer.key("policies")
            writer.stringArray(verdicts[index].policies)
            writer.key("reason")
            writer.string(verdicts[index].reason)
            if let reference = verdicts[index].reference {
                writer.key("reference")
                writer.string(reference)
            }
            if verdicts[index].isUndecided {
                writer.key("undecided")
                writer.bool(true)
            }
            writer.key("verdict")
            writer.string(verdicts[index].outcome.rawValue)
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
        if let namespaceOptOut {
            writer.key("namespaceOptOut")
            writer.string(namespaceOptOut)
        }
        writer.key("operation")
        writer.string(operation)
        if let peer {
            writer.key("peer")
            writer.string(peer)
        }
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
            // Keys in sorted order, as `JSONEncoder` with `.sortedKeys` writes them.
            if let createdBy = use.attribution.createdBy {
                writer.key("createdBy", first: true)
                writer.string(createdBy)
                writer.key("createdByGroups")
                writer.stringArray(use.attribution.createdByGroups)
                writer.key("expiresAt")
            } else {
                writer.key("expiresAt", first: true)
            }
            writer.string(KubernetesTime.format(use.expiresAt))
            writer.key("kind")
            writer.string(use.kind.rawValue)
            if let lastChangedBy = use.attribution.lastChangedBy {
                writer.key("lastChangedBy")
                writer.string(lastChangedBy)
                writer.key("lastChangedByGroups")
                writer.stringArray(use.attribution.lastChangedByGroups)
            }
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
    private static let lock = NIOLock()
    /// Deferred lines not yet written.
    private static let pending = NIOLockedValueBox<[UInt8]>([])
    /// Whether `pending` holds anything, read without taking its lock.
    private static let hasPending = Atomic<Bool>(false)
    /// Deferred lines are written at once when they reach this size.
    static let deferredLimit = 64 * 1024

    private let deferred: Bool

    public init(deferred: Bool = false) {
        self.deferred = deferred
    }

    public func record(_ record: AdmissionAuditRecord) {
        var writer = JSONWriter(capacity: 512 + 512 * record.verdicts.count)
        record.write(to: &writer)
        writer.raw("\n")
        guard deferred else {
            writer.withBytes { Self.writeLines($0) }
            return
        }
        let full = Self.pending.withLockedValue { pending -> Bool in
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
        lock.withLock {
            var lines: [UInt8] = []
            pending.withLockedValue { pending in
                hasPending.store(false, ordering: .releasing)
                swap(&lines, &pending)
            }
            lines.withUnsafeBytes { writeAll($0) }
        }
    }

    /// Whole lines under the lock, so that concurrent records never interleave.
    private static func writeLines(_ buffer: UnsafeRawBufferPointer) {
        lock.withLock { writeAll(buffer) }
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

extension AdmissionAuditRecord {
    /// About how many bytes the record holds: the UTF-8 of its texts, the client-written ones
    /// (object names, images, containers) and the reasons made from them, an allowance per
    /// verification step, and a fixed allowance per record, image, authority result and
    /// exemption for the rest. What a queue that keeps
    /// records (the history's) counts each as; reading `utf8.count` of a native string is O(1).
    public var estimatedByteCount: Int {
        var total = 512 + uid.utf8.count + kind.utf8.count + operation.utf8.count
        for text in [namespace, name, user, reason, policyRevision, peer, clientCertificate, namespaceOptOut] {
            total += text?.utf8.count ?? 0
        }
        for index in verdicts.indices {
            total += 256 + verdicts[index].image.utf8.count + (verdicts[index].reference?.utf8.count ?? 0)
                + verdicts[index].container.utf8.count + verdicts[index].reason.utf8.count
                + 128 * (verdicts[index].policies.count + verdicts[index].exemptions.count)
            // An authority's reason may quote the image; a step's detail is at most
            // `UntrustedText.detailLimit` bytes, counted as a quarter of it (most are far shorter).
            for result in verdicts[index].results.indices {
                for authority in verdicts[index].results[result].authorities.indices {
                    let answer = verdicts[index].results[result].authorities[authority]
                    total += 256 + answer.reason.utf8.count + answer.stepSource.count * (64 + UntrustedText.detailLimit / 4)
                }
            }
        }
        return total + 256 * exemptions.count
    }
}
