import Foundation
import SignetCrypto
import SignetNotation
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify
import Testing

/// Revocation end to end: images signed with `notation`'s layout (a JWS envelope in a signature
/// manifest whose subject is the image, found through the `sha256-<hex>` tag index) on a real
/// registry (Debian's docker-registry), a policy compiled by the loader, the engine, and CRLs
/// downloaded from the distribution point the signing certificate names (Python's `http.server`
/// on 127.0.0.1).
@Suite(.serialized) struct NotationCRLRegistryTests {
    static func deadline() -> ContinuousClock.Instant { TestBudget.deadline(120) }

    @Test func theCRLTheSigningCertificateNamesDecidesTheImage() async throws {
        let served = TemporaryDirectory(prefix: "crl-server")
        let server = try await StaticFileServer.start(serving: served.url)
        let location = server.baseURL + "/acme.crl"
        var named = NotationTestSigner.Extensions()
        named.leaf.append("crlDistributionPoints=URI:\(location)")
        // A second signer whose distribution point nothing listens on.
        let closed = "http://127.0.0.1:\(FreePort.make())/acme.crl"
        var unreachable = NotationTestSigner.Extensions()
        unreachable.leaf.append("crlDistributionPoints=URI:\(closed)")
        let (namedExtensions, unreachableExtensions) = (named, unreachable)
        let signer = try await offThePool { try NotationTestSigner(extensions: namedExtensions) }
        let offline = try await offThePool { try NotationTestSigner(extensions: unreachableExtensions) }
        let registry = try await offThePool { try RegistryFixture() }
        defer { registry.stop() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        defer { client.shutdown() }
        let image = try await Self.pushSignedImage(signer: signer, to: registry, client: client, repository: "acme/app")
        let offlineImage = try await Self.pushSignedImage(signer: offline, to: registry, client: client, repository: "acme/offline")

        var configuration = HTTPCRLDownloader.Configuration()
        configuration.maximumAge = .zero  // downloaded again for every verification
        configuration.failureHold = .zero
        let downloader = try HTTPCRLDownloader(configuration: configuration)
        defer { downloader.shutdown() }
        func verify(_ image: ImageReference, by signer: NotationTestSigner) async throws(VerificationError) -> VerificationResult {
            let engine = VerificationEngine(
                registry: client, verifiers: [NotationSignatureVerifier(registry: client, clock: .fixed(signer.validTime), crlDownloader: downloader)])
            let policy: CompiledPolicy
            do {
                policy = try Self.policy(glob: "\(registry.host)/**", root: signer.root, in: served)
            } catch {
                Issue.record("the policy does not compile: \(error)")
                throw .deadlineExceeded
            }
            return try await engine.verify(image: image, authority: policy.authorities[0], policy: policy.name, revision: UUID().uuidString, deadline: Self.deadline())
        }

        // Nothing published yet: the distribution point answers 404, a verdict (revocation unavailable).
        let notPublished = try await verify(image, by: signer)
        #expect(!notPublished.passed)
        #expect(notPublished.reason.contains("revocation validation failed: revocation unavailable: the CRL of the certificate \"CN=signer,O=Acme,ST=WA,C=US\" could not be downloaded from \(location): HTTP status 404"),
                "\(notPublished.reason)")

        try Data(try await offThePool { try signer.rootCRL(revoking: []) }).write(to: served.file("acme.crl"))
        let clean = try await verify(image, by: signer)
        #expect(clean.passed, "\(clean.reason)")
        #expect(clean.steps.contains { $0.name.hasSuffix(" revocation") && $0.detail.contains("(CRL from \(location))") }, "\(clean.steps.map(\.detail))")

        try Data(try await offThePool { try signer.rootCRL(revoking: [signer.leaf]) }).write(to: served.file("acme.crl"))
        let revoked = try await verify(image, by: signer)
        #expect(!revoked.passed)
        #expect(revoked.reason.contains("revocation validation failed: the certificate \"CN=signer,O=Acme,ST=WA,C=US\" is revoked"), "\(revoked.reason)")
        #expect(server.requestedPaths.filter { $0 == "/acme.crl" }.count == 3, "\(server.requestedPaths)")

        // A complete CRL that announces delta CRLs: the verification downloads the CRL, then the
        // delta it names, and the delta's listing decides.
        try Data(try await offThePool { try signer.rootCRL(revoking: [], extensions: ["freshestCRL=URI:\(server.baseURL)/delta.crl"]) })
            .write(to: served.file("acme.crl"))
        try Data(try await offThePool { try signer.rootCRL(revoking: [signer.leaf], extensions: ["deltaCRL=critical,DER:02:01:01"], number: 2) })
            .write(to: served.file("delta.crl"))
        let revokedByDelta = try await verify(image, by: signer)
        #expect(revokedByDelta.reason.contains("is revoked") && revokedByDelta.reason.contains("the delta CRL at \(server.baseURL)/delta.crl"), "\(revokedByDelta.reason)")
        #expect(server.requestedPaths.suffix(2) == ["/acme.crl", "/delta.crl"], "\(server.requestedPaths)")

        // A distribution point that cannot be reached now is no verdict on the image: the
        // verification fails with an error, which is not kept, naming what could not be fetched.
        do {
            let result = try await verify(offlineImage, by: offline)
            Issue.record("a CRL that could not be downloaded gave a verdict: \(result.reason)")
        } catch {
            #expect(error.isTransient)
            #expect(error.description.contains("could not be downloaded from \(closed)"), "\(error)")
        }
    }

