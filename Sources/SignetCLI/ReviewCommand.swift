import ArgumentParser
import Foundation
import Logging
import NIOConcurrencyHelpers
import SignetAdmission
import SignetJSON
import SignetPolicy
import SignetRegistry
import SignetVerify
import Yams

/// `signet review -f FILE`: the decision `signet serve` would give, from the command line — the
/// twin of `kubectl apply --dry-run=server` for a workload or an AdmissionReview.
///
/// The file is an `admission.k8s.io/v1` AdmissionReview, or a bare object (Pod, Deployment,
/// ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController) in YAML or JSON;
/// a YAML file may hold several documents. Signatures are fetched and verified by the same
/// engine and registry flags as `serve` (a docker `config.json` is read as the command-line
/// tools do); `--offline` decides without a registry and says in each verdict that signatures
/// were not checked. Exit status: 0 all allowed, 1 any denied, 2 error.
struct ReviewCommand: ParsableCommand, AsynchronousCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Decide an AdmissionReview or a workload file offline, as the webhook would.",
        discussion: "Exit status: 0 allowed, 1 denied, 2 error (unreadable file, invalid policies, malformed review)."
    )

    @Option(name: [.customShort("f"), .long], help: "AdmissionReview, Pod or pod controller, in YAML or JSON ('-' for standard input).")
    var file: String

    @Option(name: .long, help: "Directory of policy YAML files. (env: SIGNET_POLICY_DIR, default ./policies)")
    var policyDir: String?

    @Option(name: .long, help: "Namespace for a bare object that names none. (default: default)")
    var namespace: String?

    @Option(name: .long, help: "What happens to images no policy covers: deny, warn (allowed with a warning naming the image) or allow. (env: SIGNET_NO_MATCH_ACTION, default deny)")
    var noMatchAction: String?

    @Option(name: .long, help: "Output: text or json (the AdmissionReview responses).")
    var output: OutputFormat = .text

    @Option(name: .long, help: "Directory of mounted Secrets for secretRef public keys: <dir>/<namespace>/<name>/<key>. (env: SIGNET_KEY_SECRETS_DIR, default /etc/signet/key-secrets)")
    var keySecretsDir: String?

    @Flag(name: .long, help: "Decide without a registry: signature authorities are not checked, and each verdict says so.")
    var offline = false

    @OptionGroup var registryFlags: RegistryFlags

    @OptionGroup var notationCRL: NotationCRLOptions

    @OptionGroup var exemptions: ExemptionOptions

    enum OutputFormat: String, ExpressibleByArgument {
        case text
        case json
    }

    func runAsynchronously() async throws {
        Observability.bootstrapLogging(format: .text, level: .warning)
        let directory = EnvironmentOption.string(policyDir, "SIGNET_POLICY_DIR", default: "policies")!
        let actionText = EnvironmentOption.string(noMatchAction, "SIGNET_NO_MATCH_ACTION", default: "deny")!
        guard let action = NoMatchAction(rawValue: actionText) else {
            throw fail("--no-match-action must be deny, warn or allow, not \(actionText)")
        }
        let policies: PolicySet
        let keySecrets = EnvironmentOption.string(keySecretsDir, "SIGNET_KEY_SECRETS_DIR", default: PolicyLoader.defaultKeySecretsDirectory)!
        do {
            policies = try PolicyLoader(logger: Logger(label: "signet.policy"), keySecretsDirectory: keySecrets).load(directory: directory)
        } catch {
            throw fail("cannot load policies from \(directory): \(error)")
        }
        let documents: [[UInt8]]
        do {
            documents = try ReviewInput.documents(in: try readInput())
        } catch {
            throw fail("\(file): \(error)")
        }
        guard !documents.isEmpty else { throw fail("\(file) holds no document") }

        let exemptionRules = try exemptions.configuration()
        let registry = try makeRegistryClient()
        defer { registry?.shutdown() }
        let crlDownloader = registry == nil ? nil : try notationCRL.downloader(or: fail)
        defer { crlDownloader?.shutdown() }
        let verifier: any AuthorityVerifier = registry.map {
            VerificationEngine(
                registry: $0, configuration: VerificationEngineConfiguration(), verifiers: StandardVerifiers.make(registry: $0, crlDownloader: crlDownloader),
                logger: Logger(label: "signet.verify"))
        } ?? OfflineVerifier()
        let evaluator = PolicyEvaluator(policies: policies, noMatchAction: action, verifier: verifier, exemptions: exemptionRules)
        var responder = AdmissionResponder(evaluator: evaluator, logger: Logger(label: "signet.admission"))
        responder.resourceValidator = SignetResourceValidator(configuration: exemptionRules)
        let records = CollectingAuditSink()
        responder.auditSink = records
        var anyDenied = false
        var rendered: [String] = []
        for (index, document) in documents.enumerated() {
            let body: [UInt8]
            do {
                body = try ReviewInput.reviewBody(for: document, namespace: namespace)
            } catch {
                throw fail("\(file), document \(index + 1): \(error)")
            }
            // The mutating webhook's answer first (Pods only): the patch that pins verified tags.
            let mutation = await responder.respondToMutation(body, deadline: .now + .seconds(25))
            let result = await responder.respond(to: body, deadline: .now + .seconds(25))
            guard result.status == 200 else {
                throw fail("\(file), document \(index + 1): \(String(decoding: result.body, as: UTF8.self))")
            }
            var summary = try ReviewSummary(responseJSON: result.body, record: records.take())
            summary.patch = mutation.status == 200 ? ReviewSummary.patch(in: mutation.body) : nil
            anyDenied = anyDenied || !summary.allowed
            switch output {
            case .json: rendered.append(String(decoding: result.body, as: UTF8.self))
            case .text: rendered.append(summary.render(documentIndex: documents.count > 1 ? index + 1 : nil))
            }
        }
        print(rendered.joined(separator: "\n"))
        if anyDenied { throw ExitCode(1) }
    }

    /// The registry client `serve` would use, or `nil` with `--offline`.
    private func makeRegistryClient() throws -> RegistryClient? {
        guard !offline else { return nil }
        do {
            let (configuration, credentials) = try registryFlags.resolve(useDefaultDockerConfig: true)
            return try RegistryClient(configuration: configuration, credentials: credentials, logger: Logger(label: "signet.registry"))
        } catch {
            throw fail("cannot start the registry client: \(error)")
        }
    }

    private func readInput() throws -> Data {
        if file == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ReviewInputError("cannot read the file")
        }
        return data
    }

    private func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("signet review: \(message)\n".utf8))
        return ExitCode(2)
    }
}

