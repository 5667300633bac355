import Foundation

/// How a ``SigstoreTrustedRootUpdater`` keeps the Sigstore trusted root current through TUF
/// (TUF specification section 5, against the Sigstore repository), with secure defaults: the
/// public mirror, the root embedded at build time, a refresh every six hours.
public struct TrustedRootUpdaterConfiguration: Sendable {
    /// The repository: metadata at `<mirror>/`, targets at `<mirror>/targets/`. The public
    /// Sigstore mirror by default; an air-gapped cluster names its own copy.
    public var mirrorURL: String
    /// Where the last good metadata and trusted root are kept between restarts; in memory
    /// when nil.
    public var cacheDirectory: String?
    /// How often the repository is asked for new metadata.
    public var refreshInterval: Duration
    /// After a failed refresh, how long until the next try (at most ``refreshInterval``).
    public var retryInterval: Duration
    /// The TUF root the rotation chain starts from (section 5.2).
    public var bootstrapRoot: [UInt8]
    /// PEM bundle of CAs for an HTTPS mirror; the system store when nil.
    public var caBundlePath: String?
    /// How long one file may take to fetch.
    public var requestTimeout: Duration

    public init(
        mirrorURL: String = SigstoreTUFRoot.publicMirrorURL, cacheDirectory: String? = nil,
        refreshInterval: Duration = .seconds(6 * 3600), retryInterval: Duration = .seconds(300),
        bootstrapRoot: [UInt8] = SigstoreTUFRoot.embeddedRoot, caBundlePath: String? = nil,
        requestTimeout: Duration = .seconds(30)
    ) {
        self.mirrorURL = mirrorURL
        self.cacheDirectory = cacheDirectory
        self.refreshInterval = refreshInterval
        self.retryInterval = retryInterval
        self.bootstrapRoot = bootstrapRoot
        self.caBundlePath = caBundlePath
        self.requestTimeout = requestTimeout
    }
}
