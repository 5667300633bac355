import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Metrics
import NIOConcurrencyHelpers
import SignetCrypto
import SignetHTTPClient
import SignetNotation
import SignetRegistry

/// Downloads CRLs from the `http` distribution points certificates name (RFC 5280 section
/// 4.2.1.13: one DER-encoded CRL per URI), for the Notation revocation check, as notation-go
/// does: `http` locations (a redirect may lead to `https`, at most three), a size limit, each CRL
/// kept until its `nextUpdate`.
///
/// Bounded for an admission server:
/// - each download has its own time limit (``Configuration/requestTimeout``) whatever the
///   caller's deadline, and goes on after a caller stops waiting, so a large CRL that did not
///   arrive within one review is kept for the next;
/// - one download per location at a time (callers asking for one under way wait for it), and at
///   most ``Configuration/concurrentDownloads`` locations at once (a caller beyond waits for a
///   place until its deadline): a parsed CRL takes about ten times its DER in memory;
/// - the kept CRLs take at most ``Configuration/cacheBytes`` of memory, estimated
///   (``CertificateRevocationList/estimatedMemory``; least recently used leave first); each is
///   downloaded again after ``Configuration/maximumAge`` or at its `nextUpdate`, whichever comes
///   first, and while that fails (or does not finish within the caller's deadline) the one kept
///   stands until its `nextUpdate`; an older CRL never replaces a newer one that is current;
/// - a CRL the verifier finds unusable (not the issuer's, out of scope) is forgotten
///   (``discard(_:)``), so an answer someone on the plain-HTTP path put there does not stay;
/// - a failed download is answered from memory for ``Configuration/failureHold``, so a
///   distribution point that does not answer costs each review nothing but that answer.
///
/// Nothing here judges a CRL: its signature, scope and freshness are checked against each
/// certificate by ``NotationVerifier``.
///
/// Metrics: `signet_notation_crl_downloads_total{outcome}` (`downloaded`, `failed`) and
/// `signet_notation_crl_lookups_total{outcome}` (`kept`, `download`, `joined`, `held_failure`,
/// `busy`).
public final class HTTPCRLDownloader: CRLDownloading {
    /// Limits and timing.
    public struct Configuration: Sendable {
        /// How long one download may take, connection included.
        public var requestTimeout: Duration = .seconds(5)
        /// The largest CRL downloaded, in DER bytes (code-signing CAs publish CRLs of kilobytes;
        /// parsed, a CRL of minimal entries takes about ten times its size). A larger one is
        /// "revocation unavailable": supply it in the authority's `crls`.
        public var maximumBytes = 4 << 20
        /// Memory the kept CRLs take at most, estimated (``CertificateRevocationList/estimatedMemory``).
        public var cacheBytes = 64 << 20
        /// A kept CRL is downloaded again after this long even when its `nextUpdate` is later,
        /// so a revocation the CA publishes early is seen within it.
        public var maximumAge: Duration = .seconds(3600)
        /// How long a failed download is answered from memory.
        public var failureHold: Duration = .seconds(30)
        /// Distinct locations downloaded at once at most.
        public var concurrentDownloads = 2
        public var userAgent = "signet"
        /// Whether a numeric address (and port) is inside: this machine, a private network, a
        /// shared or link-local range (``HTTPCRLDownloader/isInternalAddress(_:)``). A redirect
        /// from a distribution point outside never connects inside. Tests, where every server
        /// is on loopback, tell inside from outside by port.
        package var isInternal: @Sendable (_ address: String, _ port: Int) -> Bool = { address, _ in HTTPCRLDownloader.isInternalAddress(address) }

        public init() {}
    }

    private struct Entry {
        var list: CertificateRevocationList
        var downloaded: ContinuousClock.Instant
        /// The same moment by the calendar clock, for the passes that rely on the CRL.
        var downloadedAt: Date
        var lastUsed: UInt64
        /// The CRL `list` replaced while that one was current: it comes back when `list` is
        /// discarded, so an answer the verifier rejects cannot clear the way for an older one.
        var previous: CertificateRevocationList?

        var memory: Int { list.estimatedMemory + (previous?.estimatedMemory ?? 0) }
    }

