import Foundation

/// The metadata a client trusts during one update, and the checks each new document must pass
/// before it joins them (TUF specification section 5, "Detailed client workflow", 5.2 to 5.6).
///
/// A plain value with no input or output: the ``TUFClient`` fetches, this decides. Documents
/// must arrive in the specification's order (root versions, then timestamp, snapshot, targets,
/// then delegated targets); each `update` either accepts the document or throws and leaves the
/// set as it was, except where noted: an expired timestamp or snapshot is kept as the
/// reference for rollback checks, as section 5.4.3 requires, and still refused.
public struct TrustedMetadataSet: Sendable {
    /// The update's fixed start time, against which every expiry is judged (section 5.1).
    public let referenceTime: Date
    public let format: any TUFMetadataFormat
    public private(set) var root: SignedMetadata<RootMetadata>
    public private(set) var timestamp: SignedMetadata<TimestampMetadata>?
    public private(set) var snapshot: SignedMetadata<SnapshotMetadata>?
    /// `targets` and the delegated roles loaded so far, by role name.
    public private(set) var targets: [String: SignedMetadata<TargetsMetadata>] = [:]

    /// Starts from a trusted root (section 5.2), which must be signed by a threshold of its own
    /// root keys. Its expiry is not checked here: an expired root may still be rotated from.
    public init(trustedRoot bytes: [UInt8], referenceTime: Date, format: any TUFMetadataFormat) throws(TUFError) {
        let root = try SignedMetadata(bytes: bytes, format: format, context: "trusted root.json") { value, context throws(TUFError) in
            try RootMetadata(value, context: context)
        }
        try root.signed.signers(of: "root").verify(root, format: format, signer: "root version \(root.signed.header.version) itself")
        self.root = root
        self.referenceTime = referenceTime
        self.format = format
    }

    /// Section 5.3.4 to 5.3.8: accepts root version N+1, signed by a threshold of the trusted
    /// root's root keys and by a threshold of its own.
    public mutating func updateRoot(_ bytes: [UInt8]) throws(TUFError) {
        precondition(timestamp == nil, "root must be updated before timestamp")
        let expected = root.signed.header.version + 1
        let new = try SignedMetadata(bytes: bytes, format: format, context: "\(expected).root.json") { value, context throws(TUFError) in
            try RootMetadata(value, context: context)
        }
        try root.signed.signers(of: "root").verify(new, format: format, signer: "root version \(root.signed.header.version)")
        guard new.signed.header.version == expected else {
            throw TUFError(.badVersion, "\(expected).root.json has version \(new.signed.header.version), expected \(expected)")
        }
        try new.signed.signers(of: "root").verify(new, format: format, signer: "root version \(expected) itself")
        root = new
    }

    /// Section 5.3.10: the root the rotation chain ended with must not have expired.
    public func checkFinalRoot() throws(TUFError) {
        try checkExpiry(root.signed.header, role: "root")
    }

    /// Section 5.4: accepts a timestamp signed by the root's timestamp keys whose version and
    /// snapshot version do not go back from the trusted timestamp's.
    ///
    /// Returns false, keeping the trusted one, when the new timestamp has the trusted version.
    /// A new timestamp that has expired replaces the trusted one (as the reference for later
    /// rollback checks) and is then refused.
    @discardableResult
    public mutating func updateTimestamp(_ bytes: [UInt8]) throws(TUFError) -> Bool {
        precondition(snapshot == nil, "timestamp must be updated before snapshot")
        try checkFinalRoot()
        let new = try SignedMetadata(bytes: bytes, format: format, context: "timestamp.json") { value, context throws(TUFError) in
            try TimestampMetadata(value, context: context)
        }
        try root.signed.signers(of: "timestamp").verify(new, format: format, signer: "root's timestamp role")
        if let trusted = timestamp?.signed {
            if new.signed.header.version < trusted.header.version {
                throw TUFError(.rollback, "timestamp version \(new.signed.header.version) is older than the trusted version \(trusted.header.version)")
            }
            if new.signed.header.version == trusted.header.version { return false }
            if new.signed.snapshot.version < trusted.snapshot.version {
                throw TUFError(
                    .rollback,
                    "timestamp version \(new.signed.header.version) names snapshot version \(new.signed.snapshot.version), older than the trusted \(trusted.snapshot.version)")
            }
        }
        timestamp = new
        try checkFinalTimestamp()
        return true
    }

    /// Section 5.4.4: the trusted timestamp must not have expired.
    public func checkFinalTimestamp() throws(TUFError) {
        guard let timestamp else { throw TUFError(.malformedMetadata, "no trusted timestamp") }
        try checkExpiry(timestamp.signed.header, role: "timestamp")
    }

