import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SignetCrypto
import SignetHTTPClient
import SignetNotation

/// Downloads CRLs from the `http` distribution points certificates name (RFC 5280 section
/// 4.2.1.13: one DER-encoded CRL per URI), for the Notation revocation check, as notation-go
/// does: `http` only, no redirects, a size limit, each CRL kept until its `nextUpdate`.
///
/// Bounded for an admission server:
/// - each download has its own time limit (``Configuration/requestTimeout``) whatever the
///   caller's deadline, and goes on after a caller stops waiting, so a large CRL that did not
///   arrive within one review is kept for the next;
/// - one download per location at a time (callers asking for one under way wait for it), and at
///   most ``Configuration/concurrentDownloads`` locations at once;
/// - the kept CRLs take at most ``Configuration/cacheBytes`` (least recently used leave first);
///   each is downloaded again after ``Configuration/maximumAge`` or at its `nextUpdate`,
///   whichever comes first, and while that fails the one kept stands until its `nextUpdate`;
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
        /// The largest CRL downloaded (notation-go allows 32 MiB; the largest public CRLs are
        /// under 16 MiB).
        public var maximumBytes = 16 << 20
        /// DER bytes of the CRLs kept at most.
        public var cacheBytes = 48 << 20
        /// A kept CRL is downloaded again after this long even when its `nextUpdate` is later,
        /// so a revocation the CA publishes early is seen within it.
        public var maximumAge: Duration = .seconds(3600)
        /// How long a failed download is answered from memory.
        public var failureHold: Duration = .seconds(30)
        /// Distinct locations downloaded at once at most.
        public var concurrentDownloads = 4
        public var userAgent = "signet"

        public init() {}
    }

    private struct Entry {
        var list: CertificateRevocationList
        var downloaded: ContinuousClock.Instant
        var lastUsed: UInt64
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
        case join(Flight, waiter: Int)
        case start(Flight, waiter: Int)
    }

    /// Locations looked up per call at most (a chain's and its TSA's certificates name a few).
    public static let maximumLocationsPerCall = 16
    /// Failed locations remembered at most.
    static let maximumHeldFailures = 1024

    public let configuration: Configuration
    private let client: HTTPClient
    private let clock: WallClock
    private let state = NIOLockedValueBox(State())
    private let logger: Logger

    public init(configuration: Configuration = Configuration(), clock: WallClock = .system, logger: Logger = Logger(label: "signet.notation.crl")) throws {
        self.configuration = configuration
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
        let now = ContinuousClock.now
        let wallNow = clock.now
        let lookup = state.withLockedValue { state -> Lookup in
            if var entry = state.entries[location], now < entry.downloaded + configuration.maximumAge,
               entry.list.nextUpdate.map({ $0 > wallNow }) ?? true {
                state.uses += 1
                entry.lastUsed = state.uses
                state.entries[location] = entry
                return .ready(.success(entry.list), outcome: "kept")
            }
            if let held = state.failures[location], now < held.until {
                return .ready(Self.stale(state.entries[location], wallNow: wallNow) ?? .failure(held.failure), outcome: "held_failure")
            }
            state.nextWaiter += 1
            if let flight = state.flights[location] { return .join(flight, waiter: state.nextWaiter) }
            guard state.flights.count < configuration.concurrentDownloads else {
                return .ready(Self.stale(state.entries[location], wallNow: wallNow) ?? .failure(CRLDownloadFailure(
                    "\(state.flights.count) other CRL downloads are under way", isTransient: true)), outcome: "busy")
            }
            let flight = Flight()
            state.flights[location] = flight
            return .start(flight, waiter: state.nextWaiter)
        }
        let flight: Flight
        let waiter: Int
        switch lookup {
        case .ready(let result, let outcome):
            Counter(label: "signet_notation_crl_lookups_total", dimensions: [("outcome", outcome)]).increment()
            return result
        case .join(let running, let id):
            Counter(label: "signet_notation_crl_lookups_total", dimensions: [("outcome", "joined")]).increment()
            (flight, waiter) = (running, id)
        case .start(let started, let id):
            Counter(label: "signet_notation_crl_lookups_total", dimensions: [("outcome", "download")]).increment()
            (flight, waiter) = (started, id)
            Task { await self.run(started, for: location) }
        }
        return await wait(for: flight, as: waiter, until: deadline) ?? .failure(CRLDownloadFailure(
            "no answer before the verification deadline (the download goes on and is kept for the next review)", isTransient: true))
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
                store(list, at: location, downloaded: now, in: &state)
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

    /// Keeps `list`, evicting the least recently used until the kept bytes fit.
    private func store(_ list: CertificateRevocationList, at location: String, downloaded: ContinuousClock.Instant, in state: inout State) {
        if let old = state.entries.removeValue(forKey: location) { state.bytes -= old.list.derEncoded.count }
        let size = list.derEncoded.count
        guard size <= configuration.cacheBytes else { return }
        while state.bytes + size > configuration.cacheBytes, let oldest = state.entries.min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            state.entries[oldest.key] = nil
            state.bytes -= oldest.value.list.derEncoded.count
        }
        state.uses += 1
        state.entries[location] = Entry(list: list, downloaded: downloaded, lastUsed: state.uses)
        state.bytes += size
    }

    private func fetch(_ location: String) async -> Result<CertificateRevocationList, CRLDownloadFailure> {
        let response: HTTPClient.Response
        do {
            response = try await client.send(
                method: "GET", url: location, headers: [("accept", "application/pkix-crl")],
                maximumResponseBytes: configuration.maximumBytes, deadline: .now + configuration.requestTimeout)
        } catch {
            if error.isTooLarge { return .failure(CRLDownloadFailure("the CRL is larger than \(configuration.maximumBytes) bytes", isTransient: false)) }
            return .failure(CRLDownloadFailure(error.isTimeout ? "no answer within \(configuration.requestTimeout)" : error.description, isTransient: true))
        }
        guard response.status == 200 else {
            let transient = response.status >= 500 || response.status == 408 || response.status == 429
            return .failure(CRLDownloadFailure("HTTP status \(response.status)", isTransient: transient))
        }
        do {
            return .success(try CertificateRevocationList(derEncoded: response.body))
        } catch {
            return .failure(CRLDownloadFailure("the answer is not a DER-encoded CRL (RFC 5280 section 4.2.1.13)", isTransient: false))
        }
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