    /// One download under way and the callers waiting for it. Mutable fields are read and
    /// written only under the downloader's lock.
    private final class Flight: @unchecked Sendable {
        var waiters: [Int: CheckedContinuation<Result<CertificateRevocationList, CRLDownloadFailure>?, Never>] = [:]
        /// Waiters whose deadline passed or who were cancelled before they started waiting.
        var gone: Set<Int> = []
        var result: Result<CertificateRevocationList, CRLDownloadFailure>?
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var bytes = 0
        var uses: UInt64 = 0
        var failures: [String: (failure: CRLDownloadFailure, until: ContinuousClock.Instant)] = [:]
        var flights: [String: Flight] = [:]
        var nextWaiter = 0
    }

    private enum Lookup {
        case ready(Result<CertificateRevocationList, CRLDownloadFailure>, outcome: String)
        case join(Flight, waiter: Int, stale: Result<CertificateRevocationList, CRLDownloadFailure>?)
        case start(Flight, waiter: Int, stale: Result<CertificateRevocationList, CRLDownloadFailure>?)
        /// Every place is taken: wait for `flight` (any download under way) to end, then look again.
        case busy(Flight, waiter: Int)
    }

    /// Locations looked up per call at most (a chain's and its TSA's certificates name a few).
    public static let maximumLocationsPerCall = 16
    /// Failed locations remembered at most.
    static let maximumHeldFailures = 1024

    public let configuration: Configuration
    public var maximumAge: Duration { configuration.maximumAge }
    private let client: HTTPClient
    /// The environment names a proxy for curl (`http_proxy`, `https_proxy`, `all_proxy`): the
    /// address that answers a distribution point is then the proxy's, which says nothing of
    /// whether the distribution point is inside.
    private let proxied: Bool
    private let clock: WallClock
    private let state = NIOLockedValueBox(State())
    private let logger: Logger

    public init(configuration: Configuration = Configuration(), clock: WallClock = .system, logger: Logger = Logger(label: "signet.notation.crl")) throws {
        self.configuration = configuration
        let environment = ProcessInfo.processInfo.environment
        proxied = ["http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"].contains { !(environment[$0] ?? "").isEmpty }
        self.clock = clock
        self.logger = logger
        do {
            client = try HTTPClient(configuration: HTTPClient.Configuration(
                connectTimeout: configuration.requestTimeout, idleTimeout: configuration.requestTimeout, userAgent: configuration.userAgent))
        } catch {
            throw CRLDownloadFailure("cannot start the HTTP client for CRL downloads: \(error)", isTransient: false)
        }
    }

    deinit { client.shutdown() }

    /// Stops the transfer thread.
    public func shutdown() { client.shutdown() }

    public func download(_ locations: [String], deadline: ContinuousClock.Instant) async -> [String: Result<CertificateRevocationList, CRLDownloadFailure>] {
        var unique: [String] = []
        for location in locations where !unique.contains(location) { unique.append(location) }
        var results: [String: Result<CertificateRevocationList, CRLDownloadFailure>] = [:]
        for location in unique.dropFirst(Self.maximumLocationsPerCall) {
            results[location] = .failure(CRLDownloadFailure("more than \(Self.maximumLocationsPerCall) CRL locations in one verification", isTransient: false))
        }
        await withTaskGroup(of: (String, Result<CertificateRevocationList, CRLDownloadFailure>).self) { group in
            for location in unique.prefix(Self.maximumLocationsPerCall) {
                group.addTask { (location, await self.list(at: location, deadline: deadline)) }
            }
            for await (location, result) in group { results[location] = result }
        }
        return results
    }

    /// Whether `host` is an IP address of this machine, a private network, a shared or
    /// link-local range (cloud metadata services: 169.254.169.254, 100.100.100.200, Azure's
    /// 168.63.129.16), IANA's special-purpose, benchmarking and reserved ranges, in any form the
    /// resolver reads (`2130706433` and `0x7f.1` are 127.0.0.1), IPv4 in IPv6 included (mapped,
    /// NAT64's 64:ff9b::/96 and local-use 64:ff9b:1::/48, 6to4).
    package static func isInternalAddress(_ host: String) -> Bool {
        switch IPAddressForm(host) {
        case .v4(let address)?:
            let ranges: [(UInt32, UInt32)] = [
                (0x0000_0000, 8), (0x0A00_0000, 8), (0x6440_0000, 10), (0x7F00_0000, 8), (0xA83F_8110, 32), (0xA9FE_0000, 16),
                (0xAC10_0000, 12), (0xC000_0000, 24), (0xC0A8_0000, 16), (0xC612_0000, 15), (0xE000_0000, 3),
            ]
            return ranges.contains { network, bits in address >> (32 - bits) == network >> (32 - bits) }
        case .anyIPv4?:
            return true
        case .v6(let bytes)?:
            // :: and ::1, unique local fc00::/7, link-local fe80::/10.
            return bytes[0..<15].allSatisfy({ $0 == 0 }) || bytes[0] & 0xfe == 0xfc || (bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80)
        case nil:
            return false
        }
    }

