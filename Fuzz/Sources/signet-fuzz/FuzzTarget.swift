import Foundation
import SignetAttestation
import SignetCrypto
import SignetHTTP
import SignetJSON
import SignetNotary
import SignetNotation
import SignetRegistry
import SignetSigstore
import SignetTUF
@testable import SignetAdmission
@testable import SignetVerify

/// The parsers signet runs on bytes an attacker can choose: each case feeds one input to the
/// parsers of one format and lets them fail as they should (a thrown error, a `nil`). A crash,
/// a sanitizer report or a broken invariant (`precondition`) is a finding.
enum FuzzTarget: String, CaseIterable {
    /// The HTTP/1.1 request parser (RFC 9112), fed whole and in two halves.
    case http
    /// The JSON syntax check, the AdmissionReview reader and decoder, the images of the object.
    case admission
    /// PEM and DER certificates, CRLs, public keys, RFC 3161 responses, SCTs, Fulcio extensions.
    case certificate
    /// Image references (the distribution reference grammar), normalised and read again.
    case imageReference
    /// Sigstore bundles, DSSE envelopes, Rekor entry bodies, checkpoints, trusted roots, cosign
    /// simple-signing payloads; and the JSON gate in front of them, which must never count fewer
    /// values than Foundation builds.
    case sigstore
    /// TUF metadata (specification 1.0): the envelope, each role, canonical JSON.
    case tuf
    /// Notation envelopes (JWS and COSE), the CBOR decoder, trust policy documents.
    case notation
    /// Notary v1 metadata: the envelope and each role.
    case notary
    /// in-toto statements (v0.1, v1) and the predicate fields conditions read.
    case intoto

    func run(_ bytes: [UInt8]) {
        switch self {
        case .http: Self.http(bytes)
        case .admission: Self.admission(bytes)
        case .certificate: Self.certificate(bytes)
        case .imageReference: Self.imageReference(bytes)
        case .sigstore: Self.sigstore(bytes)
        case .tuf: Self.tuf(bytes)
        case .notation: Self.notation(bytes)
        case .notary: Self.notary(bytes)
        case .intoto: Self.intoto(bytes)
        }
    }

    private static func http(_ bytes: [UInt8]) {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = 64 * 1024
        var whole = HTTPRequestParser(limits: limits)
        whole.append(bytes)
        let wholeRequests = drain(&whole)
        // The same bytes in two parts must give the same requests.
        var split = HTTPRequestParser(limits: limits)
        let middle = bytes.count / 2
        split.append(bytes[..<middle])
        var splitRequests = drain(&split)
        split.append(bytes[middle...])
        splitRequests += drain(&split)
        precondition(
            wholeRequests.map(\.target) == splitRequests.map(\.target),
            "the parser read \(wholeRequests.count) requests whole and \(splitRequests.count) in two parts")
    }

    private static func drain(_ parser: inout HTTPRequestParser) -> [HTTPRequest] {
        var requests: [HTTPRequest] = []
        while true {
            switch parser.next() {
            case .request(let request): requests.append(request)
            case .continueExpected: continue
            case .needMoreData, .failure: return requests
            }
        }
    }

    private static func admission(_ bytes: [UInt8]) {
        guard let review = try? AdmissionResponder.decodeReview(bytes) else { return }
        if let request = review.request, let object = request.object {
            _ = WorkloadImages.extract(from: object, kind: request.kind.kind)
        }
        _ = WorkloadImages.extract(objectJSON: bytes, kind: "Pod")
    }

    private static func certificate(_ bytes: [UInt8]) {
        var certificates: [Certificate] = []
        if let certificate = try? Certificate(derEncoded: bytes) { certificates.append(certificate) }
        if let pem = String(validatingCString: bytes.map { CChar(bitPattern: $0) } + [0]),
           let fromPEM = try? Certificate.certificates(pemEncoded: pem) {
            certificates += fromPEM
        }
        for certificate in certificates {
            _ = try? certificate.publicKey()
            _ = certificate.isValid(at: Date(timeIntervalSince1970: 1_700_000_000))
            _ = try? SignedCertificateTimestamp.embedded(in: certificate)
            _ = try? FulcioCertificateIdentity(certificate: certificate)
            _ = CertificateChainVerifier(trustAnchors: certificates).verify(certificate, at: Date(timeIntervalSince1970: 1_700_000_000))
        }
        if let lists = try? CertificateRevocationList.lists(in: bytes) {
            for list in lists {
                for certificate in certificates { _ = list.isIssued(by: certificate); _ = list.revocationDate(of: certificate) }
            }
        }
        _ = try? PublicKey(der: bytes)
        _ = try? TimeStampResponse(derEncoded: bytes)
        _ = DER.elements(bytes[...])
    }

