/// The TLS settings of signet's HTTPS server, as one value with secure defaults.
///
/// Defaults: TLS 1.2 (RFC 5246) through TLS 1.3 (RFC 8446), ALPN (RFC 7301) offering `http/1.1`
/// only, no client certificates. Setting ``clientCAFile`` turns on mutual TLS: every client must
/// present a certificate that chains to one of the CAs in that file (RFC 8446 section 4.3.2,
/// RFC 5246 section 7.4.4), otherwise the handshake fails.
///
/// Files are read when a ``TLSContext`` is made from the configuration (`SSL_CTX_use_certificate_chain_file(3)`,
/// `SSL_CTX_use_PrivateKey_file(3)`, `SSL_CTX_load_verify_locations(3)`), so a reload is "make a new context".
public struct TLSServerConfiguration: Sendable, Hashable {
    /// PEM file with the server certificate first, then any intermediates (not the root).
    public var certificateChainFile: String
    /// PEM file with the private key of the leaf certificate (PKCS#8 or traditional; RSA or EC).
    /// Encrypted keys are refused rather than prompting for a passphrase.
    public var privateKeyFile: String
    /// PEM file of CA certificates. When set, client certificates are verified against these
    /// CAs (a certificate from another CA fails the handshake); their subjects are also sent as
    /// the acceptable CA list. Whether a client may connect with no certificate at all is
    /// ``clientCertificateMode``.
    public var clientCAFile: String?
    /// With a ``clientCAFile``: `.required` refuses a handshake without a client certificate;
    /// `.verifyIfPresent` accepts it (the peer then has no ``TLSEngine/peerCertificateSubject``),
    /// so an application can demand a certificate on some endpoints (the admission webhook) and
    /// not on others (kubelet probes, which present none).
    public var clientCertificateMode: ClientCertificateMode = .required
    /// The lowest protocol version accepted. The highest is always TLS 1.3.
    public var minimumVersion: TLSProtocolVersion = .tls1_2
    /// Application protocols for ALPN, in the server's order of preference. A client that offers
    /// ALPN without any of these is refused with a `no_application_protocol` alert (RFC 7301
    /// section 3.2); a client that does not use ALPN is accepted. Empty turns ALPN off.
    public var alpnProtocols: [String] = ["http/1.1"]

    public init(certificateChainFile: String, privateKeyFile: String, clientCAFile: String? = nil) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.clientCAFile = clientCAFile
    }
}

/// Whether a TLS server refuses clients that present no certificate (RFC 8446 section 4.4.2.4).
public enum ClientCertificateMode: String, Sendable, Hashable {
    case required
    case verifyIfPresent
}