struct ReviewInputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The verifier of `signet review --offline`: every signature authority is left unchecked, and
/// its verdict says so (the webhook never decides this way).
struct OfflineVerifier: AuthorityVerifier {
    struct NotChecked: Error, CustomStringConvertible {
        var description: String { "signatures were not checked (signet review --offline)" }
    }

    func verify(
        image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant
    ) async throws -> AuthorityVerdict {
        throw NotChecked()
    }
}

/// Keeps the audit record of the review being decided, for the per-image lines of the text output.
final class CollectingAuditSink: AuditSink {
    private let last = NIOLockedValueBox<AdmissionAuditRecord?>(nil)

    func record(_ record: AdmissionAuditRecord) {
        // The extra record of an emergency bypass repeats the admission's; keep the admission's.
        guard record.event == "admission" else { return }
        last.withLockedValue { $0 = record }
    }

    /// The record of the last decision, cleared.
    func take() -> AdmissionAuditRecord? {
        last.withLockedValue { record in
            defer { record = nil }
            return record
        }
    }
}

/// Turns a review file into AdmissionReview request bodies.
enum ReviewInput {
    /// Each document of a JSON or (multi-document) YAML file, as JSON bytes.
    static func documents(in data: Data) throws -> [[UInt8]] {
        let text = String(decoding: data, as: UTF8.self)
        let trimmed = text.drop { $0.isWhitespace }
        if trimmed.first == "{" {
            // A member named twice reads one way to kubectl (the last) and another to a reader
            // that keeps the first: refused, as the YAML reader refuses a repeated key.
            do {
                try UntrustedJSON.check(Array(data), limits: .admissionReview)
            } catch {
                throw ReviewInputError("not JSON signet reads: \(error)")
            }
            guard (try? JSONSerialization.jsonObject(with: data)) != nil else {
                throw ReviewInputError("not valid JSON")
            }
            return [Array(data)]
        }
        var result: [[UInt8]] = []
        do {
            let parser = try Parser(yaml: text)
            var expansion = YAMLExpansion.Budget()
            while let node = try parser.nextRoot() {
                try expansion.spend(on: node)
                let document = Constructor.default.any(from: node)
                guard JSONSerialization.isValidJSONObject(document) else {
                    throw ReviewInputError("a YAML document is not an object")
                }
                result.append(Array(try JSONSerialization.data(withJSONObject: document)))
            }
        } catch let error as ReviewInputError {
            throw error
        } catch {
            throw ReviewInputError("not valid YAML or JSON: \(error)")
        }
        return result
    }