    /// An image signed by a signer whose certificate names `<server>/acme.crl`, pushed to a
    /// registry, with that CRL served (listing the signing certificate or not).
    final class PublishedImage: Sendable {
        let served: TemporaryDirectory
        let server: StaticFileServer
        let signer: NotationTestSigner
        let registry: RegistryFixture
        let client: RegistryClient
        let image: ImageReference

        private init(served: TemporaryDirectory, server: StaticFileServer, signer: NotationTestSigner, registry: RegistryFixture, client: RegistryClient, image: ImageReference) {
            (self.served, self.server, self.signer, self.registry, self.client, self.image) = (served, server, signer, registry, client, image)
        }

        static func make(revoking: Bool) async throws -> PublishedImage {
            let served = TemporaryDirectory(prefix: "crl-server")
            let server = try await StaticFileServer.start(serving: served.url)
            var named = NotationTestSigner.Extensions()
            named.leaf.append("crlDistributionPoints=URI:\(server.baseURL)/acme.crl")
            let extensions = named
            let signer = try await offThePool { try NotationTestSigner(extensions: extensions) }
            try Data(try await offThePool { try signer.rootCRL(revoking: revoking ? [signer.leaf] : []) }).write(to: served.file("acme.crl"))
            let registry = try await offThePool { try RegistryFixture() }
            let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
            let image = try await NotationCRLRegistryTests.pushSignedImage(signer: signer, to: registry, client: client, repository: "acme/app")
            return PublishedImage(served: served, server: server, signer: signer, registry: registry, client: client, image: image)
        }

        func stop() {
            client.shutdown()
            registry.stop()
        }
    }

