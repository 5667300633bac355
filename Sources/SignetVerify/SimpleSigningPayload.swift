import Foundation
import SignetJSON
import SignetPolicy

/// The payload cosign signs for a container image: the "simple signing" JSON of
/// containers/image (`docs/containers-signature.5.md`, "JSON Data Format") as cosign writes it
/// (sigstore/cosign `specs/SIGNATURE_SPEC.md`, "Payload"):
///
/// ```json
/// {"critical":{"identity":{"docker-reference":"index.docker.io/x/y"},
///              "image":{"docker-manifest-digest":"sha256:…"},
///              "type":"cosign container image signature"},
///  "optional":{"key":"value"}}
/// ```
///
/// Only the `critical` members the specification requires are read strictly; `optional` holds
/// the annotations given at signing time (`cosign sign -a key=value`).
public struct SimpleSigningPayload: Sendable, Hashable {
    /// The `critical.type` cosign writes for image signatures.
    public static let cosignImageSignatureType = "cosign container image signature"

    public let type: String
    public let dockerManifestDigest: String
    public let dockerReference: String?
    public let optional: [String: PolicyValue]

    /// Parses the payload bytes; the error says which member is missing or malformed.
    public init(parsing bytes: [UInt8]) throws(SimpleSigningPayloadError) {
        struct Document: Decodable {
            struct Critical: Decodable {
                struct Identity: Decodable {
                    var dockerReference: String?
                    enum CodingKeys: String, CodingKey { case dockerReference = "docker-reference" }
                }
                struct Image: Decodable {
                    var dockerManifestDigest: String
                    enum CodingKeys: String, CodingKey { case dockerManifestDigest = "docker-manifest-digest" }
                }
                var identity: Identity?
                var image: Image
                var type: String
            }
            var critical: Critical
            var optional: [String: PolicyValue]?
        }
        let document: Document
        do {
            document = try UntrustedJSON.decode(Document.self, from: bytes)
        } catch let refusal as UntrustedJSON.Refusal {
            throw SimpleSigningPayloadError(description: "the payload is refused: \(refusal)")
        } catch let DecodingError.keyNotFound(key, context) {
            let path = (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw SimpleSigningPayloadError(description: "the payload has no \(path)")
        } catch {
            throw SimpleSigningPayloadError(description: "the payload is not simple-signing JSON")
        }
        type = document.critical.type
        dockerManifestDigest = document.critical.image.dockerManifestDigest
        dockerReference = document.critical.identity?.dockerReference
        optional = document.optional ?? [:]
    }
}

/// Why a simple-signing payload could not be read.
public struct SimpleSigningPayloadError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
}