    /// Section 5.5: accepts a snapshot whose length and hashes match the timestamp's (unless it
    /// is the client's own stored copy, `isLocal`), signed by the root's snapshot keys, that
    /// drops no targets metadata and lowers no version the trusted snapshot listed.
    ///
    /// A snapshot that passes those checks but has expired or has another version than the
    /// timestamp names replaces the trusted one and is then refused.
    public mutating func updateSnapshot(_ bytes: [UInt8], isLocal: Bool = false) throws(TUFError) {
        guard let timestamp, targets.isEmpty else { preconditionFailure("snapshot must come after timestamp and before targets") }
        try checkFinalTimestamp()
        let expected = timestamp.signed.snapshot
        if !isLocal {
            try MetadataFileCheck.verify(bytes, length: expected.length, hashes: expected.hashes, name: "snapshot.json")
        }
        let new = try SignedMetadata(bytes: bytes, format: format, context: "snapshot.json") { value, context throws(TUFError) in
            try SnapshotMetadata(value, context: context)
        }
        try root.signed.signers(of: "snapshot").verify(new, format: format, signer: "root's snapshot role")
        if let trusted = snapshot?.signed {
            for (name, old) in trusted.meta {
                guard let current = new.signed.meta[name] else {
                    throw TUFError(.rollback, "snapshot version \(new.signed.header.version) drops \(name), which the trusted snapshot lists")
                }
                if current.version < old.version {
                    throw TUFError(.rollback, "snapshot version \(new.signed.header.version) lists \(name) version \(current.version), older than the trusted \(old.version)")
                }
            }
        }
        snapshot = new
        try checkFinalSnapshot()
    }

    /// Sections 5.5.4 and 5.5.6: the trusted snapshot has the version the timestamp names and
    /// has not expired.
    public func checkFinalSnapshot() throws(TUFError) {
        guard let snapshot, let timestamp else { throw TUFError(.malformedMetadata, "no trusted snapshot") }
        try checkExpiry(snapshot.signed.header, role: "snapshot")
        let expected = timestamp.signed.snapshot.version
        guard snapshot.signed.header.version == expected else {
            throw TUFError(.badVersion, "snapshot has version \(snapshot.signed.header.version), the timestamp names version \(expected)")
        }
    }

    /// Section 5.6 (and, for a delegated role, 5.7.2 with the delegating role's keys): accepts
    /// targets metadata for `role` whose length, hashes and version match what the snapshot
    /// lists, signed by a threshold of the keys `parent` gives the role (the root's targets
    /// role for `targets`), unexpired. `isLocal` skips the length and hash check of the
    /// client's own stored copy.
    public mutating func updateTargets(_ bytes: [UInt8], role: String = "targets", parent: String? = nil, isLocal: Bool = false) throws(TUFError) {
        try checkFinalSnapshot()
        let fileName = "\(role).json"
        guard let expected = snapshot?.signed.meta[fileName] else {
            throw TUFError(.malformedMetadata, "the snapshot does not list \(fileName)")
        }
        if !isLocal {
            try MetadataFileCheck.verify(bytes, length: expected.length, hashes: expected.hashes, name: fileName)
        }
        let new = try SignedMetadata(bytes: bytes, format: format, context: fileName) { value, context throws(TUFError) in
            try TargetsMetadata(value, context: context)
        }
        let signers: SignerSet
        if let parent {
            guard let delegator = targets[parent]?.signed.delegations,
                  let delegated = delegator.roles.first(where: { $0.name == role }) else {
                throw TUFError(.malformedMetadata, "\(parent) does not delegate to \(role)")
            }
            signers = delegator.signers(of: delegated)
        } else {
            precondition(role == "targets", "a delegated role needs its delegating role")
            signers = root.signed.signers(of: "targets")
        }
        try signers.verify(new, format: format, signer: parent.map { "its delegation in \($0)" } ?? "root's targets role")
        guard new.signed.header.version == expected.version else {
            throw TUFError(.badVersion, "\(fileName) has version \(new.signed.header.version), the snapshot lists version \(expected.version)")
        }
        try checkExpiry(new.signed.header, role: role)
        targets[role] = new
    }

    private func checkExpiry(_ header: MetadataHeader, role: String) throws(TUFError) {
        guard !header.isExpired(at: referenceTime) else {
            throw TUFError(
                .expired,
                "\(role) version \(header.version) expired at \(header.expires.formatted(.iso8601)) (update started \(referenceTime.formatted(.iso8601)))")
        }
    }
}
