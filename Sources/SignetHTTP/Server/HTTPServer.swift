import Foundation
import Logging
import NIOConcurrencyHelpers

/// The HTTPS server: a listening socket, event-loop threads that own connections (TLS over
/// memory BIOs, the HTTP/1.1 codec, per-phase deadlines), and a request handler that runs in
/// Swift concurrency.
///
/// Lifecycle: `start()` binds and starts the loops; `shutdown()` stops accepting, closes idle
/// connections, lets requests in flight finish within the grace period, then closes the rest;
/// `waitUntilStopped()` returns once every loop has exited.
public final class HTTPServer: Sendable {
    private let core: ServerCore
    private let loops: [EventLoop]
    private let state = NIOLockedValueBox<LifecycleState>(.idle)

    private enum LifecycleState {
        case idle
        case running(port: Int)
        case stopping
        case stopped
    }

    public init(
        configuration: HTTPServerConfiguration, certificates: CertificateReloader,
        handler: any HTTPRequestHandler, logger: Logger
    ) throws {
        let core = ServerCore(configuration: configuration, handler: handler, certificates: certificates, logger: logger)
        self.core = core
        loops = try (0..<max(1, configuration.eventLoopThreads)).map { try EventLoop(index: $0, core: core) }
    }

    /// Binds the listening socket and starts the event loops. Returns the bound port.
    @discardableResult
    public func start() throws -> Int {
        let configuration = core.configuration
        let (fd, port) = try Socket.listen(host: configuration.host, port: configuration.port)
        state.withLockedValue { $0 = .running(port: port) }
        for loop in loops {
            loop.start(listener: loop.index == 0 ? fd : nil, peers: loops)
        }
        core.certificates.startWatching(interval: configuration.certificateReloadInterval)
        core.logger.info(
            "listening",
            metadata: [
                "address": "\(configuration.host):\(port)", "event_loops": "\(loops.count)",
                "max_connections": "\(configuration.maxConnections)",
            ])
        return port
    }

    /// The port the server listens on, once started.
    public var port: Int? {
        if case .running(let port) = state.withLockedValue({ $0 }) { return port }
        return nil
    }

    /// Connections currently open.
    public var activeConnections: Int { core.activeConnections.load(ordering: .relaxed) }

    /// Graceful shutdown (SIGTERM): stop accepting, finish requests in flight within
    /// `gracePeriod` (default: the configured one), then close everything and stop the loops.
    public func shutdown(gracePeriod: Duration? = nil) async {
        let proceed = state.withLockedValue { current -> Bool in
            if case .running = current {
                current = .stopping
                return true
            }
            return false
        }
        guard proceed else {
            await waitUntilStopped()
            return
        }
        let grace = gracePeriod ?? core.configuration.shutdownGracePeriod
        core.logger.notice(
            "shutting down: no new connections; waiting for requests in flight",
            metadata: [
                "in_flight": "\(core.requestsInFlight.load(ordering: .relaxed))",
                "connections": "\(activeConnections)", "grace_period": "\(grace)",
            ])
        core.draining.store(true, ordering: .releasing)
        for loop in loops { loop.execute { loop.beginDrain() } }
        let deadline = ContinuousClock.now + grace
        while activeConnections > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let forced = activeConnections
        if forced > 0 {
            core.logger.warning("grace period over; closing remaining connections", metadata: ["connections": "\(forced)"])
        }
        for loop in loops { loop.execute { loop.stop(force: true) } }
        for loop in loops { await loop.waitUntilFinished() }
        core.certificates.stop()
        state.withLockedValue { $0 = .stopped }
        core.logger.notice("stopped")
    }

    /// Returns once the server has stopped.
    public func waitUntilStopped() async {
        for loop in loops { await loop.waitUntilFinished() }
    }
}
