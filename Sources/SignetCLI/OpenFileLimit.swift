#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The process's limit on open files (`RLIMIT_NOFILE`, POSIX `setrlimit`). Every connection,
/// outbound request and file takes a descriptor; at the limit `accept` fails with `EMFILE`, so the
/// listener pauses for every client alike, the API server and reserved peers included, before
/// any connection limit of signet's applies. Container runtimes often start a process with a soft
/// limit of 1024 under a much higher hard one, which a process may raise itself to.
enum OpenFileLimit {
    /// Descriptors kept for what is not a served connection: registries, the API server,
    /// Notary servers, the history store, files and the process's own.
    static let reserveForOtherUses = 256

    /// Raises the soft limit to the hard one; the soft limit in force afterwards (nil when it
    /// cannot be read).
    static func raise() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_max) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// The descriptors signet's limits let it use: every webhook and console connection, and
    /// ``reserveForOtherUses``.
    static func needed(webhookConnections: Int, consoleConnections: Int) -> UInt64 {
        // Saturating: limits this large are refused by the flags, and must not trap here.
        [webhookConnections, consoleConnections, reserveForOtherUses].reduce(UInt64(0)) { total, count in
            let (sum, overflow) = total.addingReportingOverflow(UInt64(max(0, count)))
            return overflow ? .max : sum
        }
    }

    /// Raises the limit and warns when it is still below what the connection limits allow.
    static func prepare(webhookConnections: Int, consoleConnections: Int, logger: Logger) {
        guard let soft = raise() else { return }
        let needed = needed(webhookConnections: webhookConnections, consoleConnections: consoleConnections)
        guard soft < needed else { return }
        logger.warning(
            "the open-file limit is below what the connection limits allow: at the limit the listener pauses for every client, the API server included; raise the container's nofile limit or lower --max-connections",
            metadata: [
                "open_file_limit": "\(soft)", "needed": "\(needed)", "max_connections": "\(webhookConnections)",
                "console_max_connections": "\(consoleConnections)", "reserved_for_other_uses": "\(reserveForOtherUses)",
            ])
    }
}
