import Foundation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetSigstore
import SignetTestSupport
import SignetVerify

/// The production keyless signature of connaisseur's registry mirror: `testimage:keyless`, signed
/// by `philipp.belitz@securesystems.de` through GitHub's OAuth issuer (Fulcio certificate, Rekor
/// SET integrated 2024-05-30T15:18:17Z). Pushed with ``ConnaisseurVectors/push(to:client:)``.
enum KeylessVector {
    static let digest = try! ImageDigest(parsing: "sha256:31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee")
    static let subject = "philipp.belitz@securesystems.de"
    static let issuer = "https://github.com/login/oauth"
    /// The Rekor integrated time of the signature.
    static let integratedTime = Date(timeIntervalSince1970: 1_717_082_297)

    static func image(in registry: RegistryFixture, tag: String = "keyless") -> String {
        "\(registry.host)/\(ConnaisseurVectors.repository):\(tag)"
    }

    /// Tags the `keyless` image manifest again as `tag` (same bytes, same digest, same signatures).
    static func retag(_ tag: String, in registry: RegistryFixture, client: RegistryClient) async throws {
        let manifest = ConnaisseurVectors.folder.appendingPathComponent("\(ConnaisseurVectors.repository)/manifests/keyless.json")
        try await client.pushManifest(
            [UInt8](try Data(contentsOf: manifest)), mediaType: MediaType.dockerManifest,
            to: try ImageReference(parsing: image(in: registry, tag: tag)), deadline: deadline())
    }
}

/// Bundles of sigstore-conformance (`bundle-verify/<case>/bundle.sigstore.json`), made by real
/// Sigstore clients for the file `a.txt`, attached to that file's digest as OCI referrers the
/// way cosign attaches bundles to an image (sigstore/cosign `specs/BUNDLE_SPEC.md`).
///
/// A registry's referrers can name any digest as their subject; the tag-schema index
/// `sha256-<hex>` lists them whether or not a manifest with that digest exists. The artifact these
/// bundles sign is a text file, not an image manifest, so the "image" here is
/// `<repo>@sha256:<digest of a.txt>`: the verifier sees exactly the digest the bundles sign.
enum ConformanceBundles {
    static let folder = TestPaths.vectors.appendingPathComponent("sigstore-conformance/test/assets/bundle-verify")
    static let repository = "conformance/artifact"
    /// The identity and issuer every conformance bundle without its own `identity` file was signed with.
    static let subject = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
    static let issuer = "https://token.actions.githubusercontent.com"

    static var artifactDigest: ImageDigest {
        let bytes = [UInt8](try! Data(contentsOf: folder.appendingPathComponent("a.txt")))
        return try! ImageDigest(parsing: "sha256:" + DigestAlgorithm.sha256.hexHash(bytes))
    }

    static func bundle(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: folder.appendingPathComponent("\(name)/bundle.sigstore.json")))
    }

    /// Pushes each case's bundle as a referrer manifest with `subject` `subject`, and the
    /// tag-schema index `sha256-<hex>` of `listedUnder` (default: the subject) listing them.
    /// Returns the referrer manifests' digests.
    @discardableResult
    static func attach(
        _ cases: [String], subject: ImageDigest, listedUnder: ImageDigest? = nil, repository: String = repository,
        registry: RegistryFixture, client: RegistryClient
    ) async throws -> [ImageDigest] {
        let target = try ImageReference(parsing: "\(registry.host)/\(repository)")
        let empty = try await client.pushBlob(Array("{}".utf8), mediaType: "application/vnd.oci.empty.v1+json", to: target, deadline: deadline())
        var entries: [Descriptor] = []
        for name in cases {
            let json = try bundle(name)
            let type = try bundleMediaType(json)
            let layer = try await client.pushBlob(json, mediaType: type, to: target, deadline: deadline())
            let manifest = Manifest.image(ImageManifest(
                artifactType: type, config: empty, layers: [layer],
                subject: Descriptor(mediaType: MediaType.ociManifest, digest: subject, size: 2)))
            var entry = try await client.pushManifest(manifest, to: target.withDigest(try manifest.descriptor().digest), deadline: deadline())
            entry.artifactType = type
            entries.append(entry)
        }
        let index = Manifest.index(ImageIndex(manifests: entries))
        let tagged = try ImageReference(parsing: "\(registry.host)/\(repository):\((listedUnder ?? subject).tagForm)")
        try await client.pushManifest(index, to: tagged, deadline: deadline())
        return entries.map(\.digest)
    }

    /// The bundle's own `mediaType`, as cosign records it for the layer and `artifactType`.
    static func bundleMediaType(_ json: [UInt8]) throws -> String {
        struct Head: Decodable { var mediaType: String }
        return try JSONDecoder().decode(Head.self, from: Data(json)).mediaType
    }
}

/// A `keyless` authority compiled by the policy loader from the YAML body given (indented
/// under `keyless:`), so tests exercise the loader too.
func compiledKeylessAuthority(_ body: String, name: String = "keyless") throws -> CompiledAuthority {
    let yaml = """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: keyless-test
        spec:
          images:
            - glob: "**"
          authorities:
            - name: \(name)
              keyless:
        \(body.split(separator: "\n", omittingEmptySubsequences: false).map { "          " + $0 }.joined(separator: "\n"))
        """
    let set = try PolicyLoader().load(files: [PolicySourceFile(name: "keyless.yaml", bytes: Array(yaml.utf8))])
    return set.policies[0].authorities[0]
}

/// A request for `image` (which names its digest) against `authority`.
func keylessRequest(_ image: String, digest: ImageDigest, authority: CompiledAuthority) throws -> VerificationRequest {
    VerificationRequest(image: try ImageReference(parsing: image), digest: digest, authority: authority, policy: "keyless-test", deadline: deadline())
}
