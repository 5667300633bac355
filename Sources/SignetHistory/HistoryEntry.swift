import Foundation

/// One decision kept in the verification history: an admission decision (a Kubernetes
/// `admission.k8s.io/v1` `AdmissionRequest` and signet's answer to it) or an on-demand
/// verification (`signet verify`, or the console's Verify page), with one ``HistoryImageRecord``
/// per image it judged.
///
/// The request fields mirror the `AdmissionRequest` (namespace, kind, name, user, dry run, uid);
/// `peer` and `clientCertificate` say who sent it as the connection showed it, and
/// `fromAPIServer` whether signet knew the sender for the API server. A store assigns
/// ``id`` when it writes the entry; ``time`` and ``id`` together order the history (newest first).
public struct HistoryEntry: Sendable, Hashable, Codable {
    /// What produced the entry.
    public enum Source: String, Sendable, Hashable, Codable, CaseIterable {
        /// A review posted to the webhook (`/validate` or `/mutate`).
        case admission
        /// An image checked on demand (`signet verify`).
        case verification
        /// An image checked on demand in the console (its Verify page or `POST /api/verifications`),
        /// by the user the TokenReview named.
        case console
    }

    /// Assigned by the store; nil before the entry is written.
    public var id: Int64?
    public var source: Source
    public var time: Date
    public var namespace: String?
    /// The object's kind (`Pod`, `Deployment`, ...); nil for a verification.
    public var objectKind: String?
    public var name: String?
    public var user: String?
    /// `CREATE`, `UPDATE`, ...; nil for a verification.
    public var operation: String?
    public var dryRun: Bool
    /// The `AdmissionRequest` uid.
    public var uid: String?
    /// `ip:port` of the connection the review came on.
    public var peer: String?
    /// RFC 2253 subject of the client certificate the review came with.
    public var clientCertificate: String?
    /// False for a review signet did not know to come from the API server (signet requires a
    /// client certificate, or `--reserved-peers` names the API server's addresses, and this one
    /// came from elsewhere): anyone who reaches the webhook port can post one, naming any
    /// namespace, object and user, so it is no record of what the cluster admitted. True for
    /// every other entry, those of verifications among them.
    public var fromAPIServer: Bool
    /// Time spent deciding, in milliseconds.
    public var latencyMs: Double
    public var allowed: Bool
    /// The decision's reason (the denial message, or the verdicts' reasons).
    public var reason: String?
    /// The revision of the policies that decided.
    public var policyRevision: String?
    /// Signature authorities whose verdict came from the verification cache.
    public var cacheHits: Int
    /// Signature authorities that had to be verified (not in the cache).
    public var cacheMisses: Int
    public var images: [HistoryImageRecord]

    public init(
        id: Int64? = nil, source: Source, time: Date, namespace: String? = nil, objectKind: String? = nil, name: String? = nil,
        user: String? = nil, operation: String? = nil, dryRun: Bool = false, uid: String? = nil, peer: String? = nil,
        clientCertificate: String? = nil, fromAPIServer: Bool = true, latencyMs: Double, allowed: Bool, reason: String? = nil, policyRevision: String? = nil,
        cacheHits: Int = 0, cacheMisses: Int = 0, images: [HistoryImageRecord]
    ) {
        self.id = id
        self.source = source
        self.time = time
        self.namespace = namespace
        self.objectKind = objectKind
        self.name = name
        self.user = user
        self.operation = operation
        self.dryRun = dryRun
        self.uid = uid
        self.peer = peer
        self.clientCertificate = clientCertificate
        self.fromAPIServer = fromAPIServer
        self.latencyMs = latencyMs
        self.allowed = allowed
        self.reason = reason
        self.policyRevision = policyRevision
        self.cacheHits = cacheHits
        self.cacheMisses = cacheMisses
        self.images = images
    }

    /// Microseconds since 1970, as the stores keep ``time`` (whole microseconds order entries
    /// the same way in SQLite and PostgreSQL).
    var timeMicroseconds: Int64 { Self.microseconds(time) }

    /// Saturating at the ends of 64 bits (about 292,000 years either side of 1970), so no
    /// time converts with a trap; queries refuse times outside ``HistoryQuery/supportedTimes``
    /// before they get here.
    static func microseconds(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1_000_000).rounded(.down)
        guard !value.isNaN else { return 0 }
        // 2^63 is exact as a Double; Int64.max is not, and rounds up to it.
        if value >= 9_223_372_036_854_775_808.0 { return Int64.max }
        if value < -9_223_372_036_854_775_808.0 { return Int64.min }
        return Int64(value)
    }

    static func date(microseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(microseconds) / 1_000_000)
    }
}