    /// The policy: one `notation` authority trusting `root` (written to `directory`) under a
    /// strict global statement.
    static func policy(glob: String, root: Certificate, in directory: TemporaryDirectory) throws -> CompiledPolicy {
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "notation.yaml", bytes: Array(try policyYAML(glob: glob, root: root, in: directory).utf8))])
        guard let policy = set.policies.first else { throw TestProcessError(message: "no policy compiled") }
        return policy
    }

    /// ``policy(glob:root:in:)``'s ClusterImagePolicy as YAML.
    static func policyYAML(glob: String, root: Certificate, in directory: TemporaryDirectory) throws -> String {
        let file = try directory.write("root-\(UUID().uuidString).crt", root.pemEncoded)
        return """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: notation-crl
            spec:
              images:
                - glob: "\(glob)"
              authorities:
                - name: acme
                  notation:
                    trustPolicy: |
                      {"version":"1.0","trustPolicies":[{"name":"acme","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:acme"],"trustedIdentities":["*"]}]}
                    trustStores:
                      - name: ca:acme
                        file: \(file.path)
            """
    }

    /// Pushes a one-layer image to `<registry>/<repository>:v1` and a Notation signature of it
    /// by `signer` as `notation sign` leaves it on a registry without the referrers API.
    static func pushSignedImage(signer: NotationTestSigner, to registry: RegistryFixture, client: RegistryClient, repository: String) async throws -> ImageReference {
        let name = "\(registry.host)/\(repository)"
        let reference = try ImageReference(parsing: name)
        func descriptor(_ pushed: Descriptor, _ mediaType: String) -> String {
            #"{"mediaType":"\#(mediaType)","digest":"\#(pushed.digest)","size":\#(pushed.size)}"#
        }
        let config = try await client.pushBlob(Array("{}".utf8), to: reference, deadline: deadline())
        let layer = try await client.pushBlob(Array("layer of \(repository)".utf8), to: reference, deadline: deadline())
        let manifest = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest)","config":\#(descriptor(config, "application/vnd.oci.image.config.v1+json")),"layers":[\#(descriptor(layer, "application/vnd.oci.image.layer.v1.tar"))]}"#
        let tagged = try ImageReference(parsing: "\(name):v1")
        let image = try await client.pushManifest(Array(manifest.utf8), mediaType: MediaType.ociManifest, to: tagged, deadline: deadline())
        let target = NotationTarget(digest: image.digest.description, mediaType: MediaType.ociManifest, size: image.size)
        let envelope = try await offThePool { try signer.jws(payload: NotationTestSigner.payload(target)) }
        let envelopeBlob = try await client.pushBlob(envelope, to: reference, deadline: deadline())
        let signature = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest)","artifactType":"\#(MediaType.notarySignature)","config":\#(descriptor(config, MediaType.notarySignature)),"layers":[\#(descriptor(envelopeBlob, "application/jose+json"))],"subject":\#(descriptor(image, MediaType.ociManifest))}"#
        let signatureManifest = try await client.pushManifest(
            Array(signature.utf8), mediaType: MediaType.ociManifest, to: try ImageReference(parsing: "\(name):signature"), deadline: deadline())
        let index = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociIndex)","manifests":[{"mediaType":"\#(MediaType.ociManifest)","digest":"\#(signatureManifest.digest)","size":\#(signatureManifest.size),"artifactType":"\#(MediaType.notarySignature)"}]}"#
        let tag = image.digest.description.replacingOccurrences(of: ":", with: "-")
        try await client.pushManifest(Array(index.utf8), mediaType: MediaType.ociIndex, to: try ImageReference(parsing: "\(name):\(tag)"), deadline: deadline())
        return tagged
    }

    /// A pass that relied on a downloaded CRL holds until an hour after that CRL's download
    /// (`maximumAge`), not an hour after each verification that found it kept: a revocation the
    /// CA publishes is seen within the hour.
    @Test func aPassHoldsUntilAnHourAfterTheDownloadOfTheCRLItUsed() async throws {
        let fixture = try await PublishedImage.make(revoking: false)
        defer { fixture.stop() }
        let (served, server, signer, registry, client, image) = (fixture.served, fixture.server, fixture.signer, fixture.registry, fixture.client, fixture.image)
        let policy = try Self.policy(glob: "\(registry.host)/**", root: signer.root, in: served)
        let start = signer.validTime
        let clock = SettableClock(start)
        let downloader = try HTTPCRLDownloader(clock: WallClock(now: clock.closure))
        defer { downloader.shutdown() }
        func verify() async throws -> VerificationResult {
            let engine = VerificationEngine(
                registry: client, verifiers: [NotationSignatureVerifier(registry: client, clock: WallClock(now: clock.closure), crlDownloader: downloader)])
            return try await engine.verify(image: image, authority: policy.authorities[0], policy: policy.name, revision: UUID().uuidString, deadline: Self.deadline())
        }
        let first = try await verify()
        #expect(first.passed, "\(first.reason)")
        #expect(first.validUntil == start.addingTimeInterval(3600))
        clock.set(start.addingTimeInterval(1800))
        let later = try await verify()
        #expect(later.passed, "\(later.reason)")
        #expect(later.validUntil == start.addingTimeInterval(3600), "the CRL kept since the first download: \(later.validUntil.map { "\($0)" } ?? "none")")
        #expect(server.requestedPaths == ["/acme.crl"])
    }

    /// `signet serve` downloads the CRL by default (the deny names the image, the policy and the
    /// revocation) and not with `--notation-crl-downloads=false` (the deny says downloads are off).
    @Test func serveDownloadsTheCRLUnlessToldNotTo() async throws {
        let fixture = try await PublishedImage.make(revoking: true)
        defer { fixture.stop() }
        let (server, signer, registry, image) = (fixture.server, fixture.signer, fixture.registry, fixture.image)
        let policies = TemporaryDirectory(prefix: "signet-crl-policies")
        try policies.write("notation.yaml", try Self.policyYAML(glob: "\(registry.host)/**", root: signer.root, in: policies))
        let reviews = TemporaryDirectory(prefix: "signet-crl-reviews")
        let review = try reviews.write("pod.json", """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\(UUID().uuidString.lowercased())",\
            "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
            "namespace":"default","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod",\
            "metadata":{"name":"app","namespace":"default"},"spec":{"containers":[{"name":"app","image":"\(image)"}]}}}}
            """).path
        for downloads in [true, false] {
            let signet = try await SignetServerFixture.start(
                policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host] + (downloads ? [] : ["--notation-crl-downloads=false"]))
            let answer = try await offThePool { try signet.review(review) }
            _ = try? await offThePool { signet.stop() }
            #expect(answer.httpStatus == 200)
            let decision = try AdmissionAnswer(decoding: answer.body)
            #expect(!decision.allowed)
            #expect(decision.message.contains("acme/app") && decision.message.contains("notation-crl"), "\(decision.message)")
            if downloads {
                #expect(decision.message.contains("the certificate \"CN=signer,O=Acme,ST=WA,C=US\" is revoked"), "\(decision.message)")
            } else {
                #expect(decision.message.contains("CRL downloads are off (--notation-crl-downloads)"), "\(decision.message)")
            }
        }
        #expect(server.requestedPaths == ["/acme.crl"], "downloaded by the first server only: \(server.requestedPaths)")
    }
}
