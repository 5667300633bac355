import Foundation
import SignetRegistry
import SignetVerify
import SignetTestSupport
import Testing

/// `signet verify IMAGE --notation-trust-policy FILE --trust-store DIR` on the Notation vector
/// images pushed to Debian's docker-registry: each check's outcome, the chain and the signing
/// time's source are printed; a store of another certificate fails authenticity; the flags are
/// checked before anything is fetched.
@Suite("signet verify, Notation", .serialized)
struct NotationVerifyCommandTests {
    @Test func trustPolicyAndTrustStoreFlags() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        defer { registry.stop() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        defer { client.shutdown() }
        let signed = try await NotationLayouts.push("e2e-valid-signature", to: registry, client: client, repository: "cli/app")
        let unsigned = try await NotationLayouts.push("e2e", to: registry, client: client, repository: "cli/unsigned")

        let work = TemporaryDirectory(prefix: "signet-notation-cli")
        let policyFile = try work.write("trustpolicy.json", try NotationLayouts.trustPolicy("trustpolicy.json")).path
        /// A Notation trust store directory (`x509/ca/e2e/`) holding `certificate`.
        func store(_ name: String, holding certificate: String) throws -> String {
            let directory = work.url.appendingPathComponent("\(name)/x509/ca/e2e")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: NotationLayouts.certificateFile(certificate), toPath: directory.appendingPathComponent(certificate).path)
            return work.url.appendingPathComponent(name).path
        }
        let trusted = try store("trusted", holding: "e2e.crt")
        let other = try store("other", holding: "new_e2e.crt")
        let binary = TestPaths.signetBinary.path
        func verify(_ image: ImageReference, _ flags: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await offThePool { try TestProcess.run(binary, ["verify", image.description, "--allow-insecure-registry", registry.host] + flags) }
        }

        let verified = try await verify(signed, ["--notation-trust-policy", policyFile, "--trust-store", trusted])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.hasPrefix("VERIFIED: "), "\(verified.stdout)")
        for check in ["integrity", "authenticity", "expiry", "authenticTimestamp", "revocation"] {
            #expect(verified.stdout.contains(" \(check): "), "prints the \(check) check: \(verified.stdout)")
        }
        #expect(verified.stdout.contains("[ok]"), "\(verified.stdout)")
        #expect(verified.stdout.contains("signing time: time of verification"), "the signing time's source: \(verified.stdout)")
        #expect(verified.stdout.contains("certificate chain: "), "\(verified.stdout)")
        #expect(verified.stdout.contains("trust policy statement \"e2e\""), "\(verified.stdout)")

        let untrusted = try await verify(signed, ["--notation-trust-policy", policyFile, "--trust-store", other])
        #expect(untrusted.status == 1, "\(untrusted.stdout)\(untrusted.stderr)")
        #expect(untrusted.stdout.hasPrefix("NOT VERIFIED: "), "\(untrusted.stdout)")
        #expect(untrusted.stdout.contains("authenticity validation failed"), "\(untrusted.stdout)")
        #expect(untrusted.stdout.contains("[FAIL]"), "\(untrusted.stdout)")

        let none = try await verify(unsigned, ["--notation-trust-policy", policyFile, "--trust-store", trusted])
        #expect(none.status == 1, "\(none.stdout)\(none.stderr)")
        #expect(none.stdout.contains("no Notation signatures"), "\(none.stdout)")

        let half = try await verify(signed, ["--notation-trust-policy", policyFile])
        #expect(half.status == 2)
        #expect(half.stderr.contains("--notation-trust-policy and --trust-store go together"), "\(half.stderr)")

        let mixed = try await verify(signed, ["--notation-trust-policy", policyFile, "--trust-store", trusted, "--key", policyFile])
        #expect(mixed.status == 2)
        #expect(mixed.stderr.contains("exclude each other"), "\(mixed.stderr)")

        let missing = try await verify(signed, ["--notation-trust-policy", work.url.appendingPathComponent("absent.json").path, "--trust-store", trusted])
        #expect(missing.status != 0, "\(missing.stdout)\(missing.stderr)")
    }
}

/// Discovery through the referrers API itself: the `e2e-valid-signature` layout served by a
/// local OCI endpoint that answers `/v2/<name>/referrers/<digest>` and has no `sha256-<hex>` tag
/// index, so a signature is found only through the API.
@Suite("Notation discovery through the referrers API", .serialized)
struct NotationReferrersAPITests {
    @Test func signatureFoundThroughReferrersAPIAndVerified() async throws {
        let layout = NotationLayouts.root.appendingPathComponent("registry/oci_layout/e2e-valid-signature")
        let registry = try await OCIReferrersRegistry.start(layout: layout, repository: "referrers/app")
        defer { registry.stop() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        defer { client.shutdown() }
        let engine = VerificationEngine(registry: client, verifiers: [NotationSignatureVerifier(registry: client, clock: .fixed(NotationLayouts.pinnedTime))])
        func verify(certificate: String) async throws -> VerificationResult {
            let policy = try NotationLayouts.compile(NotationLayouts.policyYAML(
                glob: "\(registry.host)/**", trustPolicy: try NotationLayouts.trustPolicy("trustpolicy.json"),
                certificate: NotationLayouts.certificateFile(certificate)))
            return try await engine.verify(
                image: try ImageReference(parsing: "\(registry.host)/referrers/app:v1"), authority: policy.authorities[0], policy: policy.name,
                revision: UUID().uuidString, deadline: TestBudget.deadline())
        }

        let trusted = try await verify(certificate: "e2e.crt")
        #expect(trusted.passed, "\(trusted.reason)")
        let discovery = trusted.steps.first { $0.name == "signatures" }
        #expect(discovery?.detail.contains("referrers API") == true, "\(trusted.steps.map { "\($0.name): \($0.detail)" })")
        #expect(registry.requests.contains { $0.hasPrefix("GET /v2/referrers/app/referrers/sha256:") }, "\(registry.requests)")
        #expect(!registry.requests.contains { $0.contains("/manifests/sha256-") }, "the tag fallback was not needed: \(registry.requests)")

        let untrusted = try await verify(certificate: "new_e2e.crt")
        #expect(!untrusted.passed)
        #expect(untrusted.reason.contains("authenticity validation failed"), "\(untrusted.reason)")
    }
}
