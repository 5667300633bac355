import Foundation
import SignetCrypto
import SignetNotary
import SignetPolicy
import SignetRegistry
import SignetTUF
import SignetTestSupport
import SignetVerify

/// A real Notary server and a real registry, with an image pushed and its tag signed by the
/// real `notary` client in a `targets/releases` delegation (RSA key, as `docker trust signer add`
/// makes): the setting every end-to-end Notary v1 test starts from.
final class NotaryWorld: @unchecked Sendable {
    let notary: NotaryServerFixture
    let registry: RegistryFixture
    let client: RegistryClient
    let work = TemporaryDirectory(prefix: "signet-notary-world")
    /// `127.0.0.1:<port>/app`, the image repository and the GUN.
    let gun: String
    /// The digest and manifest length `v1` was pushed and signed with.
    let signed: Descriptor

    /// With `tokenAuthentication`, the Notary server sits behind token authentication and the
    /// world's own reads of it use that user's credentials.
    static func start(tokenAuthentication: (username: String, password: String)? = nil) async throws -> NotaryWorld {
        let notary = try await NotaryServerFixture.start(tokenAuthentication: tokenAuthentication)
        let registry = try await RegistryFixture.start()
        return try await NotaryWorld(notary: notary, registry: registry)
    }

    private init(notary: NotaryServerFixture, registry: RegistryFixture) async throws {
        self.notary = notary
        self.registry = registry
        client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        gun = "\(registry.host)/app"
        signed = try await Self.push(client, try ImageReference(parsing: "\(gun):v1"))
        try await notary.notary(["init", gun])
        let releaser = try await makeDelegate("releaser")
        try await notary.notary(["delegation", "add", gun, "targets/releases", releaser.certificate, "--all-paths"])
        try await notary.notary(["key", "import", releaser.key, "--role", "releaser"])
        try await sign("v1", signed, roles: ["targets/releases"])
        try await notary.notary(["publish", gun])
    }

    /// An RSA key and self-signed certificate for a delegation, as files.
    func makeDelegate(_ name: String) async throws -> (key: String, certificate: String) {
        let key = work.file("\(name).key").path
        let certificate = work.file("\(name).crt").path
        for arguments in [["genrsa", "-out", key, "2048"], ["req", "-new", "-x509", "-key", key, "-out", certificate, "-days", "3650", "-subj", "/CN=\(name)"]] {
            let result = try await TestProcess.run("openssl", arguments)
            guard result.status == 0 else { throw TestProcessError(message: "openssl \(arguments[0]): \(result.stderr)") }
        }
        return (key, certificate)
    }

    /// Stages `tag` → `descriptor` in `roles` (publish separately).
    /// With `sha512`, the target lists that hash beside the digest's sha256.
    func sign(_ tag: String, _ descriptor: Descriptor, roles: [String], sha512: String? = nil) async throws {
        try await notary.notary(
            ["addhash", gun, tag, String(descriptor.size), "--sha256", descriptor.digest.encoded] + (sha512.map { ["--sha512", $0] } ?? [])
                + (roles.isEmpty ? [] : ["--roles", roles.joined(separator: ",")]))
    }

