import Foundation
import SignetCrypto
import SignetRegistry
import SignetTestSupport
import Testing

/// The client against a real distribution registry without authentication.
@Suite
struct RegistryClientTests {
    static func makeClient(_ registry: RegistryFixture, configuration: RegistryClientConfiguration = RegistryClientConfiguration()) throws -> RegistryClient {
        var configuration = configuration
        configuration.allowInsecureRegistries.insert(registry.host)
        return try RegistryClient(configuration: configuration)
    }

    @Test func pushResolveAndPullAnImage() async throws {
        let registry = try await RegistryFixture.start()
        let client = try Self.makeClient(registry)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/app:v1")
        let pushed = try await TestImages.pushImage(client: client, reference: reference)

        let resolved = try await client.resolve(reference, deadline: TestImages.deadline())
        #expect(resolved.digest == pushed.digest)
        #expect(resolved.mediaType == MediaType.ociManifest)
        #expect(resolved.size == pushed.size)

        let fetched = try await client.manifest(reference, deadline: TestImages.deadline())
        #expect(fetched.descriptor.digest == pushed.digest)
        #expect(fetched.reference.digest == pushed.digest)
        let manifest = try #require(fetched.imageManifest)
        #expect(manifest.layers.count == 1)

        let byDigest = try await client.manifest(reference.withDigest(pushed.digest), deadline: TestImages.deadline())
        #expect(byDigest.bytes == fetched.bytes)

        let layer = try await client.blob(manifest.layers[0].digest, in: reference, deadline: TestImages.deadline())
        #expect(layer.count == 512)
        #expect(DigestAlgorithm.sha256.hexHash(layer) == manifest.layers[0].digest.encoded)

        let identity = try await client.identityDigest(of: reference, deadline: TestImages.deadline())
        #expect(identity == pushed.digest)
    }

