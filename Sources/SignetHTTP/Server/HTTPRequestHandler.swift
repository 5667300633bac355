/// What the server calls for each complete request (RFC 9112 §3). The handler runs in Swift
/// concurrency; the server's event loops never wait for it.
public protocol HTTPRequestHandler: Sendable {
    func handle(_ request: HTTPRequest, context: HTTPRequestContext) async -> HTTPResponse
}

/// Facts about the connection a request came on.
public struct HTTPRequestContext: Sendable {
    /// `ip:port` of the peer.
    public var remoteAddress: String
    /// Negotiated TLS version, e.g. `TLSv1.3`.
    public var tlsVersion: String?
    /// Subject of the verified client certificate, when client authentication is on.
    public var peerCertificateSubject: String?
    /// When the request's last byte was parsed.
    public var receivedAt: ContinuousClock.Instant

    public init(
        remoteAddress: String, tlsVersion: String? = nil, peerCertificateSubject: String? = nil,
        receivedAt: ContinuousClock.Instant = .now
    ) {
        self.remoteAddress = remoteAddress
        self.tlsVersion = tlsVersion
        self.peerCertificateSubject = peerCertificateSubject
        self.receivedAt = receivedAt
    }
}
