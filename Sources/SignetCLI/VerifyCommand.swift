import ArgumentParser
import Foundation
import Logging
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetVerify

/// `signet verify IMAGE --key FILE`: checks an image's cosign key-based signatures
/// (sigstore/cosign `specs/SIGNATURE_SPEC.md`) against public keys, the way a `key` authority
/// of a ClusterImagePolicy would, and prints every step.
///
/// Exit status: 0 verified, 1 not verified, 2 error (unreadable key, registry unreachable,
/// deadline passed).
struct VerifyCommand: ParsableCommand, AsynchronousCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify an image's cosign key-based signatures.",
        discussion: "Exit status: 0 verified, 1 not verified, 2 error (unreadable key, registry unreachable, deadline passed)."
    )

    @Argument(help: "The image, by tag or digest (e.g. ghcr.io/org/app:1.0).")
    var image: String

    @Option(name: .long, help: "PEM public key file; repeatable.")
    var key: [String] = []

    @Option(name: .long, help: "How many distinct keys must have signed. (default 1)")
    var threshold: Int = 1

    @Option(name: .long, help: "Required payload annotation key=value; repeatable.")
    var annotation: [String] = []

    @Option(name: .long, help: "Output: text or json (the verification result).")
    var output: OutputFormat = .text

    @Option(name: .long, help: "Time allowed for the whole verification. (default 30s)")
    var timeout: String = "30s"

    @OptionGroup var registryFlags: RegistryFlags

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
        guard !key.isEmpty else { throw fail("at least one --key is required") }
        guard let limit = GoDuration.parse(timeout) else { throw fail("--timeout \(timeout) is not a duration") }
        let keys = key.map { ClusterImagePolicy.PublicKeySource(file: $0) }
        var annotations: [String: String] = [:]
        for entry in annotation {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw fail("--annotation \(entry) is not key=value") }
            annotations[String(parts[0])] = String(parts[1])
        }
        let definition = ClusterImagePolicy(name: "signet-verify", spec: .init(
            images: [.init(glob: "**")],
            authorities: [.init(name: "key", key: .init(publicKeys: keys, threshold: threshold, annotations: annotations.isEmpty ? nil : annotations))]))
        let policy: CompiledPolicy
        do {
            policy = try PolicyLoader().compile(definition, source: PolicySourceLocation(file: "command line", document: 1))
        } catch {
            throw fail(error.message.replacingOccurrences(of: "public key file", with: "key file"))
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
        let engine = VerificationEngine(registry: registry)
        let result: VerificationResult
        do {
            result = try await engine.verify(
                image: reference, authority: policy.authorities[0], policy: policy.name,
                revision: VerificationEngine.revision(of: policy), deadline: .now + limit)
        } catch {
            throw fail("could not verify \(reference): \(error)")
        }
        switch output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        case .text:
            print(Self.render(result))
        }
        if !result.passed { throw ExitCode(1) }
    }

    static func render(_ result: VerificationResult) -> String {
        var lines = ["\(result.passed ? "VERIFIED" : "NOT VERIFIED"): \(result.image)", "digest: \(result.digest)", "reason: \(result.reason)"]
        for step in result.steps {
            lines.append("  [\(step.passed ? "ok" : "FAIL")] \(step.name): \(step.detail)")
        }
        for signer in result.signers {
            lines.append("signer: \(signer.key), \(signer.algorithm), sha256:\(signer.fingerprint)")
        }
        return lines.joined(separator: "\n")
    }

    private func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("signet verify: \(message)\n".utf8))
        return ExitCode(2)
    }
}