    /// Pushes a new one-layer image as `reference`; returns its manifest descriptor.
    @discardableResult
    static func push(_ client: RegistryClient, _ reference: ImageReference) async throws -> Descriptor {
        let deadline = TestBudget.deadline()
        let layer = try await client.pushBlob(
            (0..<256).map { _ in UInt8.random(in: 0...255) }, mediaType: "application/vnd.oci.image.layer.v1.tar", to: reference, deadline: deadline)
        let config = try await client.pushBlob(
            Array(#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["\#(layer.digest)"]}}"#.utf8),
            mediaType: "application/vnd.oci.image.config.v1+json", to: reference, deadline: deadline)
        return try await client.pushManifest(.image(ImageManifest(config: config, layers: [layer])), to: reference, deadline: deadline)
    }

    /// The metadata file of `role` as the server serves it now.
    func serverFile(_ role: String, server: String? = nil) async throws -> [UInt8] {
        let fetcher = try NotaryHTTPFetcher(configuration: .init(caBundlePath: notary.caFile), credentials: notaryCredentials)
        defer { fetcher.shutdown() }
        guard let bytes = try await fetcher.fetch("\(server ?? notary.url)/v2/\(gun)/_trust/tuf/\(role).json", maximumLength: 1 << 20) else {
            throw TestProcessError(message: "the Notary server has no \(role).json for \(gun)")
        }
        return bytes
    }

    /// `127.0.0.1:<port>`, the Notary server's host as credentials name it.
    var notaryHost: String { "127.0.0.1:\(notary.port)" }

    /// The token service user's credentials for the Notary server (none without token authentication).
    var notaryCredentials: RegistryCredentialStore {
        guard let issuer = notary.tokenIssuer else { return RegistryCredentialStore() }
        return RegistryCredentialStore([notaryHost: RegistryCredential(username: issuer.username, password: issuer.password)])
    }

    /// The public key of the root certificate the server's root.json names: what a policy pins.
    func rootKey() async throws -> PublicKey {
        try NotaryTest.rootKey(try await serverFile("root"))
    }

    /// A compiled `notaryV1` authority, loaded from policy text as a deployment would write it.
    func authority(
        rootKey: PublicKey? = nil, server: String? = nil, delegations: [String]? = ["targets/releases"], threshold: Int? = nil,
        caBundle: Bool = true, alsoPinned: [PublicKey] = [], rootThreshold: Int? = nil
    ) async throws -> CompiledPolicy {
        let yaml = try await policyText(
            rootKey: rootKey, server: server, delegations: delegations, threshold: threshold, caBundle: caBundle, alsoPinned: alsoPinned,
            rootThreshold: rootThreshold)
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "dct.yaml", bytes: Array(yaml.utf8))])
        return set.policies[0]
    }

    /// The `content-trust` policy over every image of the world's registry, with one `notaryV1`
    /// authority `dct` pinning the repository's root key (the server's by default).
    func policyText(
        rootKey: PublicKey? = nil, server: String? = nil, delegations: [String]? = ["targets/releases"], threshold: Int? = nil,
        caBundle: Bool = true, alsoPinned: [PublicKey] = [], rootThreshold: Int? = nil
    ) async throws -> String {
        let pinned: PublicKey
        if let rootKey { pinned = rootKey } else { pinned = try await self.rootKey() }
        var body = "        server: \(server ?? notary.url)\n        rootKeys:\n"
        for key in [pinned] + alsoPinned {
            body += "          - pem: |\n" + NotaryTest.pem(key).split(separator: "\n").map { "              \($0)\n" }.joined()
        }
        if let rootThreshold { body += "        rootThreshold: \(rootThreshold)\n" }
        if let delegations { body += "        delegations: [\(delegations.joined(separator: ", "))]\n" }
        if let threshold { body += "        threshold: \(threshold)\n" }
        if caBundle { body += "        caBundleFile: \(notary.caFile)\n" }
        return """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: content-trust
            spec:
              images:
                - glob: "\(registry.host)/**"
              authorities:
                - name: dct
                  notaryV1:

            """ + body
    }

    /// Verifies `image` against `policy`'s authority with a fresh engine over `notaryClient`.
    func verify(_ image: String, _ policy: CompiledPolicy, notaryClient: NotaryRepositoryClient) async throws -> VerificationResult {
        let engine = VerificationEngine(registry: client, verifiers: [NotaryV1Verifier(registry: client, client: notaryClient)])
        return try await engine.verify(
            image: try ImageReference(parsing: image), authority: policy.authorities[0], policy: policy.name,
            revision: VerificationEngine.revision(of: policy), deadline: TestBudget.deadline())
    }

    func stop() {
        client.shutdown()
        notary.stop()
        registry.stop()
    }
}