    private static func imageReference(_ bytes: [UInt8]) {
        guard let text = String(bytes: bytes, encoding: .utf8),
              let reference = try? ImageReference(parsing: text) else { return }
        // The normalised spelling is a fixed point: read again, it is written the same.
        let again = try? ImageReference(parsing: reference.description)
        precondition(
            again?.description == reference.description && again?.digest == reference.digest,
            "\(text) normalised to \(reference.description), which reads as \(String(describing: again))")
    }

    private static func sigstore(_ bytes: [UInt8]) {
        // What Foundation builds (containers, scalars, member names) is at most what the gate
        // counts: a limit one below it must refuse the document.
        if let tree = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) {
            let built = nodes(tree)
            if built >= 2 {
                let refused = (try? UntrustedJSON.check(bytes, limits: .init(values: built - 1, containers: .max, depth: .max))) == nil
                precondition(refused, "the gate let through a document of \(built) values under a limit of \(built - 1)")
            }
        }
        _ = try? SigstoreBundle(json: bytes)
        if let envelope = try? DSSEEnvelope(json: bytes) {
            _ = DSSEEnvelope.preAuthenticationEncoding(payloadType: envelope.payloadType, payload: envelope.payload)
        }
        _ = try? RekorEntryBody(json: bytes)
        _ = try? TrustedRoot(json: bytes)
        _ = try? SimpleSigningPayload(parsing: bytes)
        if let text = String(bytes: bytes, encoding: .utf8) {
            _ = SignedNote(text)
            _ = Checkpoint(text)
        }
    }

    /// The values of a `JSONSerialization` tree, member names included.
    private static func nodes(_ value: Any) -> Int {
        if let object = value as? [String: Any] { return 1 + object.values.reduce(0) { $0 + 1 + nodes($1) } }
        if let array = value as? [Any] { return 1 + array.reduce(0) { $0 + nodes($1) } }
        return 1
    }

    private static func tuf(_ bytes: [UInt8]) {
        let format = TUFSpecificationFormat()
        guard let envelope = try? format.envelope(of: bytes, context: "fuzz") else { return }
        _ = try? RootMetadata(envelope.signed)
        _ = try? TargetsMetadata(envelope.signed)
        _ = try? SnapshotMetadata(envelope.signed)
        _ = try? TimestampMetadata(envelope.signed)
        _ = try? format.signedBytes(of: envelope.signed)
    }

    private static func notation(_ bytes: [UInt8]) {
        for format in NotationEnvelope.Format.allCases {
            if let envelope = try? NotationEnvelope.parse(bytes, mediaType: format.rawValue) {
                _ = envelope.verifyIntegrity()
            }
        }
        if let item = try? CBORDecoder().decode(bytes) {
            // What the decoder accepts encodes back to the same bytes (deterministic CBOR).
            precondition(CBOREncoder.encode(item) == bytes, "CBOR accepted a non-canonical encoding")
        }
        _ = try? NotationTrustPolicy(json: bytes)
    }

    private static func notary(_ bytes: [UInt8]) {
        let format = NotaryMetadataFormat()
        guard let envelope = try? format.envelope(of: bytes, context: "fuzz") else { return }
        _ = try? NotaryRootMetadata(envelope.signed, context: "root")
        _ = try? NotaryTargetsMetadata(envelope.signed, context: "targets")
        _ = try? NotarySnapshotMetadata(envelope.signed, context: "snapshot")
        _ = try? NotaryTimestampMetadata(envelope.signed, context: "timestamp")
        _ = try? format.signedBytes(of: envelope.signed)
    }

    private static func intoto(_ bytes: [UInt8]) {
        if let statement = try? InTotoStatement(json: bytes) {
            _ = statement.hasSubject(algorithm: "sha256", hex: String(repeating: "0", count: 64))
        }
        if let value = AttestationValue(json: bytes),
           let path = PredicatePath("predicate.materials[*].digest.sha256") {
            _ = PredicateFields(reading: [path], from: value)
        }
    }
}