    /// The document itself when it is an AdmissionReview, else a synthetic CREATE review of it.
    static func reviewBody(for document: [UInt8], namespace: String?) throws -> [UInt8] {
        let object = try JSONSerialization.jsonObject(with: Data(document)) as? [String: Any]
        if object?["kind"] as? String == "AdmissionReview" { return document }
        return try AdmissionReview.makeSynthetic(objectJSON: document, namespace: namespace)
    }
}

/// The parts of an AdmissionReview response a person reads.
struct ReviewSummary {
    let allowed: Bool
    let message: String?
    let warnings: [String]
    /// The decision per image, when images were evaluated.
    let verdicts: [ImageVerdict]
    /// The JSON Patch `/mutate` would apply (images pinned to their verified digests), if any.
    var patch: String?

    /// The decoded `response.patch` of a `/mutate` answer.
    static func patch(in responseJSON: [UInt8]) -> String? {
        guard let review = try? JSONSerialization.jsonObject(with: Data(responseJSON)) as? [String: Any],
              let encoded = (review["response"] as? [String: Any])?["patch"] as? String,
              let bytes = Data(base64Encoded: encoded) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    init(responseJSON: [UInt8], record: AdmissionAuditRecord?) throws {
        guard let review = try JSONSerialization.jsonObject(with: Data(responseJSON)) as? [String: Any],
            let response = review["response"] as? [String: Any]
        else { throw ReviewInputError("the responder returned no AdmissionReview response") }
        allowed = response["allowed"] as? Bool ?? false
        message = (response["status"] as? [String: Any])?["message"] as? String
        warnings = response["warnings"] as? [String] ?? []
        verdicts = record?.verdicts ?? []
    }

    func render(documentIndex: Int?) -> String {
        var lines: [String] = []
        let prefix = documentIndex.map { "document \($0): " } ?? ""
        lines.append(prefix + (allowed ? "ALLOWED" : "DENIED"))
        if let message, !allowed { lines.append("  reason: \(message)") }
        for warning in warnings { lines.append("  warning: \(warning)") }
        for verdict in verdicts {
            lines.append("  image \(verdict.reference ?? verdict.image) (\(verdict.containerType.rawValue) \"\(verdict.container)\"): \(verdict.outcome.rawValue)")
            for result in verdict.results {
                for authority in result.authorities {
                    lines.append("    policy \"\(result.policy)\", authority \"\(authority.authority)\": \(authority.status.rawValue): \(authority.reason)")
                }
            }
            if verdict.results.isEmpty { lines.append("    \(verdict.reason)") }
        }
        if let patch { lines.append("  patch (the mutating webhook pins verified digests): \(patch)") }
        return lines.joined(separator: "\n")
    }
}
