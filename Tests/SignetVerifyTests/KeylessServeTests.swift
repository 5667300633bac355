import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// The decision of a real `signet serve` for a Pod running `image`, sent to `/validate`:
/// (allowed, status message).
private func decide(_ server: SignetServerFixture, image: String, in directory: TemporaryDirectory, name: String) async throws -> (allowed: Bool, message: String) {
    let review = """
        {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\(UUID().uuidString.lowercased())",\
        "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
        "namespace":"default","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod",\
        "metadata":{"name":"\(name)","namespace":"default"},"spec":{"containers":[{"name":"app","image":"\(image)"}]}}}}
        """
    let file = try directory.write("\(name).json", review).path
    let (status, body) = try await offThePool { try server.review(file) }
    guard status == 200 else { throw TestProcessError(message: "/validate answered \(status): \(body)") }
    let answer = try AdmissionAnswer(decoding: body)
    return (answer.allowed, answer.message)
}

@Suite("signet serve verifies keyless signatures", .serialized)
struct KeylessServeTests {
    @Test("the production keyless vector, and a conformance message-signature bundle referrer denied, through /validate")
    func keylessThroughValidate() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        try await ConnaisseurVectors.push(to: registry, client: client)
        try await KeylessVector.retag("keyless-bob", in: registry, client: client)
        try await KeylessVector.retag("keyless-prefix", in: registry, client: client)
        let subject = ConformanceBundles.artifactDigest
        try await ConformanceBundles.attach(["happy-path-v0.3"], subject: subject, registry: registry, client: client)

        let policies = TemporaryDirectory(prefix: "signet-keyless-policies")
        func policy(_ name: String, glob: String, identity: String) throws {
            try policies.write("\(name).yaml", """
                apiVersion: signet.dev/v1alpha1
                kind: ClusterImagePolicy
                metadata:
                  name: \(name)
                spec:
                  images:
                    - glob: "\(glob)"
                  authorities:
                    - name: \(name)-signer
                      keyless:
                        identities:
                          - \(identity)
                """)
        }
        try policy("keyless-philipp", glob: KeylessVector.image(in: registry), identity: "{issuerRegExp: '.*github.*', subjectRegExp: '.*philipp.*'}")
        try policy("keyless-bob", glob: KeylessVector.image(in: registry, tag: "keyless-bob"), identity: "{issuerRegExp: '.*github.*', subject: bob@gmail.com}")
        try policy("keyless-prefix", glob: KeylessVector.image(in: registry, tag: "keyless-prefix"), identity: "{issuerRegExp: '.*github.*', subjectRegExp: 'philipp'}")
        try policy(
            "conformance-bundle", glob: "\(registry.host)/\(ConformanceBundles.repository)",
            identity: "{issuer: '\(ConformanceBundles.issuer)', subject: '\(ConformanceBundles.subject)', "
                + "extensions: {githubWorkflowRepository: sigstore-conformance/extremely-dangerous-public-oidc-beacon}}")
        let server = try await offThePool {
            try SignetServerFixture(policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host])
        }
        let reviews = TemporaryDirectory(prefix: "signet-keyless-reviews")

        let philipp = try await decide(server, image: KeylessVector.image(in: registry), in: reviews, name: "philipp")
        #expect(philipp.allowed, "\(philipp.message)")

        let bob = try await decide(server, image: KeylessVector.image(in: registry, tag: "keyless-bob"), in: reviews, name: "bob")
        #expect(!bob.allowed)
        #expect(bob.message.contains("policy \"keyless-bob\""), "\(bob.message)")
        #expect(bob.message.contains("authority \"keyless-bob-signer\""), "\(bob.message)")
        #expect(bob.message.contains("identity: SAN \(KeylessVector.subject) does not match \"bob@gmail.com\""), "\(bob.message)")

        let prefix = try await decide(server, image: KeylessVector.image(in: registry, tag: "keyless-prefix"), in: reviews, name: "prefix")
        #expect(!prefix.allowed)
        #expect(prefix.message.contains("identity: SAN \(KeylessVector.subject) does not match /philipp/"), "\(prefix.message)")

        // A message signature (sign-blob) over the digest is no image signature: denied, saying so.
        let bundle = try await decide(server, image: "\(registry.host)/\(ConformanceBundles.repository)@\(subject)", in: reviews, name: "bundle")
        #expect(!bundle.allowed)
        #expect(bundle.message.contains("the bundle holds a message signature (what cosign sign-blob makes)"), "\(bundle.message)")

        // The same repository, a digest no bundle refers to.
        let other = try ImageDigest(parsing: "sha256:" + String(repeating: "cd", count: 32))
        let unsigned = try await decide(server, image: "\(registry.host)/\(ConformanceBundles.repository)@\(other)", in: reviews, name: "unsigned")
        #expect(!unsigned.allowed)
        #expect(unsigned.message.contains("no keyless signatures"), "\(unsigned.message)")
        _ = try? await offThePool {
            server.stop()
            registry.stop()
        }
    }
}

@Suite("signet verify, keyless", .serialized)
struct KeylessVerifyCommandTests {
    @Test func identityFlags() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        defer { registry.stop() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        try await ConnaisseurVectors.push(to: registry, client: client)
        let image = KeylessVector.image(in: registry)
        let binary = TestPaths.signetBinary.path
        func verify(_ flags: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await offThePool { try TestProcess.run(binary, ["verify", image, "--allow-insecure-registry", registry.host] + flags) }
        }

        let exact = try await verify(["--certificate-identity", KeylessVector.subject, "--certificate-oidc-issuer", KeylessVector.issuer])
        #expect(exact.status == 0, "\(exact.stdout)\(exact.stderr)")
        #expect(exact.stdout.hasPrefix("VERIFIED: \(image)"))
        #expect(exact.stdout.contains("signer: \(KeylessVector.subject), issuer \(KeylessVector.issuer)"), "\(exact.stdout)")

        let regex = try await verify(["--certificate-identity-regexp", ".*philipp.*", "--certificate-oidc-issuer-regexp", ".*github.*"])
        #expect(regex.status == 0, "\(regex.stdout)\(regex.stderr)")

        let bob = try await verify(["--certificate-identity", "bob@gmail.com", "--certificate-oidc-issuer-regexp", ".*github.*"])
        #expect(bob.status == 1, "\(bob.stdout)\(bob.stderr)")
        #expect(bob.stdout.contains("does not match \"bob@gmail.com\""), "\(bob.stdout)")

        let incomplete = try await verify(["--certificate-identity", KeylessVector.subject])
        #expect(incomplete.status == 2)
        #expect(incomplete.stderr.contains("--certificate-oidc-issuer"), "\(incomplete.stderr)")
    }
}
