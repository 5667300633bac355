import ArgumentParser
import Foundation
import Logging
import SignetConsole
import SignetCrypto
import SignetHistory
import SignetNotary
import SignetPolicy
import SignetRegistry
import SignetVerify

/// `signet verify IMAGE --key FILE`: checks an image's cosign key-based signatures
/// (sigstore/cosign `specs/SIGNATURE_SPEC.md`) against public keys, the way a `key` authority
/// of a ClusterImagePolicy would, and prints every step. With `--certificate-identity` and
/// `--certificate-oidc-issuer` (or their `-regexp` forms, cosign's flags) it checks keyless
/// signatures instead, as a `keyless` authority would: `.sig` layers and Sigstore bundle
/// referrers, against `--trusted-root` or the embedded production root. With `--notary-server`
/// and `--root-key` it checks Docker Content Trust (Notary v1) as a `notaryV1` authority would,
/// and prints the roles, key IDs, thresholds and expiry dates that vouched for the digest.
/// With `--attestation TYPE` (and `--condition`) it checks in-toto attestations instead, as an
/// `attestations` authority would, signed by `--key` or the keyless identity, and prints each
/// attestation verified, its subject and signer, the predicate fields the conditions read and
/// each condition's outcome.
/// With `--history-sqlite` or `--history-postgres-dsn-file` the result is also recorded in the
/// verification history (an entry of source `verification`).
///
/// Exit status: 0 verified, 1 not verified, 2 error (unreadable key, registry unreachable,
/// deadline passed).
struct VerifyCommand: ParsableCommand, AsynchronousCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify an image's cosign signatures (key-based, or keyless with --certificate-identity), Notation signatures (--notation-trust-policy) or Docker Content Trust (--notary-server).",
        discussion: "Exit status: 0 verified, 1 not verified, 2 error (unreadable key, registry unreachable, deadline passed)."
    )

    @Argument(help: "The image, by tag or digest (e.g. ghcr.io/org/app:1.0).")
    var image: String

    @Option(name: .long, help: "PEM public key file; repeatable.")
    var key: [String] = []

    @Option(name: .long, help: "How many distinct keys (or, with --notary-server, delegations) must have signed. (default 1; with --delegation, all)")
    var threshold: Int?

    @Option(name: .long, help: "Required payload annotation key=value; repeatable.")
    var annotation: [String] = []

    @Option(name: .long, help: "Keyless: the certificate's subject (SAN) exactly.")
    var certificateIdentity: String?

    @Option(name: .long, help: "Keyless: a regular expression the whole subject (SAN) must match.")
    var certificateIdentityRegexp: String?

    @Option(name: .long, help: "Keyless: the OIDC issuer exactly.")
    var certificateOidcIssuer: String?

    @Option(name: .long, help: "Keyless: a regular expression the whole OIDC issuer must match.")
    var certificateOidcIssuerRegexp: String?

    @Option(name: .long, help: "Keyless: a Sigstore trusted_root.json. (default: the embedded production root)")
    var trustedRoot: String?

    @Option(name: .long, help: "Notation: a trustpolicy.json document; the image is checked against it.")
    var notationTrustPolicy: String?

    @Option(name: .long, help: "Notation: a trust store directory (x509/{ca,signingAuthority,tsa}/{name}/*.crt).")
    var trustStore: String?

    @Option(name: .long, help: "Notary v1: the Notary server's URL (Docker Content Trust).")
    var notaryServer: String?

    @Option(name: .long, help: "Notary v1: the repository's pinned root key or root certificate (PEM file); repeatable.")
    var rootKey: [String] = []

    @Option(name: .long, help: "Notary v1: how many of the --root-key keys must have signed the root, whatever its own threshold says. (default 1)")
    var rootThreshold: Int?

    @Option(name: .long, help: "Notary v1: a role that must have signed the tag (targets or targets/<name>); repeatable. (default targets/releases, else targets)")
    var delegation: [String] = []

    @Option(name: .long, help: "Notary v1: PEM bundle of the CAs the Notary server's certificate chains to.")
    var notaryCa: String?

    @Option(name: .long, help: "Attestation: a predicate type the image must carry (a URI or one of cosign's aliases: slsaprovenance1, spdxjson, cyclonedx, vuln, openvex, ...), signed by --key or the keyless identity; repeatable.")
    var attestation: [String] = []

    @Option(name: .long, help: "Attestation: a condition its predicate must meet, as a policy writes it (e.g. '{path: runDetails.builder.id, operator: equals, value: https://...}'); repeatable; with one --attestation.")
    var condition: [String] = []

    @Option(name: .long, help: "Output: text or json (the verification result).")
    var output: OutputFormat = .text

    @Option(name: .long, help: "Time allowed for the whole verification. (default 30s)")
    var timeout: String = "30s"

    @OptionGroup var registryFlags: RegistryFlags

    @OptionGroup var notationCRL: NotationCRLOptions

    @OptionGroup var history: HistoryOptions

    enum OutputFormat: String, ExpressibleByArgument {
        case text
        case json
    }

    func runAsynchronously() async throws {
        Observability.bootstrapLogging(format: .text, level: .warning)
        let reference: ImageReference
        do {
            reference = try ImageReference(parsing: image)
        } catch {
            throw fail("\(error)")
        }
        let keyless = [certificateIdentity, certificateIdentityRegexp, certificateOidcIssuer, certificateOidcIssuerRegexp, trustedRoot]
            .contains { $0 != nil }
        let notation = notationTrustPolicy != nil || trustStore != nil
        let notary = notaryServer != nil || !rootKey.isEmpty || !delegation.isEmpty || notaryCa != nil || rootThreshold != nil
        guard [!key.isEmpty, keyless, notation, notary].filter({ $0 }).count <= 1 else {
            throw fail("--key, the keyless options, --notation-trust-policy and the Notary options exclude each other")
        }
        guard !notation || (notationTrustPolicy != nil && trustStore != nil) else {
            throw fail("--notation-trust-policy and --trust-store go together")
        }
        guard !key.isEmpty || keyless || notation || notary else {
            throw fail("at least one --key, or --certificate-identity and --certificate-oidc-issuer, is required (or --notation-trust-policy, or --notary-server and --root-key)")
        }
        guard let limit = GoDuration.parse(timeout) else { throw fail("--timeout \(timeout) is not a duration") }
        guard condition.isEmpty || attestation.count == 1 else { throw fail("--condition goes with exactly one --attestation") }
        guard attestation.isEmpty || !(notation || notary) else { throw fail("--attestation is signed by --key or a keyless identity") }
        var authority: ClusterImagePolicy.Authority
        if notary {
            guard let notaryServer, !rootKey.isEmpty else { throw fail("--notary-server and at least one --root-key are required for Docker Content Trust") }
            authority = .init(name: "notary-v1", notaryV1: .init(
                server: notaryServer, rootKeys: rootKey.map { .init(file: $0) }, delegations: delegation.isEmpty ? nil : delegation,
                threshold: threshold, caBundleFile: notaryCa, rootThreshold: rootThreshold))
        } else if let notationTrustPolicy, let trustStore {
            authority = .init(name: "notation", notation: .init(trustPolicyFile: notationTrustPolicy, trustStoreDirectory: trustStore))
        } else if keyless {
            let identity = ClusterImagePolicy.KeylessIdentity(
                issuer: certificateOidcIssuer, issuerRegExp: certificateOidcIssuerRegexp,
                subject: certificateIdentity, subjectRegExp: certificateIdentityRegexp)
            authority = .init(name: "keyless", keyless: .init(identities: [identity], trustRoot: trustedRoot.map { .init(file: $0) }))
        } else {
            let keys = key.map { ClusterImagePolicy.PublicKeySource(file: $0) }
            var annotations: [String: String] = [:]
            for entry in annotation {
                let parts = entry.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw fail("--annotation \(entry) is not key=value") }
                annotations[String(parts[0])] = String(parts[1])
            }
            authority = .init(name: "key", key: .init(publicKeys: keys, threshold: threshold ?? 1, annotations: annotations.isEmpty ? nil : annotations))
        }
        if !attestation.isEmpty {
            authority = try attestationAuthority(signer: authority)
        }
        let definition = ClusterImagePolicy(name: "signet-verify", spec: .init(images: [.init(glob: "**")], authorities: [authority]))
        let policy: CompiledPolicy
        do {
            policy = try PolicyLoader().compile(definition, source: PolicySourceLocation(file: "command line", document: 1))
        } catch {
            throw fail(keyless ? Self.keylessFlagMessage(error) : error.message.replacingOccurrences(of: "public key file", with: "key file"))
        }

        let configuration: RegistryClientConfiguration
        let credentials: RegistryCredentialStore
        do {
            (configuration, credentials) = try registryFlags.resolve(useDefaultDockerConfig: true)
        } catch {
            throw fail("\(error)")
        }
        let registry: RegistryClient
        do {
            registry = try RegistryClient(configuration: configuration, credentials: credentials)
        } catch {
            throw fail("\(error)")
        }
        defer { registry.shutdown() }
        let crlDownloader = try notationCRL.downloader(or: fail)
        defer { crlDownloader?.shutdown() }
        let engine = VerificationEngine(
            registry: registry,
            verifiers: StandardVerifiers.make(registry: registry, notary: NotaryRepositoryClient(credentials: credentials), crlDownloader: crlDownloader))
        let historyLocation: HistoryOptions.Location?
        do {
            historyLocation = try history.location()
        } catch {
            throw fail("\(error)")
        }
        let started = ContinuousClock.now
        let result: VerificationResult
        do {
            result = try await engine.verify(
                image: reference, authority: policy.authorities[0], policy: policy.name,
                revision: VerificationEngine.revision(of: policy), deadline: .now + limit)
        } catch {
            throw fail("could not verify \(reference): \(error)")
        }
        if let historyLocation {
            // Recorded before the result is printed: a history that cannot be written is an error.
            do {
                let store = try await HistoryOptions.open(historyLocation, logger: Logger(label: "signet.history"))
                let entry = HistoryEntry.verification(result, image: image, time: Date(), latency: ContinuousClock.now - started)
                do {
                    try await store.append([entry])
                } catch {
                    await store.close()
                    throw error
                }
                await store.close()
            } catch {
                throw fail("cannot record the verification in the history: \(error)")
            }
        }
        switch output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        case .text:
            print(Self.render(result))
            if case .attestations(let trust) = policy.authorities[0].kind {
                print(Self.renderAttestations(result, trust: trust, now: Date()))
            }
        }
        if !result.passed { throw ExitCode(1) }
    }

    static func render(_ result: VerificationResult) -> String {
        var lines = ["\(result.passed ? "VERIFIED" : "NOT VERIFIED"): \(result.image)", "digest: \(result.digest)", "reason: \(result.reason)"]
        for step in result.steps {
            lines.append("  [\(step.passed ? "ok" : "FAIL")] \(step.name): \(step.detail)")
        }
        for signer in result.signers {
            if let identity = signer.identity, signer.issuer == nil {
                lines.append("signer: \(identity): \(signer.key), \(signer.algorithm), sha256:\(signer.fingerprint)")
            } else if let identity = signer.identity {
                lines.append("signer: \(identity), issuer \(signer.issuer ?? "?"), \(signer.key)")
            } else {
                lines.append("signer: \(signer.key), \(signer.algorithm), sha256:\(signer.fingerprint)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A policy error about the keyless authority, in terms of the flags that made it.
    static func keylessFlagMessage(_ error: PolicyLoadError) -> String {
        error.message
            .replacingOccurrences(of: "issuerRegExp", with: "--certificate-oidc-issuer-regexp")
            .replacingOccurrences(of: "subjectRegExp", with: "--certificate-identity-regexp")
            .replacingOccurrences(of: "one of issuer,", with: "one of --certificate-oidc-issuer,")
            .replacingOccurrences(of: "one of subject,", with: "one of --certificate-identity,")
            .replacingOccurrences(of: "trust root file", with: "--trusted-root file")
    }

    private func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("signet verify: \(message)\n".utf8))
        return ExitCode(2)
    }
}
