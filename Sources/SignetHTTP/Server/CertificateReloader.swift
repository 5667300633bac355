import CSignetSystem
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers

/// Holds the TLS context new connections use, and replaces it when the certificate, key or client
/// CA files change on disk (cert-manager and Kubernetes Secret volumes rotate them in place, the
/// latter through an atomic symlink swap).
///
/// Connections keep the context they were accepted with (OpenSSL reference-counts the SSL_CTX
/// behind each SSL), so a rotation never drops a request in flight. A change that cannot be
/// loaded, such as a certificate written before its new key, keeps the current context and is
/// tried again at the next check.
///
/// Metrics: `signet_tls_certificate_reloads_total{result}` and
/// `signet_serving_certificate_expiry_timestamp_seconds` (the served certificate's `notAfter`,
/// RFC 5280 §4.1.2.5, in Unix seconds; updated on every reload).
public final class CertificateReloader: Sendable {
    private let configuration: TLSServerConfiguration
    private let state: NIOLockedValueBox<State>
    private let logger: Logger
    private let reloads = Counter(label: "signet_tls_certificate_reloads_total", dimensions: [("result", "success")])
    private let reloadFailures = Counter(label: "signet_tls_certificate_reloads_total", dimensions: [("result", "failure")])
    /// `signet_serving_certificate_expiry_timestamp_seconds`: the `notAfter` of the certificate
    /// being served, set at start and at every reload, so an alert can fire before it lapses.
    private let expiry = Gauge(label: "signet_serving_certificate_expiry_timestamp_seconds")

    private struct State {
        var context: TLSContext
        var fingerprint: [UInt8]
        var stopped = false
        var lastError: String?
    }

    /// Loads the files once; throws when they cannot serve (so a server never starts without a certificate).
    public init(configuration: TLSServerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let fingerprint = Self.fingerprint(of: configuration)
        let context = try TLSContext.makeServer(configuration)
        state = NIOLockedValueBox(State(context: context, fingerprint: fingerprint))
        recordExpiry(of: context)
        logger.info("serving certificate", metadata: ["certificate": "\(context.certificateSummary)"])
    }

    private func recordExpiry(of context: TLSContext) {
        if let notAfter = context.certificateNotAfter { expiry.record(Double(notAfter)) }
    }

    /// The context for the next accepted connection.
    public var currentContext: TLSContext { state.withLockedValue { $0.context } }

    /// The last reload error, if the files on disk currently cannot be loaded.
    public var lastReloadError: String? { state.withLockedValue { $0.lastError } }

    /// Checks the files now and swaps the context if they changed and load cleanly. Returns true when swapped.
    @discardableResult
    public func checkForChanges() -> Bool {
        let fingerprint = Self.fingerprint(of: configuration)
        let unchanged = state.withLockedValue { $0.fingerprint == fingerprint }
        if unchanged { return false }
        do {
            let context = try TLSContext.makeServer(configuration)
            state.withLockedValue {
                $0.context = context
                $0.fingerprint = fingerprint
                $0.lastError = nil
            }
            reloads.increment()
            recordExpiry(of: context)
            logger.notice("reloaded serving certificate", metadata: ["certificate": "\(context.certificateSummary)"])
            return true
        } catch {
            let message = "\(error)"
            let isNew = state.withLockedValue { current in
                defer { current.lastError = message }
                return current.lastError != message
            }
            reloadFailures.increment()
            if isNew {
                logger.warning(
                    "certificate files changed but cannot be loaded; keeping the current certificate",
                    metadata: ["error": "\(message)"])
            }
            return false
        }
    }

    /// Starts a thread that checks the files every `interval` until `stop()`. File reads and
    /// SSL_CTX creation stay off Swift's cooperative pool.
    public func startWatching(interval: Duration) {
        let thread = Thread { [self] in
            _ = signet_name_current_thread("signet-certs")
            var nextCheck = ContinuousClock.now + interval
            while !state.withLockedValue({ $0.stopped }) {
                Thread.sleep(forTimeInterval: 0.2)
                if ContinuousClock.now >= nextCheck {
                    checkForChanges()
                    nextCheck = ContinuousClock.now + interval
                }
            }
        }
        thread.name = "signet-certs"
        thread.start()
    }

    /// Stops the watching thread.
    public func stop() { state.withLockedValue { $0.stopped = true } }

    /// The files' contents, concatenated: a change to any byte of any of them is a change.
    private static func fingerprint(of configuration: TLSServerConfiguration) -> [UInt8] {
        var bytes: [UInt8] = []
        for path in [configuration.certificateChainFile, configuration.privateKeyFile, configuration.clientCAFile] {
            guard let path else { continue }
            if let data = FileManager.default.contents(atPath: path) {
                bytes.append(contentsOf: data)
            }
            bytes.append(0)
        }
        return bytes
    }
}
