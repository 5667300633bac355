import Foundation

/// The first instant at which metadata a client trusts stops being trustworthy: the role whose
/// `expires` comes first among the trusted root, timestamp, snapshot and targets roles (TUF
/// specification sections 5.3.10, 5.4.4, 5.5.6 and 5.6.5: each is refused once expired).
///
/// Whatever a client learned from that metadata (a target's hashes, and so the target) is
/// trustworthy only until then: past it, an attacker who freezes the repository could be
/// serving old metadata, and only a new update can show otherwise.
public struct MetadataExpiry: Sendable, Hashable, CustomStringConvertible {
    /// `root`, `timestamp`, `snapshot`, `targets` or a delegated role's name.
    public var role: String
    /// The version of that role's metadata.
    public var version: Int
    /// When it expires.
    public var expires: Date

    public init(role: String, version: Int, expires: Date) {
        self.role = role
        self.version = version
        self.expires = expires
    }

    /// `timestamp version 12 expires 2026-08-28T00:00:00Z`.
    public var description: String { "\(role) version \(version) expires \(expires.formatted(.iso8601))" }
}

extension TrustedMetadataSet {
    /// The trusted metadata that expires first (ties go to the role the workflow checks first:
    /// root, timestamp, snapshot, then targets roles by name).
    public var earliestExpiry: MetadataExpiry {
        var candidates = [MetadataExpiry(role: "root", version: root.signed.header.version, expires: root.signed.header.expires)]
        if let timestamp {
            candidates.append(MetadataExpiry(role: "timestamp", version: timestamp.signed.header.version, expires: timestamp.signed.header.expires))
        }
        if let snapshot {
            candidates.append(MetadataExpiry(role: "snapshot", version: snapshot.signed.header.version, expires: snapshot.signed.header.expires))
        }
        for role in targets.keys.sorted() {
            let header = targets[role]!.signed.header
            candidates.append(MetadataExpiry(role: role, version: header.version, expires: header.expires))
        }
        var first = candidates[0]
        for candidate in candidates.dropFirst() where candidate.expires < first.expires { first = candidate }
        return first
    }
}
