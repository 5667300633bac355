/// Everything the HTTPS server needs, in one `Sendable` value with secure defaults.
///
/// The defaults are chosen for an admission webhook that the Kubernetes API server calls on every
/// pod creation: small requests, long-lived keep-alive connections from a few API server replicas,
/// and clients that must never be able to hold the server hostage (RFC 9112 §9.3 persistence,
/// §9.8 tear-down; slow-client defences as in common HTTP servers).
public struct HTTPServerConfiguration: Sendable {
    /// Address to listen on. `0.0.0.0` for all IPv4 interfaces, `::` for all interfaces.
    public var host: String
    /// TCP port. Kubernetes webhooks conventionally use 8443 inside the pod.
    public var port: Int
    /// Request parsing limits: header section (431), body (413).
    public var parserLimits: HTTPParserLimits
    /// A TLS handshake must complete within this time after the TCP connection is accepted.
    public var handshakeTimeout: Duration
    /// A request head must arrive completely within this time of its first byte, and the first
    /// request of a connection within this time of the handshake. Exceeded: 408 and close.
    public var headerTimeout: Duration
    /// A request body must arrive completely within this time of the end of its head. Exceeded: 408 and close.
    public var bodyTimeout: Duration
    /// A keep-alive connection with no request in progress is closed after this time. Longer than
    /// the API server's own idle timeout (90 s) so the client, not the server, closes idle
    /// connections and no request races a close.
    public var idleTimeout: Duration
    /// A response must be taken by the client within this time, or the connection is closed.
    public var writeTimeout: Duration
    /// Connections above this number are closed as soon as they are accepted.
    public var maxConnections: Int
    /// How the connections are shared among peers: a per-address limit, and room reserved for
    /// the API server's addresses.
    public var peerLimits: PeerConnectionLimits
    /// Read back-pressure (RFC 9112 §9.3.2 lets a server stop reading pipelined requests): while
    /// more than this many bytes of a connection's responses wait for the client to take them,
    /// the server reads and answers no further request on it. It resumes when the client has
    /// taken at least half of them; ``writeTimeout`` still drops a client that takes nothing.
    public var maxUnsentOutputBytes: Int
    /// The same across all connections: while the responses waiting for their clients take
    /// more than this, a connection with any of its own waiting reads no further request until
    /// its client has taken them all. Without it, clients that pipeline requests answered to
    /// anyone (`/healthz`, `/metrics`) and never read could each hold ``maxUnsentOutputBytes``
    /// until ``writeTimeout``, a gigabyte over the connection limit. A client that reads its
    /// answers has none waiting when it sends the next request, and is not held back.
    public var maxUnsentOutputBytesInAll: Int
    /// A memory budget for request bodies across all connections: a request whose body would
    /// take the bytes buffered for bodies being received or handled beyond this is refused at
    /// once with 503 and `Retry-After` (RFC 9110 §15.6.4, §10.2.3) and its connection closed.
    /// A Content-Length body counts in full from its head on; a chunked one as it arrives. Each
    /// peer has a share of it, and reserved peers room of their own (``PeerConnectionLimits``).
    public var maxBufferedBodyBytes: Int
    /// Event loop threads that own sockets and TLS. Defaults to the number of cores (at most 8).
    public var eventLoopThreads: Int
    /// Graceful shutdown: in-flight requests get this long to finish before connections are closed.
    public var shutdownGracePeriod: Duration
    /// How often the certificate, key and client CA files are checked for a change.
    public var certificateReloadInterval: Duration
    /// Called by each event loop at the end of every pass, before the answers of that pass are
    /// written to their sockets (and once more as the loop stops): where a caller flushes output
    /// that must precede the answers, such as deferred audit lines.
    public var beforeAnswersAreSent: (@Sendable () -> Void)?

    public init(
        host: String = "0.0.0.0",
        port: Int = 8443,
        parserLimits: HTTPParserLimits = HTTPParserLimits(),
        handshakeTimeout: Duration = .seconds(10),
        headerTimeout: Duration = .seconds(10),
        bodyTimeout: Duration = .seconds(30),
        idleTimeout: Duration = .seconds(120),
        writeTimeout: Duration = .seconds(30),
        maxConnections: Int = 1024,
        peerLimits: PeerConnectionLimits = PeerConnectionLimits(),
        maxUnsentOutputBytes: Int = 1 << 20,
        maxUnsentOutputBytesInAll: Int = 32 << 20,
        maxBufferedBodyBytes: Int = 64 << 20,
        eventLoopThreads: Int = HTTPServerConfiguration.defaultEventLoopThreads,
        shutdownGracePeriod: Duration = .seconds(25),
        certificateReloadInterval: Duration = .seconds(5)
    ) {
        self.host = host
        self.port = port
        self.parserLimits = parserLimits
        self.handshakeTimeout = handshakeTimeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.writeTimeout = writeTimeout
        self.maxConnections = maxConnections
        self.peerLimits = peerLimits
        self.maxUnsentOutputBytes = maxUnsentOutputBytes
        self.maxUnsentOutputBytesInAll = maxUnsentOutputBytesInAll
        self.maxBufferedBodyBytes = maxBufferedBodyBytes
        self.eventLoopThreads = eventLoopThreads
        self.shutdownGracePeriod = shutdownGracePeriod
        self.certificateReloadInterval = certificateReloadInterval
    }

    /// One per CPU the process can use (``CPUBudget``: its affinity mask and its control group's
    /// CPU quota, rounded up), between 1 and 8.
    public static var defaultEventLoopThreads: Int {
        min(8, CPUBudget.current().usableCPUs)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
