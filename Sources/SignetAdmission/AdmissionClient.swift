/// Who sent an admission review, as the connection it came on shows it: what an audit record
/// says about the caller besides what the review itself claims (Kubernetes "Dynamic Admission
/// Control" authenticates the API server to a webhook only through TLS client certificates).
public struct AdmissionClient: Sendable, Equatable {
    /// `ip:port` of the peer.
    public var address: String?
    /// RFC 2253 subject of the verified client certificate, nil when none was presented.
    public var certificateSubject: String?

    public init(address: String? = nil, certificateSubject: String? = nil) {
        self.address = address
        self.certificateSubject = certificateSubject
    }
}
