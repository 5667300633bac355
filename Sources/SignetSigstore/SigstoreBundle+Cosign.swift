import Foundation
import SignetCrypto
import SignetJSON

extension SigstoreBundle {
    /// Builds the equivalent v0.1 bundle from a cosign keyless signature layer (cosign
    /// `pkg/oci/static` annotations): `dev.cosignproject.cosign/signature` (base64),
    /// `dev.sigstore.cosign/certificate` (PEM leaf), `dev.sigstore.cosign/chain` (PEM chain) and
    /// `dev.sigstore.cosign/bundle` (the Rekor v1 SET bundle, cosign `bundle.RekorBundle`:
    /// `{"SignedEntryTimestamp", "Payload": {"body", "integratedTime", "logIndex", "logID"}}`).
    ///
    /// The signature is a message signature over the layer's payload (the simple-signing JSON);
    /// verify the result with ``SigstoreArtifact/bytes(_:)`` of that payload, then check the
    /// payload's `critical.image.docker-manifest-digest` against the image.
    public init(
        cosignSignature signatureBase64: String, certificatePEM: String, chainPEM: String?, rekorBundleJSON: String?
    ) throws(SigstoreBundleError) {
        guard let signature = Base64.decode(signatureBase64.trimmingCharacters(in: .whitespacesAndNewlines)), !signature.isEmpty else {
            throw SigstoreBundleError(.invalidBase64("dev.cosignproject.cosign/signature"))
        }
        let annotations = try Self.cosignAnnotations(certificatePEM: certificatePEM, chainPEM: chainPEM, rekorBundleJSON: rekorBundleJSON)
        self.init(
            version: .v0_1, verificationMaterial: annotations.material, transparencyLogEntries: annotations.entries,
            content: .messageSignature(MessageSignature(digest: nil, signature: signature)), additionalCertificates: annotations.chain)
    }

    /// Builds the equivalent v0.1 bundle from a cosign key-based signature layer: the
    /// `dev.cosignproject.cosign/signature` (base64) made with a managed key, and the
    /// `dev.sigstore.cosign/bundle` annotation (the Rekor v1 SET bundle) that logs it. Verify the
    /// result with ``SigstoreVerificationPolicy/Signer/publicKey(_:)`` and
    /// ``SigstoreArtifact/bytes(_:)`` of the layer's payload.
    public init(cosignKeySignature signatureBase64: String, rekorBundleJSON: String) throws(SigstoreBundleError) {
        guard let signature = Base64.decode(signatureBase64.trimmingCharacters(in: .whitespacesAndNewlines)), !signature.isEmpty else {
            throw SigstoreBundleError(.invalidBase64("dev.cosignproject.cosign/signature"))
        }
        self.init(
            version: .v0_1, verificationMaterial: .publicKey(hint: nil), transparencyLogEntries: [try Self.cosignRekorEntry(Array(rekorBundleJSON.utf8))],
            content: .messageSignature(MessageSignature(digest: nil, signature: signature)))
    }

    /// Builds the equivalent v0.1 bundle from a layer of a cosign attestation image
    /// (`<repo>:sha256-<hex>.att`, sigstore/cosign `specs/ATTESTATION_SPEC.md`): the layer's DSSE
    /// envelope is the content; a `dev.sigstore.cosign/certificate` annotation (with
    /// `dev.sigstore.cosign/chain`) makes it a keyless attestation, without one a managed key
    /// signed it; `dev.sigstore.cosign/bundle` (the Rekor v1 SET of its `intoto` or `dsse`
    /// entry) is its log entry. Verify the result with the image digest as
    /// ``SigstoreArtifact/digest(_:)``: the statement's subject must name it.
    public init(
        cosignAttestation envelope: DSSEEnvelope, certificatePEM: String?, chainPEM: String?, rekorBundleJSON: String?
    ) throws(SigstoreBundleError) {
        let annotations = try Self.cosignAnnotations(certificatePEM: certificatePEM, chainPEM: chainPEM, rekorBundleJSON: rekorBundleJSON)
        self.init(
            version: .v0_1, verificationMaterial: annotations.material, transparencyLogEntries: annotations.entries,
            content: .dsseEnvelope(envelope), additionalCertificates: annotations.chain)
    }

