/// What the server calls for each complete request (RFC 9112 §3). The server's event loops
/// never wait for the handler: ``begin(_:context:)`` answers what it can at once, and anything
/// that has to wait runs in Swift concurrency.
public protocol HTTPRequestHandler: Sendable {
    func handle(_ request: HTTPRequest, context: HTTPRequestContext) async -> HTTPResponse

    /// Called first, on the event loop's thread: the response when it needs no waiting (it is
    /// then written without creating a task), or the work left. It must not block. By default,
    /// everything is left to ``handle(_:context:)``.
    func begin(_ request: HTTPRequest, context: HTTPRequestContext) -> HTTPHandling

    /// Called on the event loop's thread as soon as a request's head is complete, before any of
    /// its body is read or buffered (and before `100 Continue` is sent, RFC 9110 §10.1.1): a
    /// response refuses the request there (the server writes it with `Connection: close` and
    /// discards the body), nil reads on. Where a decision that needs only the head belongs,
    /// such as which clients may send a body at all. It must not block. By default, nil.
    func screen(_ head: HTTPRequest, context: HTTPRequestContext) -> HTTPResponse?
}

extension HTTPRequestHandler {
    public func screen(_ head: HTTPRequest, context: HTTPRequestContext) -> HTTPResponse? { nil }

    public func begin(_ request: HTTPRequest, context: HTTPRequestContext) -> HTTPHandling {
        .waiting { await handle(request, context: context) }
    }
}

/// How a handler took a request: answered at once, or with work to wait for.
public enum HTTPHandling: Sendable {
    case answered(HTTPResponse)
    /// Run in a task (on the connection's event loop, while it does not suspend); its result
    /// is the response.
    case waiting(@Sendable () async -> HTTPResponse)
}

/// Facts about the connection a request came on.
public struct HTTPRequestContext: Sendable {
    /// `ip:port` of the peer.
    public var remoteAddress: String
    /// The peer's IP address, nil when the socket's family has none (a Unix socket).
    public var peer: PeerAddress?
    /// Negotiated TLS version, e.g. `TLSv1.3`.
    public var tlsVersion: String?
    /// Subject of the verified client certificate, when client authentication is on.
    public var peerCertificateSubject: String?
    /// The names of the verified client certificate (subject commonName, subjectAltName DNS
    /// names, URIs and emails), empty without one: what an allow-list of clients matches.
    public var peerCertificateNames: [String]
    /// When the request's last byte was parsed.
    public var receivedAt: ContinuousClock.Instant

    public init(
        remoteAddress: String, peer: PeerAddress? = nil, tlsVersion: String? = nil, peerCertificateSubject: String? = nil,
        peerCertificateNames: [String] = [], receivedAt: ContinuousClock.Instant = .now
    ) {
        self.peer = peer
        self.peerCertificateNames = peerCertificateNames
        self.remoteAddress = remoteAddress
        self.tlsVersion = tlsVersion
        self.peerCertificateSubject = peerCertificateSubject
        self.receivedAt = receivedAt
    }
}
