/// Who sent an admission review, as the connection it came on shows it: what an audit record
/// says about the caller besides what the review itself claims (Kubernetes "Dynamic Admission
/// Control" authenticates the API server to a webhook only through TLS client certificates).
public struct AdmissionClient: Sendable, Equatable {
    /// `ip:port` of the peer.
    public var address: String?
    /// RFC 2253 subject of the verified client certificate, nil when none was presented.
    public var certificateSubject: String?
    /// Whether the review is known to come from the API server: signet requires a client
    /// certificate from the configured client CA (`--client-ca`), or the peer is one of the API
    /// server's addresses (`--reserved-peers`). With neither configured signet cannot tell, and
    /// every review counts as the API server's. A review that is not is decided and answered
    /// all the same (an answer tells its sender nothing it could not learn from the policies)
    /// and is in the audit log and the history, but is verified with signet's own registry
    /// credentials only, and makes no alert and no Kubernetes Event: any Pod that can reach the
    /// webhook could otherwise write Events naming a user of its choice, spend a namespace's
    /// alert budget so that its real denials go unannounced, or spend its share of pull-secret
    /// reads.
    public var fromAPIServer: Bool

    public init(address: String? = nil, certificateSubject: String? = nil, fromAPIServer: Bool = true) {
        self.address = address
        self.certificateSubject = certificateSubject
        self.fromAPIServer = fromAPIServer
    }
}