    /// An IP address literal as the redirect checks judge it.
    enum IPAddressForm: Equatable {
        /// An IPv4 address, or the one an IPv6 form embeds (IPv4-mapped, NAT64's 64:ff9b::/96,
        /// 6to4's 2002::/16).
        case v4(UInt32)
        /// Local-use NAT64 (64:ff9b:1::/48), which may embed any IPv4 address anywhere.
        case anyIPv4
        /// Any other IPv6 address, as its 16 bytes.
        case v6([UInt8])

        /// `host` (IPv6 in brackets or not) read as the resolver reads it (`2130706433` and
        /// `0x7f.1` are 127.0.0.1); nil for a host name.
        init?(_ host: String) {
            let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
            var v4 = in_addr()
            if inet_aton(bare, &v4) != 0 {
                self = .v4(UInt32(bigEndian: v4.s_addr))
                return
            }
            var v6 = in6_addr()
            guard inet_pton(AF_INET6, bare, &v6) == 1 else { return nil }
            let bytes = withUnsafeBytes(of: v6) { Array($0) }
            func embedded(at start: Int) -> UInt32 { bytes[start..<start + 4].reduce(0) { $0 << 8 | UInt32($1) } }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff
                || bytes[0..<12].elementsEqual([0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]) {
                self = .v4(embedded(at: 12))
            } else if bytes[0..<6].elementsEqual([0x00, 0x64, 0xff, 0x9b, 0x00, 0x01]) {
                self = .anyIPv4
            } else if bytes[0] == 0x20 && bytes[1] == 0x02 {
                self = .v4(embedded(at: 2))
            } else {
                self = .v6(bytes)
            }
        }
    }