    @Test func resolveMatchesSkopeoInspect() async throws {
        let registry = try await RegistryFixture.start()
        let client = try Self.makeClient(registry)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/app:v1")
        let pushed = try await TestImages.pushImage(client: client, reference: reference)

        let report = try await ResolveReport.make(reference, client: client, deadline: TestImages.deadline())
        let inspect = try await TestProcess.run("skopeo", ["inspect", "--tls-verify=false", "docker://\(registry.host)/demo/app:v1"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        struct Inspect: Decodable { var Digest: String }
        let skopeoDigest = try JSONDecoder().decode(Inspect.self, from: Data(inspect.stdout.utf8)).Digest
        #expect(report.descriptor.digest.description == skopeoDigest)
        #expect(report.descriptor.digest == pushed.digest)
        #expect(report.render().contains("digest:     \(skopeoDigest)"))
        #expect(report.requests == 1)
    }

    @Test func imagesWrittenAsOCILayoutAndCopiedWithSkopeoResolve() async throws {
        let registry = try await RegistryFixture.start()
        let client = try Self.makeClient(registry)
        defer { client.shutdown() }
        let layout = TemporaryDirectory(prefix: "signet-oci-layout")
        func writeBlob(_ bytes: [UInt8]) throws -> String {
            let hex = DigestAlgorithm.sha256.hexHash(bytes)
            let url = layout.file("blobs/sha256/\(hex)")
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
            return "sha256:\(hex)"
        }
        let layer = TestImages.randomBytes(300)
        let layerDigest = try writeBlob(layer)
        let config = Array(#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["\#(layerDigest)"]}}"#.utf8)
        let configDigest = try writeBlob(config)
        let manifest = Array("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(configDigest)","size":\(config.count)},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(layerDigest)","size":\(layer.count)}]}
            """.utf8)
        let manifestDigest = try writeBlob(manifest)
        try layout.write("oci-layout", #"{"imageLayoutVersion":"1.0.0"}"#)
        try layout.write("index.json", """
            {"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(manifestDigest)","size":\(manifest.count),"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}
            """)
        let copy = try await TestProcess.run(
            "skopeo", ["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(registry.host)/demo/layout:v1"])
        #expect(copy.status == 0, "\(copy.stderr)")

        let resolved = try await client.resolve(try TestImages.reference("\(registry.host)/demo/layout:v1"), deadline: TestImages.deadline())
        #expect(resolved.digest.description == manifestDigest)
    }

    @Test func multiPlatformTagResolvesToTheIndexDigest() async throws {
        let registry = try await RegistryFixture.start()
        let client = try Self.makeClient(registry)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/multi:v2")
        let (index, platforms) = try await TestImages.pushMultiPlatformImage(client: client, reference: reference)

        let resolved = try await client.resolve(reference, deadline: TestImages.deadline())
        #expect(resolved.digest == index.digest)
        #expect(resolved.mediaType == MediaType.ociIndex)

        let report = try await ResolveReport.make(reference, client: client, deadline: TestImages.deadline())
        #expect(report.descriptor.digest == index.digest)
        #expect(report.platforms.map(\.platform) == ["linux/amd64", "linux/arm64/v8"])
        #expect(report.platforms.map(\.digest) == platforms.map(\.digest))
        let rendered = report.render()
        #expect(rendered.contains("linux/arm64/v8"))
        #expect(rendered.contains(index.digest.description))

        // A platform manifest fetched by digest verifies against it.
        let amd64 = try await client.manifest(reference.withDigest(platforms[0].digest), deadline: TestImages.deadline())
        #expect(amd64.imageManifest != nil)
    }

    @Test func cosignSignatureTagAndReferrersFallback() async throws {
        let registry = try await RegistryFixture.start()
        let client = try Self.makeClient(registry)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/signed:v1")
        let image = try await TestImages.pushImage(client: client, reference: reference)

        // Nothing attached yet: no .sig tag, and referrers fall back to a tag that does not exist.
        #expect(try await client.cosignArtifact(.signature, for: image.digest, in: reference, deadline: TestImages.deadline()) == nil)
        let empty = try await client.referrers(of: image.digest, in: reference, deadline: TestImages.deadline())
        #expect(empty.source == .none)
        #expect(empty.referrers.isEmpty)

        let signature = try await TestImages.pushCosignSignature(client: client, repository: reference, for: image.digest)
        let fetched = try #require(
            try await client.cosignArtifact(.signature, for: image.digest, in: reference, deadline: TestImages.deadline()))
        #expect(fetched.descriptor.digest == signature.digest)
        #expect(fetched.imageManifest?.layers.first?.mediaType == MediaType.cosignSimpleSigning)
        #expect(try await client.cosignArtifact(.attestation, for: image.digest, in: reference, deadline: TestImages.deadline()) == nil)

        // docker-registry 2.8 has no referrers API (404): the `sha256-<hex>` tag index is the fallback.
        let sbom = try await TestImages.pushReferrer(
            client: client, repository: reference, subject: image, artifactType: "application/spdx+json")
        let notation = try await TestImages.pushReferrer(
            client: client, repository: reference, subject: image, artifactType: MediaType.notarySignature)
        let fallbackTag = try TestImages.reference("\(registry.host)/demo/signed:\(image.digest.tagForm)")
        _ = try await client.pushManifest(.index(ImageIndex(manifests: [sbom, notation])), to: fallbackTag, deadline: TestImages.deadline())

        let all = try await client.referrers(of: image.digest, in: reference, deadline: TestImages.deadline())
        #expect(all.source == .tagSchema)
        #expect(Set(all.referrers.map(\.digest)) == [sbom.digest, notation.digest])
        let notationOnly = try await client.referrers(
            of: image.digest, in: reference, artifactType: MediaType.notarySignature, deadline: TestImages.deadline())
        #expect(notationOnly.referrers.map(\.digest) == [notation.digest])
        #expect(notationOnly.filteredByRegistry == false)

        let report = try await ResolveReport.make(reference, client: client, includeReferrers: true, deadline: TestImages.deadline())
        let attachments = try #require(report.attachments)
        #expect(attachments.count == 3)
        #expect(report.referrersSource == .tagSchema)
        #expect(report.render().contains("tag=\(image.digest.tagForm).sig"))
    }

    @Test func missingTagIsNotFoundNamingTheReference() async throws {
        let registry = try await RegistryFixture.start()
        let client = try Self.makeClient(registry)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/app:v1")
        try await TestImages.pushImage(client: client, reference: reference)

        let missing = try TestImages.reference("\(registry.host)/demo/app:nope")
        let error = await #expect(throws: RegistryError.self) {
            try await client.resolve(missing, deadline: TestImages.deadline())
        }
        #expect(error?.kind == .notFound)
        #expect(error?.description.contains("\(registry.host)/demo/app:nope") == true)

        let unknownRepository = try TestImages.reference("\(registry.host)/demo/other:v1")
        let repositoryError = await #expect(throws: RegistryError.self) {
            try await client.manifest(unknownRepository, deadline: TestImages.deadline())
        }
        #expect(repositoryError?.kind == .notFound)
        #expect(repositoryError?.description.contains("demo/other:v1") == true)
    }

    @Test func stoppedRegistryIsAConnectionErrorNotATimeout() async throws {
        let registry = try await RegistryFixture.start()
        let client = try Self.makeClient(registry)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/app:v1")
        try await TestImages.pushImage(client: client, reference: reference)
        registry.stop()

        let error = await #expect(throws: RegistryError.self) {
            try await client.resolve(reference, deadline: TestImages.deadline(30))
        }
        #expect(error?.kind == .connectionFailed)
        #expect(error?.description.contains(registry.host) == true)
    }

    @Test func requestCountsPerOperation() async throws {
        let registry = try await RegistryFixture.start()
        let client = try Self.makeClient(registry)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/app:v1")
        try await TestImages.pushImage(client: client, reference: reference)

        let (_, resolveRequests) = try await RegistryRequestCounter.counting {
            try await client.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(resolveRequests == 1)
        // A reference that names a digest is its own identity: no request at all.
        let pinned = try TestImages.reference("\(registry.host)/demo/app@sha256:\(String(repeating: "a", count: 64))")
        let (_, pinnedRequests) = try await RegistryRequestCounter.counting {
            try await client.identityDigest(of: pinned, deadline: TestImages.deadline())
        }
        #expect(pinnedRequests == 0)
    }

    @Test func concurrentResolvesShareTheClient() async throws {
        let registry = try await RegistryFixture.start()
        let client = try Self.makeClient(registry)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/app:v1")
        let pushed = try await TestImages.pushImage(client: client, reference: reference)
        let digests = try await withThrowingTaskGroup(of: ImageDigest.self) { group in
            for _ in 0..<20 {
                group.addTask { try await client.resolve(reference, deadline: TestImages.deadline()).digest }
            }
            return try await group.reduce(into: [ImageDigest]()) { $0.append($1) }
        }
        #expect(digests.count == 20)
        #expect(Set(digests) == [pushed.digest])
    }

    @Test func blobsLargerThanTheCapAreRefused() async throws {
        let registry = try await RegistryFixture.start()
        let client = try Self.makeClient(registry)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/big:v1")
        let blob = try await client.pushBlob(TestImages.randomBytes(64 * 1024), to: reference, deadline: TestImages.deadline())
        let error = await #expect(throws: RegistryError.self) {
            try await client.blob(blob.digest, in: reference, maximumBytes: 1024, deadline: TestImages.deadline())
        }
        #expect(error?.kind == .tooLarge)
        let bytes = try await client.blob(blob.digest, in: reference, deadline: TestImages.deadline())
        #expect(bytes.count == 64 * 1024)
    }

    @Test func plainHTTPNeedsTheInsecureSwitch() async throws {
        let registry = try await RegistryFixture.start()
        let client = try RegistryClient()
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/app:v1")
        let error = await #expect(throws: RegistryError.self) {
            try await client.resolve(reference, deadline: TestImages.deadline())
        }
        // HTTPS to a plain-HTTP port fails the TLS handshake.
        #expect(error?.kind == .connectionFailed)
    }

    @Test func dockerSchema2ManifestListResolves() async throws {
        let registry = try await RegistryFixture.start()
        let client = try Self.makeClient(registry)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/docker:v1")
        var image = try await TestImages.imageManifest(client: client, repository: reference, deadline: TestImages.deadline())
        image.mediaType = MediaType.dockerManifest
        image.config.mediaType = "application/vnd.docker.container.image.v1+json"
        image.layers[0].mediaType = "application/vnd.docker.image.rootfs.diff.tar"
        let manifest = Manifest.image(image)
        var entry = try await client.pushManifest(manifest, to: reference.withDigest(try manifest.descriptor().digest), deadline: TestImages.deadline())
        entry.platform = Platform(architecture: "amd64", os: "linux")
        let list = try await client.pushManifest(
            .index(ImageIndex(mediaType: MediaType.dockerManifestList, manifests: [entry])), to: reference, deadline: TestImages.deadline())

        let resolved = try await client.resolve(reference, deadline: TestImages.deadline())
        #expect(resolved.digest == list.digest)
        #expect(resolved.mediaType == MediaType.dockerManifestList)
        let fetched = try await client.manifest(reference.withDigest(entry.digest), deadline: TestImages.deadline())
        #expect(fetched.descriptor.mediaType == MediaType.dockerManifest)
    }
}
