/// Settings of a ``RegistryClient``, with secure defaults.
///
/// Defaults: TLS verified against the system trust store, HTTPS only, manifests capped at 4 MiB
/// (the limit the OCI distribution specification v1.1 lets registries enforce, "Pushing
/// Manifests"), blobs at 16 MiB (enough for signature and attestation layers), 64 MiB of
/// responses held at once by all requests in flight, three attempts
/// with exponential backoff for the retryable answers of RFC 9110 (429, 502, 503, 504) and for
/// reset connections, never past the caller's deadline.
public struct RegistryClientConfiguration: Sendable {
    /// A PEM bundle of CA certificates to trust instead of the system store (private registries).
    public var caBundlePath: String?
    /// Registries (`host` or `host:port`, as in an image reference) reached over plain HTTP.
    ///
    /// Dangerous: anyone on the path can read credentials and substitute manifests (signatures
    /// still protect verified content, but tags resolve to whatever the attacker wants). Meant for
    /// test registries on the loopback interface.
    public var allowInsecureRegistries: Set<String>
    /// How long establishing a connection (TCP and TLS) may take, within the deadline.
    public var connectTimeout: Duration
    /// A transfer receiving less than one byte per second for this long is aborted.
    public var lowSpeedTimeout: Duration
    /// The largest manifest or index accepted.
    public var maximumManifestBytes: Int
    /// The default largest blob accepted; each blob call may pass its own.
    public var maximumBlobBytes: Int
    /// Retries of retryable failures.
    public var retry: RetryPolicy
    /// Redirects followed per request (blob downloads are often redirected to storage).
    public var maximumRedirects: Int
    /// Token lifetime assumed when a token response has no `expires_in` (Docker registry token
    /// authentication specification: 60 seconds).
    public var defaultTokenLifetime: Duration
    /// The `User-Agent` header.
    public var userAgent: String
    /// How many bearer tokens and server challenges are kept (``TokenAuthenticator/Limits``).
    public var tokenCacheLimits: TokenAuthenticator.Limits
    /// The room the bodies of the responses being downloaded may take at once. When a download
    /// needs room that is not there, the largest download of the ``RegistryRequestOrigin`` (the
    /// admission's namespace) holding the most is stopped, and retried like a reset connection.
    /// Without it, registries answering many verifications at once with large bodies (or
    /// dripping them) could make the process hold every cap at once. Below ``maximumBlobBytes``
    /// the largest blobs cannot be fetched; 1 MiB at least.
    public var maximumBufferedResponseBytes: Int
    /// How many host name lookups may be under way or left running by ended requests before
    /// new lookups are refused (one namespace takes at most a quarter). A lookup whose DNS server never answers outlives the request that started
    /// it, and the image name (so the host) is chosen by whoever writes the pod; without a
    /// ceiling, such names would pile up resolver threads.
    public var maximumUnfinishedLookups = 64

    public init(
        caBundlePath: String? = nil,
        allowInsecureRegistries: Set<String> = [],
        connectTimeout: Duration = .seconds(5),
        lowSpeedTimeout: Duration = .seconds(10),
        maximumManifestBytes: Int = 4 * 1024 * 1024,
        maximumBlobBytes: Int = 16 * 1024 * 1024,
        retry: RetryPolicy = RetryPolicy(),
        maximumRedirects: Int = 5,
        defaultTokenLifetime: Duration = .seconds(60),
        userAgent: String = "signet",
        tokenCacheLimits: TokenAuthenticator.Limits = TokenAuthenticator.Limits(),
        maximumBufferedResponseBytes: Int = 64 * 1024 * 1024
    ) {
        self.caBundlePath = caBundlePath
        self.allowInsecureRegistries = allowInsecureRegistries
        self.connectTimeout = connectTimeout
        self.lowSpeedTimeout = lowSpeedTimeout
        self.maximumManifestBytes = maximumManifestBytes
        self.maximumBlobBytes = maximumBlobBytes
        self.retry = retry
        self.maximumRedirects = maximumRedirects
        self.defaultTokenLifetime = defaultTokenLifetime
        self.userAgent = userAgent
        self.tokenCacheLimits = tokenCacheLimits
        self.maximumBufferedResponseBytes = maximumBufferedResponseBytes
    }
}

/// When and how often a registry request is tried again.
///
/// Only answers that say "try later" are retried: 429 Too Many Requests (RFC 6585 section 4),
/// 502, 503 and 504 (RFC 9110 section 15.6), and connections the peer reset. A `Retry-After`
/// field (RFC 9110 section 10.2.3, seconds or an HTTP-date) replaces the computed backoff. No
/// retry starts when its wait would end past the deadline.
public struct RetryPolicy: Sendable {
    /// Attempts in total, the first one included.
    public var maximumAttempts: Int
    /// The wait before the first retry; doubled for each further one.
    public var initialBackoff: Duration
    /// The longest computed wait between attempts.
    public var maximumBackoff: Duration

    public init(maximumAttempts: Int = 3, initialBackoff: Duration = .milliseconds(200), maximumBackoff: Duration = .seconds(2)) {
        self.maximumAttempts = max(1, maximumAttempts)
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// The wait before retry number `retry` (1 for the first), with up to 20 % jitter.
    func backoff(forRetry retry: Int) -> Duration {
        var wait = initialBackoff
        for _ in 1..<max(1, retry) where wait < maximumBackoff { wait *= 2 }
        wait = min(wait, maximumBackoff)
        return wait + wait * Double.random(in: 0..<0.2)
    }

    static func isRetryable(status: Int) -> Bool {
        status == 429 || status == 502 || status == 503 || status == 504
    }
}
