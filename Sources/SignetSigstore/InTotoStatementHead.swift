import Foundation
import SignetJSON

/// The few fields of an in-toto statement (in-toto attestation framework, "Statement" v1) that
/// matching a DSSE payload to its artifact, deciding whether it is a cosign image signature and
/// checking its subjects' annotations read: its predicate type and its subjects' digests and
/// annotations.
///
/// Decoded as these fields alone: the payload comes from a registry, and these checks run
/// before a signature is verified, or right after for a payload of megabytes. Foundation's
/// `JSONSerialization` builds every object and array of a document, reserving room in each: a
/// payload of a few megabytes of tiny elements grew to gigabytes.
///
/// A field of another shape reads as absent: a subject list with an element that is not an
/// object, a digest map with a value that is not a string. Only a payload that is not a JSON
/// object is refused.
package struct InTotoStatementHead: Decodable {
    package struct Subject: Decodable {
        package var digest: [String: String]?
        package var annotations: [String: LooseJSONValue]?

        package init(from decoder: any Decoder) throws {
            // A subject that is not an object makes the whole list absent; a digest map with a
            // value that is not a string is absent, as protojson (sigstore-go, cosign) refuses them.
            let container = try decoder.container(keyedBy: CodingKeys.self)
            digest = (try? container.decodeIfPresent([String: String].self, forKey: .digest)) ?? nil
            annotations = (try? container.decodeIfPresent([String: LooseJSONValue].self, forKey: .annotations)) ?? nil
        }

        enum CodingKeys: String, CodingKey { case digest, annotations }
    }

    package var predicateType: LooseJSONValue?
    package var subject: [Subject]?

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        predicateType = (try? container.decodeIfPresent(LooseJSONValue.self, forKey: .predicateType)) ?? nil
        subject = (try? container.decodeIfPresent([Subject].self, forKey: .subject)) ?? nil
    }

    enum CodingKeys: String, CodingKey { case predicateType, subject }

    /// The statement in `payload`, or nil when it is not a JSON object or holds more than
    /// `limits` allow. An attestation's statement may be an SBOM of up to
    /// `UntrustedJSON.Limits.inTotoStatement`; a caller that only looks for an image signature
    /// statement (a few dozen values) reads it under `UntrustedJSON.Limits.registryDocument`.
    package init?(_ payload: [UInt8], limits: UntrustedJSON.Limits = .inTotoStatement) {
        guard let head = try? UntrustedJSON.decode(Self.self, from: payload, limits: limits) else { return nil }
        self = head
    }

    /// Why `payload` gave no statement, for a message: the refusal of `UntrustedJSON` when it
    /// holds more than `limits` allow, else `otherwise`.
    package static func problem(_ payload: [UInt8], limits: UntrustedJSON.Limits = .inTotoStatement, otherwise: String) -> String {
        do throws(UntrustedJSON.Refusal) {
            try UntrustedJSON.check(payload, limits: limits)
            return otherwise
        } catch {
            return "the DSSE payload is refused: \(error)"
        }
    }
}

/// A JSON value read only as far as these checks need: a string, null, or anything else.
package enum LooseJSONValue: Decodable, Equatable {
    case string(String)
    case null
    case other

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else {
            self = .other
        }
    }

    package var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}
