import Foundation
import SignetCrypto
import SignetTUF

/// Notary v1's metadata format as a SignetTUF ``TUFMetadataFormat`` (Notary `tuf/data.Signed`
/// and `tuf/signed/verify.go`): signatures are `{"keyid", "method", "sig"}` with `sig` in
/// base64, over the canonical JSON of `signed` (docker/go `canonical/json`: sorted keys, no
/// insignificant whitespace, only `"` and `\` escaped, the same bytes as TUF's OLPC form);
/// key types are those of ``NotaryKeys``.
public struct NotaryMetadataFormat: TUFMetadataFormat {
    public var parser: JSONParser

    public init(parser: JSONParser = JSONParser()) {
        self.parser = parser
    }

    public func envelope(of bytes: [UInt8], context: String) throws(TUFError) -> (signed: JSONValue, signatures: [TUFSignature]) {
        let document: JSONValue
        do {
            document = try parser.parse(bytes)
        } catch {
            throw TUFError(.malformedJSON, "\(context): \(error.reason)")
        }
        let reader = try NotaryFieldReader(document, context: context)
        guard let signed = reader.members["signed"], signed.objectValue != nil else {
            throw reader.failure("\"signed\" must be an object")
        }
        var signatures: [TUFSignature] = []
        for (position, element) in try reader.array("signatures").enumerated() {
            let entry = try NotaryFieldReader(element, context: "\(context).signatures[\(position)]")
            guard let bytes = Data(base64Encoded: try entry.string("sig")) else { throw entry.failure("sig is not base64") }
            signatures.append(TUFSignature(keyID: try entry.string("keyid"), bytes: [UInt8](bytes), method: try entry.string("method")))
        }
        return (signed, signatures)
    }

    public func signedBytes(of signed: JSONValue) throws(TUFError) -> [UInt8] {
        try OLPCCanonicalJSON().encode(signed)
    }

    public func verifier(for key: TUFKey) throws(TUFError) -> any TUFSignatureVerifier {
        try NotaryKeys.verifier(for: key)
    }
}
