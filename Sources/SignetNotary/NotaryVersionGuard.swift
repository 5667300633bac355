import NIOConcurrencyHelpers

/// The highest version of each role seen per Notary server and GUN during the life of the
/// process (TUF specification sections 5.4.3 and 5.5.5, Notary's client cache): metadata whose
/// version is lower than one already trusted is a rollback (a server, mirror or attacker
/// replaying older signed metadata, for example to bring back a tag's previous digest) and is
/// refused.
public final class NotaryVersionGuard: Sendable {
    private let seen = NIOLockedValueBox<[String: [String: Int]]>([:])

    public init() {}

    /// Records `versions` for `repository` when none goes backwards; otherwise returns the
    /// rollback found (`snapshot version 3 is older than version 4 already trusted`) and records nothing.
    public func admit(_ versions: [String: Int], for repository: String) -> String? {
        seen.withLockedValue { table in
            let known = table[repository] ?? [:]
            for (role, version) in versions.sorted(by: { $0.key < $1.key }) {
                if let trusted = known[role], version < trusted {
                    return "\(role) version \(version) is older than version \(trusted) already trusted for this repository (rollback)"
                }
            }
            table[repository] = known.merging(versions) { max($0, $1) }
            return nil
        }
    }
}
