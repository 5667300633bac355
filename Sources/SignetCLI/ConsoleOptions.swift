import ArgumentParser
import Foundation
import Logging
import SignetAdmission
import SignetConsole
import SignetHTTP
import SignetHistory
import SignetKube

/// `signet serve`'s console flags: off unless `--console-port` is given, never on the webhook's
/// port; the same serving certificate; the Kubernetes API (in-cluster configuration) reviews
/// every console token. Each flag has an environment-variable twin.
struct ConsoleOptions: ParsableArguments {
    @Option(name: .customLong("console-port"), help: "Serve the verification console over HTTPS on this port (not the webhook's). (env: SIGNET_CONSOLE_PORT, default: no console)")
    var port: Int?

    @Option(name: .customLong("console-address"), help: "Address the console listens on. (env: SIGNET_CONSOLE_ADDRESS, default: --address)")
    var address: String?

    @Option(name: .customLong("console-auth-cache-ttl"), help: "How long a token's TokenReview and SubjectAccessReview answers are reused. (env: SIGNET_CONSOLE_AUTH_CACHE_TTL, default 10s)")
    var authCacheTTL: String?

    @Option(name: .customLong("console-token-audience"), help: "Accept only console tokens issued for this audience (repeatable; kubectl create token ACCOUNT --audience AUDIENCE), so a console token is no good against the API server. (env: SIGNET_CONSOLE_TOKEN_AUDIENCES, comma-separated; default: the API server's own audience)")
    var tokenAudiences: [String] = []

    /// Connections one address may hold on the console (of at most 256): a browser opens a few,
    /// and an ingress in front of the console shares this among the users behind it.
    static let maximumConnectionsPerPeer = 64
    /// The largest request body the console reads (a token, a form, a verification request).
    static let maximumBodyBytes = 64 << 10

    /// The console's settings, or nil when it is off.
    func resolve(webhook: HTTPServerConfiguration) throws -> ConsoleSettings? {
        let port = try EnvironmentOption.int(port, "SIGNET_CONSOLE_PORT", default: 0)
        guard port != 0 else { return nil }
        guard (1...65535).contains(port) else { throw ValidationError("--console-port must be between 1 and 65535") }
        guard port != webhook.port else { throw ValidationError("--console-port must differ from --port: the console never shares the webhook's port") }
        var server = webhook
        server.port = port
        server.host = EnvironmentOption.string(address, "SIGNET_CONSOLE_ADDRESS", default: webhook.host)!
        server.eventLoopThreads = 1
        server.maxConnections = min(webhook.maxConnections, 256)
        // One address cannot hold every console connection (the sign-in page needs no token).
        server.peerLimits = PeerConnectionLimits(maxConnectionsPerPeer: Self.maximumConnectionsPerPeer)
        server.beforeAnswersAreSent = nil
        // Forms and verification requests of a few kilobytes, not the webhook's 8 MiB reviews:
        // the sign-in page takes bodies from anyone.
        server.parserLimits.maxBodyBytes = Self.maximumBodyBytes
        let ttl = try EnvironmentOption.duration(authCacheTTL, "SIGNET_CONSOLE_AUTH_CACHE_TTL", default: .seconds(10))
        guard ttl >= .zero else { throw ValidationError("--console-auth-cache-ttl must not be negative") }
        let audiences = EnvironmentOption.list(tokenAudiences, "SIGNET_CONSOLE_TOKEN_AUDIENCES")
        let asked = !tokenAudiences.isEmpty || EnvironmentOption.string(nil, "SIGNET_CONSOLE_TOKEN_AUDIENCES") != nil
        guard !asked || !audiences.isEmpty else {
            // A blank list would quietly accept tokens for the API server's own audience.
            throw ValidationError("--console-token-audience (SIGNET_CONSOLE_TOKEN_AUDIENCES) names no audience: give one, or leave it out to accept tokens for the API server's own audience")
        }
        return ConsoleSettings(server: server, authCacheTTL: ttl, tokenAudiences: audiences)
    }
}

/// The console's settings after flags and environment.
struct ConsoleSettings: Sendable {
    var server: HTTPServerConfiguration
    var authCacheTTL: Duration
    /// The audiences a console token must be issued for; empty: the API server's own.
    var tokenAudiences: [String]
}

/// The running console: its HTTPS server and what it shares with admission.
struct ConsoleRuntime: Sendable {
    let server: HTTPServer
    let feed: DecisionFeed

    /// Starts the console on `settings.server` with the webhook's TLS files, deciding with the
    /// evaluator `responder` uses (and the namespace labels it knows); the Kubernetes API reviews
    /// tokens. With a history, the History and Overview pages read its store and each finished
    /// verification is recorded in it (source `console`, the reviewed user).
    static func start(
        settings: ConsoleSettings, tls: TLSServerConfiguration, responder: AdmissionResponder, feed: DecisionFeed,
        history: HistoryRecorder?, logger: Logger
    ) throws -> ConsoleRuntime {
        let client: KubernetesClient
        do {
            client = try PolicySourceRuntime.makeKubernetesClient(label: "signet.console.kube")
        } catch {
            logger.critical("the console needs the Kubernetes API to review tokens", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        let consoleLogger = Logger(label: "signet.console")
        let authorizer = KubernetesConsoleAuthorizer(
            client: client, rules: ConsoleAccessRules(), cacheTTL: settings.authCacheTTL, cacheCapacity: 1024,
            audiences: settings.tokenAudiences, logger: consoleLogger)
        let evaluator = responder.evaluator
        let runner = VerificationRunner(
            evaluator: evaluator, namespaceLabels: responder.namespaceLabels, logger: consoleLogger,
            finished: { run in
                guard let history, let entry = HistoryEntry.console(run, time: Date()) else { return }
                history.record(entry)
            })
        var handler = ConsoleRequestHandler(
            authorizer: authorizer, runner: runner, feed: feed, history: history?.store, policies: { evaluator().policies },
            logger: consoleLogger)
        handler.tokenAudience = settings.tokenAudiences.first
        logger.info("console tokens", metadata: [
            "audiences": "\(settings.tokenAudiences.isEmpty ? "the API server's own" : settings.tokenAudiences.joined(separator: ","))",
        ])
        let certificates: CertificateReloader
        do {
            certificates = try CertificateReloader(configuration: tls, logger: Logger(label: "signet.console.tls"))
        } catch {
            logger.critical("cannot load the console's serving certificate", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        let server = try HTTPServer(
            configuration: settings.server, certificates: certificates, handler: handler, logger: Logger(label: "signet.console.http"))
        do {
            try server.start()
        } catch {
            logger.critical("the console cannot listen", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        return ConsoleRuntime(server: server, feed: feed)
    }
}
