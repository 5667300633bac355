import Foundation
import NIOConcurrencyHelpers
import SignetAttestation
import SignetCrypto
import SignetPolicy
import SignetRegistry
import SignetTestSupport
import SignetVerify

/// in-toto attestations made the way `cosign attest --key` makes them (sigstore/cosign
/// `specs/ATTESTATION_SPEC.md`): an in-toto statement about the image digest, in a DSSE
/// envelope signed over its pre-authentication encoding, each envelope one layer of
/// `application/vnd.dsse.envelope.v1+json` in the `<repo>:sha256-<hex>.att` image.
enum TestAttestation {
    static let provenanceV1 = "https://slsa.dev/provenance/v1"
    static let vuln = "https://cosign.sigstore.dev/attestation/vuln/v1"

    /// A statement of `predicateType` about `digest` with `predicate` (JSON text).
    static func statement(
        for digest: ImageDigest, predicateType: String, predicate: String, type: String = "https://in-toto.io/Statement/v1"
    ) -> [UInt8] {
        Array("""
            {"_type":"\(type)","subject":[{"name":"image","digest":{"\(digest.algorithm)":"\(digest.encoded)"}}],\
            "predicateType":"\(predicateType)","predicate":\(predicate)}
            """.utf8)
    }

    /// A SLSA v1 provenance predicate naming `builder`.
    static func provenance(builder: String, ref: String = "refs/heads/main") -> String {
        #"{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1","externalParameters":{"workflow":{"ref":"\#(ref)","repository":"https://github.com/example/app"}}},"runDetails":{"builder":{"id":"\#(builder)"}}}"#
    }

    /// A cosign vulnerability-scan predicate finished at `finished` with `critical` findings.
    static func scan(finished: String, critical: Int) -> String {
        #"{"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.50.0","result":{"criticalCount":\#(critical)}},"metadata":{"scanStartedOn":"\#(finished)","scanFinishedOn":"\#(finished)"}}"#
    }

    /// The DSSE envelope (JSON) of `statement`, signed by `key`.
    static func envelope(_ statement: [UInt8], key: TestSigningKey, payloadType: String = "application/vnd.in-toto+json") async throws -> [UInt8] {
        let pae = DSSEEnvelopeText.pae(payloadType: payloadType, payload: statement)
        let signature = try await key.signature(over: pae)
        return envelope(statement, signature: signature, payloadType: payloadType)
    }

    static func envelope(_ statement: [UInt8], signature: [UInt8], payloadType: String = "application/vnd.in-toto+json") -> [UInt8] {
        Array("""
            {"payloadType":"\(payloadType)","payload":"\(Data(statement).base64EncodedString())",\
            "signatures":[{"keyid":"","sig":"\(Data(signature).base64EncodedString())"}]}
            """.utf8)
    }

    /// Pushes `<repo>:sha256-<hex>.att` with one layer per envelope.
    static func push(_ envelopes: [[UInt8]], for digest: ImageDigest, in repository: ImageReference, client: RegistryClient) async throws {
        var layers: [Descriptor] = []
        for envelope in envelopes {
            var layer = try await client.pushBlob(envelope, mediaType: AttestationVerifier.envelopeMediaType, to: repository, deadline: deadline())
            layer.annotations = ["predicateType": "set by the test"]
            layers.append(layer)
        }
        let config = try await client.pushBlob(
            Array(#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#.utf8),
            mediaType: "application/vnd.oci.image.config.v1+json", to: repository, deadline: deadline())
        let tagged = try ImageReference(parsing: "\(repository.name):\(CosignArtifactKind.attestation.tag(for: digest))")
        try await client.pushManifest(.image(ImageManifest(config: config, layers: layers)), to: tagged, deadline: deadline())
    }

    /// A requirement of `predicateType` signed by `keys`, with conditions written as JSON.
    static func requirement(
        _ name: String, _ predicateType: String, keys: [TrustedPublicKey], conditions: [String] = []
    ) throws -> CompiledAttestationAuthority.Requirement {
        CompiledAttestationAuthority.Requirement(
            name: name, predicateType: predicateType, signer: .key(CompiledKeyAuthority(keys: keys, threshold: 1)),
            conditions: try conditions.map { try AttestationCondition(parsing: AttestationValue(json: Array($0.utf8))!, field: "test") })
    }

    static func authority(_ requirements: [CompiledAttestationAuthority.Requirement], name: String = "attested") -> CompiledAuthority {
        CompiledAuthority(name: name, index: 0, kind: .attestations(CompiledAttestationAuthority(requirements: requirements)))
    }
}

/// The DSSE v1 pre-authentication encoding, written out here as the test's own signer computes it.
enum DSSEEnvelopeText {
    static func pae(payloadType: String, payload: [UInt8]) -> [UInt8] {
        Array("DSSEv1 \(payloadType.utf8.count) \(payloadType) \(payload.count) ".utf8) + payload
    }
}

/// A calendar clock a test moves by hand.
final class SettableWallClock: Sendable {
    private let date: NIOLockedValueBox<Date>

    init(_ date: Date) {
        self.date = NIOLockedValueBox(date)
    }

    func advance(by seconds: TimeInterval) { date.withLockedValue { $0 = $0.addingTimeInterval(seconds) } }

    var clock: WallClock { WallClock { self.date.withLockedValue { $0 } } }
}
