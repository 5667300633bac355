import Foundation
import SignetTestSupport
import Testing

/// `signet review` with a PolicyException in the policy directory, and `signet lint`, on the
/// built binary, with `--now` pinning the time the expiry rules are decided at.
@Suite
struct ResourceCommandTests {
    let policies = TemporaryDirectory(prefix: "signet-resources")
    let scratch = TemporaryDirectory(prefix: "signet-resources-scratch")

    static let policy = """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: deny-untrusted
        spec:
          images:
            - glob: "docker.io/**"
          authorities:
            - name: block-docker-hub
              static:
                action: fail
                message: "Docker Hub images are not signed"
        """

    static let exception = """
        apiVersion: signet.dev/v1alpha1
        kind: PolicyException
        metadata:
          name: vendor-nginx
          namespace: billing
        spec:
          policies: [deny-untrusted]
          images:
            - glob: "nginx"
          reason: "vendor image"
          ticket: "SEC-1234"
          approvedBy: "security@example.com"
          validUntil: "2026-12-01T00:00:00Z"
        """

    static let pod = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
          namespace: billing
        spec:
          containers:
            - name: web
              image: nginx:1.25
        """

    func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await TestProcess.run(TestPaths.signetBinary.path, arguments)
    }

    @Test func reviewAllowsUnderAnActiveExceptionAndDeniesAfterValidUntil() async throws {
        try policies.write("policy.yaml", Self.policy)
        try policies.write("exception.yaml", Self.exception)
        let pod = try scratch.write("pod.yaml", Self.pod)

        let before = try await run(["review", "-f", pod.path, "--policy-dir", policies.path, "--now", "2026-11-30T23:59:59Z"])
        #expect(before.status == 0, "\(before.stdout)\(before.stderr)")
        #expect(before.stdout.contains("ALLOWED"))
        #expect(before.stdout.contains("PolicyException \"billing/vendor-nginx\""))
        #expect(before.stdout.contains("valid until 2026-12-01T00:00:00Z"))

        let after = try await run(["review", "-f", pod.path, "--policy-dir", policies.path, "--now", "2026-12-01T00:00:01Z"])
        #expect(after.status == 1, "\(after.stdout)\(after.stderr)")
        #expect(after.stdout.contains("DENIED"))
        #expect(after.stdout.contains("denied by policy \"deny-untrusted\""))

        // The environment twin of --now.
        let viaEnvironment = try await TestProcess.run(
            TestPaths.signetBinary.path, ["review", "-f", pod.path, "--policy-dir", policies.path],
            environment: ["SIGNET_NOW": "2026-11-30T00:00:00Z"])
        #expect(viaEnvironment.status == 0)
    }

    @Test func lintAcceptsGoodFilesAndNamesEveryProblem() async throws {
        try policies.write("policy.yaml", Self.policy)
        try policies.write("exception.yaml", Self.exception)
        let good = try await run(["lint", policies.path, "--now", "2026-11-22T00:00:00Z"])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("ok: 2 files valid"))

        let expired = try await run(["lint", policies.path, "--now", "2026-12-02T00:00:00Z"])
        #expect(expired.status == 1)
        #expect(expired.stdout.contains("exception.yaml, document 1, spec.validUntil: PolicyException \"billing/vendor-nginx\" has already expired"))

        let bad = TemporaryDirectory(prefix: "signet-lint-bad")
        try bad.write("open-ended.yaml", Self.exception.replacingOccurrences(of: "  validUntil: \"2026-12-01T00:00:00Z\"", with: ""))
        try bad.write("bypass.yaml", """
            apiVersion: signet.dev/v1alpha1
            kind: EmergencyBypass
            metadata:
              name: forever
            spec:
              allNamespaces: true
              reason: outage
              requestedBy: oncall
              expiresAt: "2026-11-30T00:00:00Z"
            """)
        try bad.write("policy.yaml", Self.policy.replacingOccurrences(of: "docker.io/**", with: "docker.io/***"))
        try bad.write("authority.yaml", Self.policy.replacingOccurrences(of: "name: deny-untrusted", with: "name: other")
            .replacingOccurrences(of: "      static:", with: "      cosign:"))
        let result = try await run(["lint", bad.path, "--now", "2026-11-22T00:00:00Z"])
        #expect(result.status == 1)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("open-ended.yaml, document 1, spec.validUntil:") && $0.contains("must expire") })
        #expect(lines.contains { $0.hasPrefix("bypass.yaml, document 1, spec.expiresAt:") && $0.contains("maximum window of 24h") })
        #expect(lines.contains { $0.hasPrefix("policy.yaml, document 1, spec.images[0].glob:") })
        #expect(lines.contains { $0.hasPrefix("authority.yaml, document 1, spec.authorities[0].cosign:") })

        // A longer configured window accepts the bypass.
        let widened = try await run(["lint", bad.file("bypass.yaml").path, "--now", "2026-11-22T00:00:00Z", "--max-bypass-window", "200h"])
        #expect(widened.status == 0, "\(widened.stdout)")

        let missing = try await run(["lint", scratch.file("absent").path])
        #expect(missing.status == 2)
    }

    /// Globs match repositories: a tag written in a glob is read as a tag constraint and lint
    /// warns (exit status unchanged); a digest in a glob is an error.
    @Test func lintWarnsOnATagInAGlobAndRefusesADigest() async throws {
        try policies.write("tagged.yaml", Self.policy.replacingOccurrences(of: "docker.io/**", with: "ghcr.io/acme/web:prod-*"))
        let tagged = try await run(["lint", policies.path])
        #expect(tagged.status == 0, "\(tagged.stdout)\(tagged.stderr)")
        #expect(tagged.stdout.contains(#"warning: tagged.yaml, document 1, spec.images[0].glob: glob "ghcr.io/acme/web:prod-*" names a tag; globs match the repository only, so it is read as glob "ghcr.io/acme/web" with tags [prod-*]"#), "\(tagged.stdout)")

        let explicit = TemporaryDirectory(prefix: "signet-lint-tags")
        try explicit.write("tags.yaml", Self.policy.replacingOccurrences(of: #"- glob: "docker.io/**""#, with: "- glob: ghcr.io/acme/web\n      tags: [\"prod-*\"]"))
        let clean = try await run(["lint", explicit.path])
        #expect(clean.status == 0 && !clean.stdout.contains("warning"), "\(clean.stdout)\(clean.stderr)")

        let digest = TemporaryDirectory(prefix: "signet-lint-digest")
        try digest.write("digest.yaml", Self.policy.replacingOccurrences(of: "docker.io/**", with: "ghcr.io/acme/web@sha256:*"))
        let refused = try await run(["lint", digest.path])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("a glob matches repositories, not digests"), "\(refused.stdout)")
    }

    @Test func theExamplePoliciesLint() async throws {
        let root = TestPaths.packageRoot
        let result = try await run(["lint", root.appendingPathComponent("policies").path,
                              root.appendingPathComponent("deploy/crds/examples/cluster-image-policy.yaml").path])
        #expect(result.status == 0, "\(result.stdout)")
    }
}
