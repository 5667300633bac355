import Logging
import Metrics
import Synchronization

/// State every event loop of one server shares: configuration, the handler, the TLS contexts,
/// connection accounting and metrics. Every mutable field is atomic.
final class ServerCore: Sendable {
    let configuration: HTTPServerConfiguration
    let handler: any HTTPRequestHandler
    let certificates: CertificateReloader
    let logger: Logger

    let activeConnections = Atomic<Int>(0)
    /// Connections per peer, and the limits on them.
    let peers: PeerConnectionTable
    /// Refused connections are logged at most once a second.
    private let refusalLog = LogThrottle(interval: .seconds(1))
    let requestsInFlight = Atomic<Int>(0)
    /// Bytes of responses that connections hold because their clients have not taken them
    /// (``HTTPServerConfiguration/maxUnsentOutputBytesInAll``).
    let unsentOutput = Atomic<Int>(0)

    /// Whether the responses waiting for their clients are over their budget in all.
    var isOverOutputBudget: Bool { unsentOutput.load(ordering: .relaxed) > configuration.maxUnsentOutputBytesInAll }

    /// Counts `delta` more (or fewer) bytes held for clients, and shows the total when `recording`.
    func holdOutput(_ delta: Int, recording: Bool = true) {
        let total = unsentOutput.wrappingAdd(delta, ordering: .relaxed).newValue
        if recording { metrics.unsentOutput.record(total) }
    }
    /// Bytes of request bodies held by connections, in all and per peer.
    let bodyBudget: BodyBudget
    let draining = Atomic<Bool>(false)
    private let nextConnectionID = Atomic<UInt64>(EventLoop.firstConnectionToken)

    let metrics: ServerMetrics

    init(
        configuration: HTTPServerConfiguration, handler: any HTTPRequestHandler,
        certificates: CertificateReloader, logger: Logger
    ) {
        self.configuration = configuration
        self.handler = handler
        self.certificates = certificates
        self.logger = logger
        self.metrics = ServerMetrics()
        self.peers = PeerConnectionTable(limits: configuration.peerLimits, maxConnections: configuration.maxConnections)
        self.bodyBudget = BodyBudget(limit: configuration.maxBufferedBodyBytes, limits: configuration.peerLimits)
    }

    /// Counts a connection closed on accept, and logs it (at most once a second).
    func refused(_ reason: ConnectionRefusal, peer: PeerAddress?) {
        metrics.connectionsRejected[reason]?.increment()
        if refusalLog.admits() {
            logger.warning("connection refused on accept", metadata: [
                "reason": "\(reason.rawValue)", "peer": "\(peer.map(\.description) ?? "unknown")",
                "max_connections": "\(configuration.maxConnections)",
                "max_connections_per_peer": "\(configuration.peerLimits.maxConnectionsPerPeer)",
            ])
        }
    }

    func makeConnectionID() -> UInt64 {
        nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    var isDraining: Bool { draining.load(ordering: .acquiring) }
}

/// Connection-level metrics (Prometheus names; request metrics belong to the handler).
struct ServerMetrics: Sendable {
    let connectionsAccepted = Counter(label: "signet_http_connections_accepted_total")
    /// Connections closed on accept, by ``ConnectionRefusal``.
    let connectionsRejected: [ConnectionRefusal: Counter] = Dictionary(
        uniqueKeysWithValues: ConnectionRefusal.allCases.map {
            ($0, Counter(label: "signet_http_connections_rejected_total", dimensions: [("reason", $0.rawValue)]))
        })
    let connectionsActive = Gauge(label: "signet_http_connections_active")
    let handshakeFailures = Counter(label: "signet_tls_handshake_failures_total")
    let timeouts: [TimeoutKind: Counter] = Dictionary(
        uniqueKeysWithValues: TimeoutKind.allCases.map {
            ($0, Counter(label: "signet_http_timeouts_total", dimensions: [("phase", $0.rawValue)]))
        })
    let badRequests = Counter(label: "signet_http_malformed_requests_total")
    /// Times a connection stopped being read because its client did not take its responses.
    let readPauses = Counter(label: "signet_http_read_pauses_total")
    /// Bytes of responses held for clients that have not taken them, across connections.
    let unsentOutput = Gauge(label: "signet_http_unsent_output_bytes")
    /// Requests refused with 503 because the bodies buffered across connections, or the peer's
    /// share of them, were at their budget (``BodyBudget``).
    let bodyBudgetRefusals = Counter(label: "signet_http_body_budget_refusals_total")
    /// Requests the handler refused from their head, before their body was read.
    let refusedAtHead = Counter(label: "signet_http_requests_refused_at_head_total")
}

/// Which deadline a connection is under.
enum TimeoutKind: String, CaseIterable, Sendable {
    case handshake
    case header
    case body
    case idle
    case write
    case linger
}