    /// Whether `location` is a URL signet downloads: `http`, a host, no user information, no
    /// whitespace or control characters, at most 2,048 bytes.
    static func isDownloadable(_ location: String) -> Bool {
        guard location.utf8.count <= 2048, location.lowercased().hasPrefix("http://"),
              location.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }),
              let url = URL(string: location), let host = url.host, !host.isEmpty, url.user == nil, url.password == nil else { return false }
        return true
    }

    private func list(at location: String, deadline: ContinuousClock.Instant) async -> Result<CertificateRevocationList, CRLDownloadFailure> {
        guard Self.isDownloadable(location) else {
            return .failure(CRLDownloadFailure("not an http URL signet downloads", isTransient: false))
        }
        while true {
            let now = ContinuousClock.now
            let wallNow = clock.now
            let lookup = state.withLockedValue { state -> Lookup in
                if var entry = state.entries[location], now < entry.downloaded + configuration.maximumAge,
                   entry.list.nextUpdate.map({ $0 > wallNow }) ?? false {
                    state.uses += 1
                    entry.lastUsed = state.uses
                    state.entries[location] = entry
                    return .ready(.success(entry.list), outcome: "kept")
                }
                let stale = Self.stale(state.entries[location], wallNow: wallNow)
                if let held = state.failures[location], now < held.until {
                    return .ready(stale ?? .failure(held.failure), outcome: "held_failure")
                }
                state.nextWaiter += 1
                if let flight = state.flights[location] { return .join(flight, waiter: state.nextWaiter, stale: stale) }
                if state.flights.count >= configuration.concurrentDownloads, let any = state.flights.values.first {
                    return .busy(any, waiter: state.nextWaiter)
                }
                let flight = Flight()
                state.flights[location] = flight
                return .start(flight, waiter: state.nextWaiter, stale: stale)
            }
            let flight: Flight
            let waiter: Int
            let stale: Result<CertificateRevocationList, CRLDownloadFailure>?
            switch lookup {
            case .ready(let result, let outcome):
                Counter(label: "signet_notation_crl_lookups_total", dimensions: [("outcome", outcome)]).increment()
                return result
            case .busy(let running, let id):
                Counter(label: "signet_notation_crl_lookups_total", dimensions: [("outcome", "busy")]).increment()
                // A place frees when a download ends; past the deadline the caller has waited enough.
                guard await wait(for: running, as: id, until: deadline) != nil else {
                    let kept = state.withLockedValue { Self.stale($0.entries[location], wallNow: clock.now) }
                    return kept ?? .failure(CRLDownloadFailure(
                        "signet downloads at most \(configuration.concurrentDownloads) CRLs at once, and no place freed before the verification deadline; the next review tries again",
                        isTransient: true))
                }
                continue
            case .join(let running, let id, let kept):
                Counter(label: "signet_notation_crl_lookups_total", dimensions: [("outcome", "joined")]).increment()
                (flight, waiter, stale) = (running, id, kept)
            case .start(let started, let id, let kept):
                Counter(label: "signet_notation_crl_lookups_total", dimensions: [("outcome", "download")]).increment()
                (flight, waiter, stale) = (started, id, kept)
                Task { await self.run(started, for: location) }
            }
            return await wait(for: flight, as: waiter, until: deadline) ?? stale ?? .failure(CRLDownloadFailure(
                "no answer before the verification deadline (the download goes on for up to \(configuration.requestTimeout) and is kept for the next review)",
                isTransient: true))
        }
    }

    public func downloadTime(of location: String) -> Date? {
        state.withLockedValue { $0.entries[location]?.downloadedAt }
    }

    public func discard(_ location: String, list: CertificateRevocationList) {
        let wallNow = clock.now
        state.withLockedValue { state in
            guard var entry = state.entries[location], entry.list === list else { return }
            state.bytes -= entry.memory
            if let previous = entry.previous, previous.nextUpdate.map({ $0 > wallNow }) ?? false {
                entry.list = previous
                entry.previous = nil
                state.entries[location] = entry
                state.bytes += entry.memory
            } else {
                state.entries[location] = nil
            }
        }
    }

    /// A kept CRL whose `nextUpdate` has not passed, to stand while downloading it again fails.
    private static func stale(_ entry: Entry?, wallNow: Date) -> Result<CertificateRevocationList, CRLDownloadFailure>? {
        guard let entry, let next = entry.list.nextUpdate, next > wallNow else { return nil }
        return .success(entry.list)
    }

    private func run(_ flight: Flight, for location: String) async {
        let downloaded = await fetch(location)
        let now = ContinuousClock.now
        let wallNow = clock.now
        switch downloaded {
        case .success:
            Counter(label: "signet_notation_crl_downloads_total", dimensions: [("outcome", "downloaded")]).increment()
        case .failure(let failure):
            Counter(label: "signet_notation_crl_downloads_total", dimensions: [("outcome", "failed")]).increment()
            logger.warning("CRL download failed", metadata: ["location": "\(location)", "reason": "\(failure.description)"])
        }
        let waiters = state.withLockedValue { state -> ([CheckedContinuation<Result<CertificateRevocationList, CRLDownloadFailure>?, Never>], Result<CertificateRevocationList, CRLDownloadFailure>) in
            if state.flights[location] === flight { state.flights[location] = nil }
            var result = downloaded
            switch downloaded {
            case .success(let list):
                state.failures[location] = nil
                store(list, at: location, downloaded: now, wallNow: wallNow, in: &state)
                result = state.entries[location].map { .success($0.list) } ?? downloaded
            case .failure(let failure):
                state.failures = state.failures.filter { now < $0.value.until }
                if state.failures.count >= Self.maximumHeldFailures, let any = state.failures.keys.first { state.failures[any] = nil }
                state.failures[location] = (failure, now + configuration.failureHold)
                result = Self.stale(state.entries[location], wallNow: wallNow) ?? downloaded
            }
            flight.result = result
            defer { flight.waiters = [:] }
            return (Array(flight.waiters.values), result)
        }
        for continuation in waiters.0 { continuation.resume(returning: waiters.1) }
    }

    /// Keeps `list`, evicting the least recently used until the kept memory fits; a CRL older
    /// than the current one kept (by `thisUpdate`) does not replace it.
    private func store(_ list: CertificateRevocationList, at location: String, downloaded: ContinuousClock.Instant, wallNow: Date, in state: inout State) {
        if let old = state.entries[location], old.list.thisUpdate > list.thisUpdate, Self.stale(old, wallNow: wallNow) != nil {
            state.entries[location]?.downloaded = downloaded
            state.entries[location]?.downloadedAt = wallNow
            return
        }
        let old = state.entries.removeValue(forKey: location)
        if let old { state.bytes -= old.memory }
        let previous = old.flatMap { Self.stale($0, wallNow: wallNow) != nil ? $0.list : nil }
        let size = list.estimatedMemory + (previous?.estimatedMemory ?? 0)
        guard size <= configuration.cacheBytes else { return }
        while state.bytes + size > configuration.cacheBytes, let oldest = state.entries.min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            state.entries[oldest.key] = nil
            state.bytes -= oldest.value.memory
        }
        state.uses += 1
        state.entries[location] = Entry(list: list, downloaded: downloaded, downloadedAt: wallNow, lastUsed: state.uses, previous: previous)
        state.bytes += size
    }

    /// Redirects followed at most.
    static let maximumRedirects = 3

    /// Whether `address` is a cloud metadata service or link-local (169.254.0.0/16 with
    /// 169.254.169.254, 100.100.100.200, 168.63.129.16, fe80::/10, fd00:ec2::254), in any form:
    /// never reached by a redirect, even from a distribution point inside.
    package static func isMetadataAddress(_ address: String) -> Bool {
        switch IPAddressForm(address) {
        case .v4(let value)?: value >> 16 == 0xA9FE || value == 0x6464_64C8 || value == 0xA83F_8110
        case .anyIPv4?: true
        case .v6(let bytes)?: (bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80) || bytes == [0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54]
        case nil: false
        }
    }

    /// Whether the host of `url` is an IP address ``isMetadataAddress(_:)`` refuses.
    private static func isMetadataLiteral(_ url: String) -> Bool {
        guard let host = URL(string: url)?.host else { return true }
        return isMetadataAddress(host)
    }

    /// Whether the host of `url` is an IP address `isInternal` counts as inside.
    private static func isInternalLiteral(_ url: String, _ isInternal: (String, Int) -> Bool) -> Bool {
        guard let parsed = URL(string: url), let host = parsed.host else { return true }
        guard IPAddressForm(host) != nil else { return false }
        return isInternal(host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, parsed.port ?? 80)
    }

    private static func redirectInside(_ redirect: (status: Int, target: String)) -> CRLDownloadFailure {
        CRLDownloadFailure(
            "HTTP status \(redirect.status) redirects to \(redirect.target), which is at an internal address (this machine, a private network or a metadata service); signet does not follow a redirect from a distribution point outside to one inside",
            isTransient: false)
    }

    private func fetch(_ location: String) async -> Result<CertificateRevocationList, CRLDownloadFailure> {
        let deadline = ContinuousClock.now + configuration.requestTimeout
        var url = location
        // Whether the server that answered the last hop (at first, the distribution point the CA
        // named) is inside, and the redirect being followed (for messages). Judged anew at each
        // hop: an inside distribution point that redirects outside gives the next redirect no
        // more trust than any other server outside.
        var senderInside = false
        var redirect: (status: Int, target: String)?
        for hop in 0...Self.maximumRedirects {
            // A redirect came over plain HTTP: whoever sits on the path could send it. It may not
            // turn signet towards this machine, a private network or a metadata service, unless
            // the distribution point is there itself. An address written in the URL is refused
            // here; any other is judged as the connection is about to open, so a host name that
            // resolves inside is refused as well and nothing is sent to it. A redirected hop goes
            // direct, never through a proxy the environment names (whose `no_proxy` would let
            // names inside be reached unchecked): behind a proxy that is the only way out, a
            // distribution point that redirects cannot be downloaded (supply its CRL).
            let isInternal = configuration.isInternal
            var check: (@Sendable (String, Int) -> Bool)?
            if let redirect {
                if senderInside {
                    // A distribution point inside may redirect inside, never to a metadata
                    // service or link-local address (what a redirect on its way in could reach).
                    guard !Self.isMetadataLiteral(url) else { return .failure(Self.redirectInside(redirect)) }
                    check = { address, _ in !Self.isMetadataAddress(address) }
                } else {
                    guard !Self.isInternalLiteral(url, isInternal) else { return .failure(Self.redirectInside(redirect)) }
                    check = { !isInternal($0, $1) }
                }
            }
            let response: HTTPClient.Response
            do {
                response = try await client.send(
                    method: "GET", url: url, headers: [("accept", "application/pkix-crl")],
                    maximumResponseBytes: configuration.maximumBytes, deadline: deadline, connectionCheck: check)
            } catch {
                if error.isTooLarge {
                    return .failure(CRLDownloadFailure("the CRL is larger than \(configuration.maximumBytes) bytes, signet's limit; supply it in the authority's crls", isTransient: false))
                }
                if error.isRefusedAddress, let redirect { return .failure(Self.redirectInside(redirect)) }
                return .failure(CRLDownloadFailure(error.isTimeout ? "no answer within \(configuration.requestTimeout)" : error.description, isTransient: true))
            }
            // The address that answered, unless it was a proxy's (the first hop may go through
            // one; a redirected hop never does).
            let direct = redirect != nil || !proxied
            senderInside = Self.isInternalLiteral(url, isInternal)
                || (direct && !response.remoteAddress.isEmpty && isInternal(response.remoteAddress, URL(string: url)?.port ?? 80))
            if [301, 302, 303, 307, 308].contains(response.status) {
                let target = response.headers.first { $0.name == "location" }?.value ?? ""
                let shown = target.isEmpty ? "nowhere" : UntrustedText.clipped(target)
                guard hop < Self.maximumRedirects, let next = URL(string: target, relativeTo: URL(string: url))?.absoluteString,
                      Self.isDownloadable(next) || (next.lowercased().hasPrefix("https://") && Self.isDownloadable("http://" + next.dropFirst(8))) else {
                    return .failure(CRLDownloadFailure(
                        "HTTP status \(response.status) redirects to \(shown), which signet does not follow (at most \(Self.maximumRedirects) redirects, to http or https URLs)",
                        isTransient: false))
                }
                redirect = (response.status, shown)
                url = next
                continue
            }
            guard response.status == 200 else {
                let transient = response.status >= 500 || response.status == 408 || response.status == 429
                return .failure(CRLDownloadFailure("HTTP status \(response.status)\(url == location ? "" : " after a redirect")", isTransient: transient))
            }
            do {
                return .success(try CertificateRevocationList(derEncoded: response.body))
            } catch {
                // What a redirect led to is not echoed: it could be anything on the way.
                guard url == location else {
                    return .failure(CRLDownloadFailure("the answer after a redirect is not a DER-encoded CRL (RFC 5280 section 4.2.1.13)", isTransient: false))
                }
                let type = UntrustedText.clipped(response.headers.first { $0.name == "content-type" }?.value ?? "none", limit: 60)
                let start = String(decoding: response.body.prefix(16).map { (0x20..<0x7f).contains($0) ? $0 : 0x2e }, as: UTF8.self)
                return .failure(CRLDownloadFailure(
                    "the answer is not a DER-encoded CRL (RFC 5280 section 4.2.1.13; content type \(type), \(response.body.count) bytes starting \"\(start)\")",
                    isTransient: false))
            }
        }
        return .failure(CRLDownloadFailure("too many redirects", isTransient: false))
    }

    /// Waits for `flight` until `deadline` or cancellation; nil then (the download goes on).
    private func wait(for flight: Flight, as waiter: Int, until deadline: ContinuousClock.Instant) async -> Result<CertificateRevocationList, CRLDownloadFailure>? {
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            self?.leave(flight, waiter)
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<CertificateRevocationList, CRLDownloadFailure>?, Never>) in
                let ready = state.withLockedValue { _ -> Result<CertificateRevocationList, CRLDownloadFailure>?? in
                    if let result = flight.result { return .some(result) }
                    if flight.gone.remove(waiter) != nil || ContinuousClock.now >= deadline { return .some(nil) }
                    flight.waiters[waiter] = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            leave(flight, waiter)
        }
    }

    private func leave(_ flight: Flight, _ waiter: Int) {
        let continuation = state.withLockedValue { _ -> CheckedContinuation<Result<CertificateRevocationList, CRLDownloadFailure>?, Never>? in
            if let continuation = flight.waiters.removeValue(forKey: waiter) { return continuation }
            if flight.result == nil { flight.gone.insert(waiter) }
            return nil
        }
        continuation?.resume(returning: nil)
    }
}