    /// The verification material of a cosign layer's annotations: the certificate and chain
    /// when a certificate is given (a managed key's hint-less material otherwise), and the
    /// Rekor entry of its SET.
    private static func cosignAnnotations(
        certificatePEM: String?, chainPEM: String?, rekorBundleJSON: String?
    ) throws(SigstoreBundleError) -> (material: VerificationMaterial, chain: [Certificate], entries: [TransparencyLogEntry]) {
        var material = VerificationMaterial.publicKey(hint: nil)
        var chain: [Certificate] = []
        if let certificatePEM {
            // Counted before OpenSSL reads them: the annotation is as long as the manifest allows.
            for (name, text) in [("certificate", certificatePEM), ("chain", chainPEM ?? "")]
            where text.utf8.count > SigstoreBundle.maximumCertificateAnnotationBytes {
                throw SigstoreBundleError(.invalidCertificate(
                    "the \(name) annotation is \(text.utf8.count) bytes, more than the \(SigstoreBundle.maximumCertificateAnnotationBytes) signet reads"))
            }
            if let chainPEM {
                let declared = PEMBlocks.count("CERTIFICATE", in: chainPEM)
                guard declared <= SigstoreBundle.maximumCertificates else {
                    throw SigstoreBundleError(.tooMany(field: "certificates in the chain annotation", count: declared, limit: SigstoreBundle.maximumCertificates))
                }
            }
            do {
                material = .certificate(try Certificate(pemEncoded: certificatePEM))
                if let chainPEM { chain = try Certificate.certificates(pemEncoded: chainPEM) }
            } catch {
                throw SigstoreBundleError(.invalidCertificate(error.description))
            }
            guard chain.count <= SigstoreBundle.maximumCertificates else {
                throw SigstoreBundleError(.tooMany(field: "certificates in the chain annotation", count: chain.count, limit: SigstoreBundle.maximumCertificates))
            }
        }
        let entries = try rekorBundleJSON.map { json throws(SigstoreBundleError) in [try cosignRekorEntry(Array(json.utf8))] } ?? []
        return (material, chain, entries)
    }

    /// Reads cosign's `dev.sigstore.cosign/bundle` annotation as a tlog entry with an inclusion promise.
    static func cosignRekorEntry(_ json: [UInt8]) throws(SigstoreBundleError) -> TransparencyLogEntry {
        struct RekorBundle: Decodable {
            struct Payload: Decodable {
                var body: String
                var integratedTime: Int64
                var logIndex: Int64
                var logID: String
            }
            var SignedEntryTimestamp: String
            var Payload: Payload
        }
        let bundle: RekorBundle
        do {
            bundle = try UntrustedJSON.decode(RekorBundle.self, from: json)
        } catch {
            throw SigstoreBundleError(.invalidJSON("dev.sigstore.cosign/bundle: \(error)"))
        }
        guard let set = Base64.decode(bundle.SignedEntryTimestamp), !set.isEmpty,
              let body = Base64.decode(bundle.Payload.body),
              let logID = Hex.decode(bundle.Payload.logID), !logID.isEmpty else {
            throw SigstoreBundleError(.invalidBase64("dev.sigstore.cosign/bundle"))
        }
        guard bundle.Payload.logIndex >= 0, bundle.Payload.integratedTime >= 0 else {
            throw SigstoreBundleError(.invalidEntry("negative logIndex or integratedTime"))
        }
        // Its kind and version alone are decoded: the body comes from the image's registry and is
        // read before the log's signed entry timestamp is verified.
        guard let head = try? UntrustedJSON.decode(RekorBodyHead.self, from: body),
              let kind = head.kind, let version = head.apiVersion else {
            throw SigstoreBundleError(.invalidEntry("the Rekor body is not JSON with kind and apiVersion"))
        }
        return TransparencyLogEntry(
            logIndex: bundle.Payload.logIndex, logID: logID, kind: kind, kindVersion: version,
            integratedTime: bundle.Payload.integratedTime, inclusionPromise: set, inclusionProof: nil, canonicalizedBody: body)
    }
}

/// The fields of a Rekor entry body (Rekor `pkg/types`: `kind`, `apiVersion`) a bundle names it by.
private struct RekorBodyHead: Decodable {
    var kind: String?
    var apiVersion: String?
}
