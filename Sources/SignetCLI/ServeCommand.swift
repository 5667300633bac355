import ArgumentParser
import Dispatch
import Foundation
import Logging
import SignetAdmission
import SignetContinuous
import SignetConsole
import SignetHTTP
import SignetNotary
import SignetPolicy
import Synchronization
import SignetRegistry
import SignetVerify

/// `signet serve`: the HTTPS admission webhook.
///
/// Every flag has an environment-variable twin (shown in `--help`), so the same binary is set up
/// by flags on a workstation and by `env:` in a Deployment. Defaults are the secure ones
/// documented in docs/serve.md.
struct ServeCommand: ParsableCommand, AsynchronousCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the admission webhook over HTTPS.",
        discussion: """
            Endpoints: POST /validate (AdmissionReview admission.k8s.io/v1), GET /healthz, \
            GET /readyz, GET /metrics (Prometheus text format; with --metrics-auth kubernetes, for a bearer token \
            whose user may get /metrics). With --console-port, the verification \
            console on its own port (pages and /api/, behind Kubernetes bearer tokens). SIGTERM or SIGINT stops accepting, \
            lets requests in flight finish within the grace period, and exits 0.
            """
    )

    @Option(name: .long, help: "Address to listen on. (env: SIGNET_ADDRESS, default 0.0.0.0)")
    var address: String?

    @Option(name: .long, help: "TCP port. (env: SIGNET_PORT, default 8443)")
    var port: Int?

    @Option(name: .long, help: "PEM certificate chain, leaf first; reloaded when it changes. (env: SIGNET_TLS_CERT)")
    var tlsCert: String?

    @Option(name: .long, help: "PEM private key; reloaded when it changes. (env: SIGNET_TLS_KEY)")
    var tlsKey: String?

    @Option(name: .long, help: "PEM CA bundle; when set, POST /validate requires a client certificate it issued (probes and /metrics do not). (env: SIGNET_CLIENT_CA)")
    var clientCA: String?

    @Option(name: .long, help: "With --client-ca: names (certificate subject CN, or a SAN DNS name, URI or email) of the clients /validate and /mutate answer, comma-separated or repeated; any certificate from the CA when none. (env: SIGNET_CLIENT_ALLOWED_NAMES, comma-separated)")
    var clientAllowedNames: [String] = []

    @Option(name: .long, help: "Directory of policy YAML files; reloaded when it changes. (env: SIGNET_POLICY_DIR, default /etc/signet/policies)")
    var policyDir: String?

    @Option(name: .long, help: "What happens to images no policy covers: deny, warn (allowed with a warning naming the image) or allow. (env: SIGNET_NO_MATCH_ACTION, default deny)")
    var noMatchAction: String?

    @Option(name: .long, help: "Largest request body in bytes; larger gets 413. (env: SIGNET_MAX_BODY_BYTES, default 8388608)")
    var maxBodyBytes: Int?

    @Option(name: .long, help: "Memory budget for request bodies across all connections; a body beyond it gets 503 with Retry-After. (env: SIGNET_MAX_BUFFERED_BODY_BYTES, default 67108864)")
    var maxBufferedBodyBytes: Int?

    @Option(name: .long, help: "Memory budget for responses waiting for clients that do not read them, across all connections; past it a connection with any answer waiting reads no further request until its client takes it. At least 1 MiB. (env: SIGNET_MAX_UNSENT_OUTPUT_BYTES, default 33554432)")
    var maxUnsentOutputBytes: Int?

    @Option(name: .long, help: "Share of --max-buffered-body-bytes one IP address may hold (reserved peers excepted); at least --max-body-bytes. (env: SIGNET_MAX_BUFFERED_BODY_BYTES_PER_PEER, default a quarter of the budget, at least --max-body-bytes)")
    var maxBufferedBodyBytesPerPeer: Int?

    @Option(name: .long, help: "With --reserved-peers: the last this many bytes of --max-buffered-body-bytes only reserved peers may use. (env: SIGNET_RESERVED_BODY_BYTES, default a quarter of the budget)")
    var reservedBodyBytes: Int?

    @Option(name: .long, help: "Largest request head (request line and headers) in bytes; larger gets 431. (env: SIGNET_MAX_HEADER_BYTES, default 32768)")
    var maxHeaderBytes: Int?

    @Option(name: .long, help: "Most connections open at once; more are closed on accept. (env: SIGNET_MAX_CONNECTIONS, default 1024)")
    var maxConnections: Int?

    @Option(name: .long, help: "Most connections one IP address may hold; more are closed on accept (reserved peers excepted). (env: SIGNET_MAX_CONNECTIONS_PER_PEER, default 256)")
    var maxConnectionsPerPeer: Int?

    @Option(name: .long, help: "New connections one IP address may open a second, on average, with bursts of twice as many (each costs a TLS handshake); more are closed on accept (reserved peers excepted); 0: no limit. (env: SIGNET_MAX_NEW_CONNECTIONS_PER_PEER, default 256)")
    var maxNewConnectionsPerPeer: Int?

    @Option(name: .long, parsing: .singleValue, help: "Address ranges (CIDR) of the API server: no per-peer limit, and the room of --reserved-connections is theirs alone; repeatable or comma-separated. (env: SIGNET_RESERVED_PEERS)")
    var reservedPeers: [String] = []

    @Option(name: .long, help: "With --reserved-peers: the last this many of --max-connections only reserved peers may open. (env: SIGNET_RESERVED_CONNECTIONS, default 256)")
    var reservedConnections: Int?

    @Option(name: .long, help: "Time for a TLS handshake. (env: SIGNET_HANDSHAKE_TIMEOUT, default 10s)")
    var handshakeTimeout: String?

    @Option(name: .long, help: "Time for a request head to arrive; slower gets 408. (env: SIGNET_HEADER_TIMEOUT, default 10s)")
    var headerTimeout: String?

    @Option(name: .long, help: "Time for a request body to arrive; slower gets 408. (env: SIGNET_BODY_TIMEOUT, default 30s)")
    var bodyTimeout: String?

    @Option(name: .long, help: "Keep-alive connections idle this long are closed. (env: SIGNET_IDLE_TIMEOUT, default 120s)")
    var idleTimeout: String?

    @Option(name: .long, help: "Time for a client to take a response. (env: SIGNET_WRITE_TIMEOUT, default 30s)")
    var writeTimeout: String?

    @Option(name: .long, help: "Upper bound on the time spent deciding one review, whatever ?timeout= allows. (env: SIGNET_MAX_ADMISSION_TIME, default 28s)")
    var maxAdmissionTime: String?

    @Option(name: .long, help: "Deny, at /validate, a Pod image named by tag alone whose signature authorities verified a digest: the mutating webhook (/mutate) pins such an image, so one that arrives unpinned skipped it (a timeout, a later webhook). Set it when /mutate is installed: true or false. (env: SIGNET_REQUIRE_PINNED_DIGESTS, default false)")
    var requirePinnedDigests: String?

    @Option(name: .long, help: "After SIGTERM, keep serving this long while /readyz reports not ready, so endpoints drop the pod first. (env: SIGNET_SHUTDOWN_DELAY, default 0s)")
    var shutdownDelay: String?

    @Option(name: .long, help: "Time requests in flight get to finish after shutdown starts. (env: SIGNET_SHUTDOWN_GRACE_PERIOD, default 25s)")
    var shutdownGracePeriod: String?

    @Option(name: .long, help: "How often certificate files are checked for a change. (env: SIGNET_CERT_RELOAD_INTERVAL, default 5s)")
    var certReloadInterval: String?

    @Option(name: .long, help: "How often the policy directory is checked for a change. (env: SIGNET_POLICY_RELOAD_INTERVAL, default 5s)")
    var policyReloadInterval: String?

    @Option(name: .long, help: "Event loop threads. (env: SIGNET_EVENT_LOOPS, default: cores, at most 8)")
    var eventLoops: Int?

    @OptionGroup var registryFlags: RegistryFlags

    @OptionGroup var notationCRL: NotationCRLOptions

    @Option(name: .long, help: "Directory of mounted Secrets for secretRef public keys: <dir>/<namespace>/<name>/<key>. (env: SIGNET_KEY_SECRETS_DIR, default /etc/signet/key-secrets)")
    var keySecretsDir: String?

    @Option(name: .long, help: "With --policy-source kubernetes, where the Secrets and ConfigMaps policies name (secretRef, configMapRef) are read: directory (Secrets mounted under --key-secrets-dir, ConfigMaps under /etc/signet/configmaps) or api (each named Secret and ConfigMap read and watched through the Kubernetes API). (env: SIGNET_KEY_SECRETS_SOURCE, default directory)")
    var keySecretsSource: String?

    @Option(name: .long, help: "How long a passed verification is reused. (env: SIGNET_VERIFICATION_CACHE_TTL, default 10m)")
    var verificationCacheTTL: String?

    @Option(name: .long, help: "How long a Notary v1 repository's verified metadata is reused, at most until its earliest expiry. (env: SIGNET_NOTARY_CACHE_TTL, default 5m)")
    var notaryCacheTTL: String?

    @Option(name: .long, help: "How long a failed verification is reused. (env: SIGNET_VERIFICATION_NEGATIVE_CACHE_TTL, default 1m)")
    var verificationNegativeCacheTTL: String?

    @Option(name: .long, help: "Most verification results kept. (env: SIGNET_VERIFICATION_CACHE_SIZE, default 10000)")
    var verificationCacheSize: Int?

    @Option(name: .long, help: "How long a tag's resolved digest is reused. (env: SIGNET_TAG_CACHE_TTL, default 60s)")
    var tagCacheTTL: String?

    @Option(name: .long, help: "Log format: json or text. (env: SIGNET_LOG_FORMAT, default json)")
    var logFormat: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical. (env: SIGNET_LOG_LEVEL, default info)")
    var logLevel: String?

    @OptionGroup var resources: ResourceOptions

    @OptionGroup var status: StatusOptions

    @OptionGroup var sigstoreTUF: SigstoreTUFOptions

    @OptionGroup var continuous: ContinuousOptions

    @OptionGroup var alerts: AlertOptions
    @OptionGroup var console: ConsoleOptions

    @OptionGroup var metricsAccess: MetricsAccessOptions

    @OptionGroup var history: HistoryOptions

    @OptionGroup var historyRetention: HistoryRetentionOptions

    func runAsynchronously() async throws {
        let settings = try resolve()
        // Checked before anything starts: a bad history flag is a usage error.
        _ = try history.location()
        _ = try historyRetention.retention()
        Observability.bootstrapLogging(format: settings.logFormat, level: settings.logLevel)
        PrometheusMetrics.bootstrap()
        signal(SIGPIPE, SIG_IGN)
        let logger = Logger(label: "signet")
        OpenFileLimit.prepare(
            webhookConnections: settings.server.maxConnections, consoleConnections: settings.console?.server.maxConnections ?? 0,
            logger: logger)
        // Opened first: a store that cannot be opened is reported before anything else starts.
        let serveHistory = try await ServeHistory.start(history, retention: historyRetention, logger: logger)

        let readiness = ReadinessState()
        var loader = PolicyLoader(logger: Logger(label: "signet.policy"), keySecretsDirectory: settings.keySecretsDirectory)
        // The Sigstore root from TUF, refreshed for the server's lifetime; the embedded root
        // until the first refresh succeeds.
        var trustRootTask: Task<Void, Never>?
        let sigstoreRoot: SigstoreTUFRuntime?
        do {
            sigstoreRoot = try await SigstoreTUFRuntime.start(sigstoreTUF, logger: Logger(label: "signet.trustroot"))
        } catch let error as SigstoreTUFStartError {
            logger.critical("cannot start the Sigstore TUF updater", metadata: ["mirror": "\(error.mirrorURL)", "error": "\(error.reason)"])
            throw ExitCode(2)
        }
        if let tuf = sigstoreRoot {
            loader.liveTrustedRoot = tuf.live
            logger.info("keeping the Sigstore trusted root current through TUF", metadata: [
                "mirror": "\(tuf.configuration.mirrorURL)", "refresh_interval": "\(tuf.configuration.refreshInterval)",
            ])
            trustRootTask = Task { await tuf.run(logger: Logger(label: "signet.trustroot")) }
        }
        // The TUF repositories policies name as their own trust root (trustRoot.tuf), each
        // with a client of its own from the first policy that names it.
        let sharedTUF = try sigstoreTUF.resolveShared()
        let policyTUF = PolicyTUFRepositoriesRuntime(roots: PolicyTUFTrustRoots(), settings: sharedTUF.configuration, now: sharedTUF.now)
        loader.tufTrustRoots = policyTUF.roots
        let policyTUFTask = Task { await policyTUF.run(logger: Logger(label: "signet.trustroot")) }
        let policySource = try await PolicySourceRuntime.make(
            settings: try resources.resolve(writeStatus: try status.resolve()), policyDirectory: settings.policyDirectory,
            reloadInterval: settings.policyReloadInterval, readiness: readiness, logger: logger,
            loader: loader, keySecrets: settings.keySecrets)

        let certificates: CertificateReloader
        do {
            certificates = try CertificateReloader(configuration: settings.tls, logger: Logger(label: "signet.tls"))
        } catch {
            logger.critical("cannot load the serving certificate", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }

        let registry: RegistryClient
        do {
            registry = try RegistryClient(
                configuration: settings.registry, credentials: settings.registryCredentials, logger: Logger(label: "signet.registry"))
        } catch {
            logger.critical("cannot start the registry client", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        let crlDownloader: HTTPCRLDownloader?
        do {
            crlDownloader = try notationCRL.downloader()
        } catch {
            logger.critical("cannot start CRL downloads", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        let engine = VerificationEngine(
            registry: registry, configuration: settings.verification, verifiers: StandardVerifiers.make(
                registry: registry,
                notary: NotaryRepositoryClient(
                    configuration: NotaryRepositoryClient.Configuration(cacheTTL: settings.notaryCacheTTL), credentials: settings.registryCredentials),
                crlDownloader: crlDownloader),
            logger: Logger(label: "signet.verify"))
        var (responder, policyUpdates) = await policySource.makeResponder(
            noMatchAction: settings.noMatchAction, verifier: engine, onChange: { policies in
                await engine.retain(policies)
                // The policies' own TUF repositories: clients run for exactly those the set in force names.
                policyTUF.roots.retain(only: policies.tufRepositories)
            })
        // Applies to admissions only: the continuous scans decide running Pods, which the node pins.
        responder.requirePinnedDigests = settings.requirePinnedDigests
        if !settings.requirePinnedDigests {
            logger.warning(
                "Pod images named by tag are checked at the digest the tag names at admission; a tag moved before the kubelet pulls runs another image: send Pods to /mutate and set --require-pinned-digests (the chart's webhook.pinDigests)")
        }
        // Alerts on denies and bypass uses are queued by the audit path and sent by their own task.
        let alertDispatcher = try settings.alerts.map { try AlertDispatcher(configuration: $0) }
        if let alertDispatcher { responder.auditSink = AlertingAuditSink(dispatcher: alertDispatcher, next: responder.auditSink) }
        // Every decision also reaches the console's open History pages.
        let decisionFeed = settings.console.map { _ in DecisionFeed() }
        if let decisionFeed { responder.auditSink = AuditSinks([responder.auditSink, decisionFeed].compactMap { $0 }) }
        let alertTask = alertDispatcher.map { dispatcher in Task { await dispatcher.run() } }
        var continuousTask: Task<Void, Never>?
        if let scans = settings.continuous {
            do {
                continuousTask = try ContinuousRuntime.start(
                    scans, policySource: policySource, responder: responder, alerts: alertDispatcher,
                    maximumAdmissionTime: settings.maxAdmissionTime)
            } catch {
                logger.critical("cannot start continuous verification", metadata: ["error": "\(error)"])
                throw ExitCode(2)
            }
        }
        // Every decision of a review also goes to the history, when one is configured (queued,
        // never awaited); the continuous scans above keep the responder without it.
        if let serveHistory { responder.auditSink = HistoryAuditSink(recorder: serveHistory.recorder, next: responder.auditSink) }
        let admissionResponder = responder
        var handler = SignetRequestHandler(
            admit: { body, deadline, client in admissionResponder.begin(body, deadline: deadline, client: client) },
            mutate: { body, deadline, client in admissionResponder.beginMutation(body, deadline: deadline, client: client) },
            readiness: readiness, maximumAdmissionTime: settings.maxAdmissionTime,
            requireClientCertificateForAdmission: settings.tls.clientCAFile != nil,
            allowedClientNames: settings.allowedClientNames, apiServerPeers: settings.server.peerLimits.reservedPeers)
        if settings.tls.clientCAFile == nil && settings.server.peerLimits.reservedPeers.isEmpty {
            logger.notice(
                "neither --client-ca nor --reserved-peers is set: signet cannot tell the API server's reviews from reviews sent by any Pod that reaches the webhook, and takes each as the API server's (alerts and emergency-bypass Events included)")
        }
        if settings.metricsAuth { handler.metricsAccess = try MetricsAccessOptions.access(logger: logger) }

        var serverConfiguration = settings.server
        // Audit lines reach standard output once per event-loop pass, before its answers.
        serverConfiguration.beforeAnswersAreSent = { StandardOutputAuditSink.flushDeferredLines() }
        let server = try HTTPServer(
            configuration: serverConfiguration, certificates: certificates, handler: handler,
            logger: Logger(label: "signet.http"))
        do {
            try server.start()
        } catch {
            logger.critical("cannot listen", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        readiness.markCertificateServing()
        let consoleServer = try settings.console.map { consoleSettings in
            try ConsoleRuntime.start(
                settings: consoleSettings, tls: settings.tls, responder: admissionResponder, feed: decisionFeed ?? DecisionFeed(),
                history: serveHistory?.recorder, logger: logger
            ).server
        }

        let policyTask = Task { await policySource.source.run() }
        let shutdownDelay = settings.shutdownDelay
        let signals = SignalWatcher(signals: [SIGTERM, SIGINT]) { signalNumber in
            logger.notice("received signal; shutting down", metadata: ["signal": "\(signalNumber)"])
            readiness.markDraining()
            Task {
                if shutdownDelay > .zero { try? await Task.sleep(for: shutdownDelay) }
                async let console: Void = consoleServer?.shutdown(gracePeriod: Duration.seconds(1)) ?? ()
                await server.shutdown()
                await console
            }
        }
        await server.waitUntilStopped()
        await consoleServer?.waitUntilStopped()
        StandardOutputAuditSink.flushDeferredLines()
        await serveHistory?.stop(grace: .seconds(5), logger: logger)
        signals.cancel()
        policyTask.cancel()
        policyUpdates.cancel()
        if let continuousTask {
            // Scans stop and the leader Lease is released, so another replica takes over at once;
            // waited for a few seconds at most.
            continuousTask.cancel()
            let stopped = AsyncStream<Void> { ended in
                Task { await continuousTask.value; ended.finish() }
                Task { try? await Task.sleep(for: .seconds(5)); ended.finish() }
            }
            for await _ in stopped {}
        }
        alertTask?.cancel()
        trustRootTask?.cancel()
        policyTUFTask.cancel()
        registry.shutdown()
    }

    /// `--max-connections-per-peer`, `--max-new-connections-per-peer`, `--reserved-peers`, `--reserved-connections`,
    /// `--max-buffered-body-bytes-per-peer` and `--reserved-body-bytes`, checked.
    func peerLimits(maxConnections: Int, maxBufferedBodyBytes: Int, maxBodyBytes: Int) throws -> PeerConnectionLimits {
        var limits = PeerConnectionLimits()
        limits.maxConnectionsPerPeer = try EnvironmentOption.int(
            maxConnectionsPerPeer, "SIGNET_MAX_CONNECTIONS_PER_PEER", default: limits.maxConnectionsPerPeer)
        limits.reservedConnections = try EnvironmentOption.int(
            reservedConnections, "SIGNET_RESERVED_CONNECTIONS", default: limits.reservedConnections)
        limits.reservedPeers = try EnvironmentOption.list(reservedPeers, "SIGNET_RESERVED_PEERS").map { text in
            guard let network = PeerNetwork(parsing: text) else {
                throw ValidationError("--reserved-peers: \(text) is not an IP address or CIDR range (address/prefix, with no host bits set)")
            }
            return network
        }
        guard limits.maxConnectionsPerPeer > 0 else { throw ValidationError("--max-connections-per-peer must be positive") }
        limits.maxNewConnectionsPerPeerPerSecond = try EnvironmentOption.int(
            maxNewConnectionsPerPeer, "SIGNET_MAX_NEW_CONNECTIONS_PER_PEER", default: limits.maxNewConnectionsPerPeerPerSecond)
        guard (0...1_000_000).contains(limits.maxNewConnectionsPerPeerPerSecond) else {
            throw ValidationError("--max-new-connections-per-peer must be from 0 (no limit) to 1000000")
        }
        guard limits.reservedPeers.isEmpty || (0..<maxConnections).contains(limits.reservedConnections) else {
            throw ValidationError("--reserved-connections must be at least 0 and less than --max-connections (\(maxConnections))")
        }
        limits.maxBufferedBodyBytesPerPeer = try EnvironmentOption.int(
            maxBufferedBodyBytesPerPeer, "SIGNET_MAX_BUFFERED_BODY_BYTES_PER_PEER", default: max(maxBodyBytes, maxBufferedBodyBytes / 4))
        limits.reservedBodyBytes = try EnvironmentOption.int(reservedBodyBytes, "SIGNET_RESERVED_BODY_BYTES", default: maxBufferedBodyBytes / 4)
        guard (maxBodyBytes...maxBufferedBodyBytes).contains(limits.maxBufferedBodyBytesPerPeer) else {
            throw ValidationError("--max-buffered-body-bytes-per-peer must be at least --max-body-bytes (\(maxBodyBytes)) "
                + "and at most --max-buffered-body-bytes (\(maxBufferedBodyBytes))")
        }
        guard limits.reservedPeers.isEmpty || (0...(maxBufferedBodyBytes - maxBodyBytes)).contains(limits.reservedBodyBytes) else {
            throw ValidationError("--reserved-body-bytes must be at least 0 and leave others room for one body of --max-body-bytes "
                + "(at most \(maxBufferedBodyBytes - maxBodyBytes))")
        }
        return limits
    }

    /// Flags, then environment variables, then defaults.
    func resolve() throws -> ServeSettings {
        guard let cert = EnvironmentOption.string(tlsCert, "SIGNET_TLS_CERT") else {
            throw ValidationError("--tls-cert (or SIGNET_TLS_CERT) is required")
        }
        guard let key = EnvironmentOption.string(tlsKey, "SIGNET_TLS_KEY") else {
            throw ValidationError("--tls-key (or SIGNET_TLS_KEY) is required")
        }
        var tls = TLSServerConfiguration(certificateChainFile: cert, privateKeyFile: key)
        tls.clientCAFile = EnvironmentOption.string(clientCA, "SIGNET_CLIENT_CA")
        let allowedNames = EnvironmentOption.list(clientAllowedNames, "SIGNET_CLIENT_ALLOWED_NAMES")
        guard allowedNames.isEmpty || tls.clientCAFile != nil else {
            throw ValidationError("--client-allowed-names needs --client-ca: without a client CA no client certificate is verified")
        }
        // Kubelet probes present no certificate; /validate insists on one (see SignetRequestHandler).
        tls.clientCertificateMode = .verifyIfPresent

        var limits = HTTPParserLimits()
        limits.maxBodyBytes = try EnvironmentOption.int(maxBodyBytes, "SIGNET_MAX_BODY_BYTES", default: limits.maxBodyBytes)
        limits.maxHeaderBytes = try EnvironmentOption.int(maxHeaderBytes, "SIGNET_MAX_HEADER_BYTES", default: limits.maxHeaderBytes)
        guard limits.maxBodyBytes > 0, limits.maxHeaderBytes >= 1024 else {
            throw ValidationError("--max-body-bytes must be positive and --max-header-bytes at least 1024")
        }

        var server = HTTPServerConfiguration()
        server.host = EnvironmentOption.string(address, "SIGNET_ADDRESS", default: server.host)!
        server.port = try EnvironmentOption.int(port, "SIGNET_PORT", default: server.port)
        server.parserLimits = limits
        server.maxConnections = try EnvironmentOption.int(maxConnections, "SIGNET_MAX_CONNECTIONS", default: server.maxConnections)
        server.maxBufferedBodyBytes = try EnvironmentOption.int(
            maxBufferedBodyBytes, "SIGNET_MAX_BUFFERED_BODY_BYTES", default: server.maxBufferedBodyBytes)
        guard server.maxBufferedBodyBytes >= limits.maxBodyBytes else {
            throw ValidationError("--max-buffered-body-bytes must be at least --max-body-bytes")
        }
        server.maxUnsentOutputBytesInAll = try EnvironmentOption.int(
            maxUnsentOutputBytes, "SIGNET_MAX_UNSENT_OUTPUT_BYTES", default: server.maxUnsentOutputBytesInAll)
        guard server.maxUnsentOutputBytesInAll >= 1 << 20 else {
            throw ValidationError("--max-unsent-output-bytes must be at least 1048576 (1 MiB)")
        }
        server.handshakeTimeout = try EnvironmentOption.duration(handshakeTimeout, "SIGNET_HANDSHAKE_TIMEOUT", default: server.handshakeTimeout)
        server.headerTimeout = try EnvironmentOption.duration(headerTimeout, "SIGNET_HEADER_TIMEOUT", default: server.headerTimeout)
        server.bodyTimeout = try EnvironmentOption.duration(bodyTimeout, "SIGNET_BODY_TIMEOUT", default: server.bodyTimeout)
        server.idleTimeout = try EnvironmentOption.duration(idleTimeout, "SIGNET_IDLE_TIMEOUT", default: server.idleTimeout)
        server.writeTimeout = try EnvironmentOption.duration(writeTimeout, "SIGNET_WRITE_TIMEOUT", default: server.writeTimeout)
        server.shutdownGracePeriod = try EnvironmentOption.duration(
            shutdownGracePeriod, "SIGNET_SHUTDOWN_GRACE_PERIOD", default: server.shutdownGracePeriod)
        server.certificateReloadInterval = try EnvironmentOption.duration(
            certReloadInterval, "SIGNET_CERT_RELOAD_INTERVAL", default: server.certificateReloadInterval)
        server.eventLoopThreads = try EnvironmentOption.int(eventLoops, "SIGNET_EVENT_LOOPS", default: server.eventLoopThreads)
        guard (1...65535).contains(server.port) else { throw ValidationError("--port must be between 1 and 65535") }
        // Each connection takes a file descriptor, and Linux gives a process at most 1,048,576
        // (fs.nr_open's default); a loop is a thread.
        guard (1...1_048_576).contains(server.maxConnections), (1...1024).contains(server.eventLoopThreads) else {
            throw ValidationError("--max-connections must be between 1 and 1048576, and --event-loops between 1 and 1024")
        }
        server.peerLimits = try peerLimits(
            maxConnections: server.maxConnections, maxBufferedBodyBytes: server.maxBufferedBodyBytes, maxBodyBytes: limits.maxBodyBytes)

        let actionText = EnvironmentOption.string(noMatchAction, "SIGNET_NO_MATCH_ACTION", default: "deny")!
        guard let action = NoMatchAction(rawValue: actionText) else {
            throw ValidationError("--no-match-action must be deny, warn or allow, not \(actionText)")
        }
        let formatText = EnvironmentOption.string(logFormat, "SIGNET_LOG_FORMAT", default: "json")!
        guard let format = LogFormat(rawValue: formatText) else { throw ValidationError("--log-format must be json or text") }
        let levelText = EnvironmentOption.string(logLevel, "SIGNET_LOG_LEVEL", default: "info")!
        guard let level = Logger.Level(rawValue: levelText) else { throw ValidationError("unknown --log-level \(levelText)") }

        let (registry, credentials): (RegistryClientConfiguration, RegistryCredentialStore)
        do {
            (registry, credentials) = try registryFlags.resolve(useDefaultDockerConfig: false)
        } catch {
            throw ValidationError(error.description)
        }
        var verification = VerificationEngineConfiguration()
        verification.positiveTTL = try EnvironmentOption.duration(verificationCacheTTL, "SIGNET_VERIFICATION_CACHE_TTL", default: verification.positiveTTL)
        verification.negativeTTL = try EnvironmentOption.duration(
            verificationNegativeCacheTTL, "SIGNET_VERIFICATION_NEGATIVE_CACHE_TTL", default: verification.negativeTTL)
        verification.capacity = try EnvironmentOption.int(verificationCacheSize, "SIGNET_VERIFICATION_CACHE_SIZE", default: verification.capacity)
        verification.tagTTL = try EnvironmentOption.duration(tagCacheTTL, "SIGNET_TAG_CACHE_TTL", default: verification.tagTTL)
        guard verification.capacity > 0 else { throw ValidationError("--verification-cache-size must be positive") }

        let keySecretsDirectory = EnvironmentOption.string(keySecretsDir, "SIGNET_KEY_SECRETS_DIR", default: PolicyLoader.defaultKeySecretsDirectory)!
        let keySecrets: KeySecretsSource
        switch EnvironmentOption.string(keySecretsSource, "SIGNET_KEY_SECRETS_SOURCE", default: "directory")! {
        case "directory": keySecrets = .directory(keySecretsDirectory)
        case "api": keySecrets = .api
        case let other: throw ValidationError("--key-secrets-source must be directory or api, not \(other)")
        }

        let notaryCacheTTL = try EnvironmentOption.duration(notaryCacheTTL, "SIGNET_NOTARY_CACHE_TTL", default: .seconds(300))
        guard notaryCacheTTL >= .zero else { throw ValidationError("--notary-cache-ttl must not be negative") }
        var settings = ServeSettings(
            server: server, tls: tls, allowedClientNames: Set(allowedNames),
            registry: registry, registryCredentials: credentials, verification: verification,
            keySecretsDirectory: keySecretsDirectory, keySecrets: keySecrets,
            policyDirectory: EnvironmentOption.string(policyDir, "SIGNET_POLICY_DIR", default: "/etc/signet/policies")!,
            policyReloadInterval: try EnvironmentOption.duration(policyReloadInterval, "SIGNET_POLICY_RELOAD_INTERVAL", default: .seconds(5)),
            noMatchAction: action,
            maxAdmissionTime: try EnvironmentOption.duration(maxAdmissionTime, "SIGNET_MAX_ADMISSION_TIME", default: .seconds(28)),
            shutdownDelay: try EnvironmentOption.duration(shutdownDelay, "SIGNET_SHUTDOWN_DELAY", default: .zero),
            logFormat: format, logLevel: level)
        settings.notaryCacheTTL = notaryCacheTTL
        let pinning = EnvironmentOption.string(requirePinnedDigests, "SIGNET_REQUIRE_PINNED_DIGESTS", default: "false")!
        guard let requirePinned = Bool(pinning) else { throw ValidationError("--require-pinned-digests must be true or false") }
        settings.requirePinnedDigests = requirePinned
        // Every resource flag is checked here, before anything starts (the source is read again
        // when the policies are loaded).
        settings.continuous = try continuous.resolve(source: try resources.resolve(writeStatus: try status.resolve()).source)
        settings.alerts = try alerts.resolve()
        settings.console = try console.resolve(webhook: server)
        settings.metricsAuth = try metricsAccess.required()
        return settings
    }
}

/// `signet serve`'s settings after flags, environment and defaults are combined.
struct ServeSettings: Sendable {
    var server: HTTPServerConfiguration
    var tls: TLSServerConfiguration
    /// `--client-allowed-names`: empty lets any certificate from the client CA in.
    var allowedClientNames: Set<String>
    var registry: RegistryClientConfiguration
    var registryCredentials: RegistryCredentialStore
    var verification: VerificationEngineConfiguration
    var keySecretsDirectory: String
    var keySecrets: KeySecretsSource
    var policyDirectory: String
    var policyReloadInterval: Duration
    var noMatchAction: NoMatchAction
    var maxAdmissionTime: Duration
    var shutdownDelay: Duration
    var logFormat: LogFormat
    var logLevel: Logger.Level
    /// `--notary-cache-ttl`: how long a Notary v1 repository's verified metadata is reused.
    var notaryCacheTTL: Duration = .seconds(300)
    /// `--require-pinned-digests`: `/validate` denies a verified Pod image left named by tag.
    var requirePinnedDigests = false
    /// Continuous verification of running Pods; `nil` when off.
    var continuous: ContinuousSettings? = nil
    /// Where alerts go; `nil`: none.
    var alerts: AlertConfiguration? = nil
    /// The console's settings; `nil`: no console.
    var console: ConsoleSettings? = nil
    /// `--metrics-auth kubernetes`: `/metrics` answers only a reviewed bearer token.
    var metricsAuth = false
}

/// Turns SIGTERM/SIGINT into a callback on a dispatch queue (never on the cooperative pool).
///
/// `@unchecked Sendable`: the sources are created in `init` and only cancelled afterwards;
/// dispatch sources are thread-safe.
final class SignalWatcher: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    init(signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        let queue = DispatchQueue(label: "signet.signals")
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }

    func cancel() { sources.forEach { $0.cancel() } }
}
