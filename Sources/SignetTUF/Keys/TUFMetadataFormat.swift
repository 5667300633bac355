import SignetCrypto

/// What differs between repositories that follow the TUF workflow but write metadata their own
/// way (TUF specification section 4.2, "Document formats", leaves the encoding to the
/// implementation): how a document splits into `signed` and signatures, which bytes the
/// signatures cover, and which key types it knows.
///
/// ``TUFSpecificationFormat`` is the specification's own (python-tuf, go-tuf, Sigstore,
/// tuf-on-ci). Notary v1 conforms with Go's canonical JSON, base64 signatures with a
/// `method`, and its `ecdsa-x509` and `rsa-x509` key types.
public protocol TUFMetadataFormat: Sendable {
    /// Splits a document into its `signed` object and its signatures.
    func envelope(of bytes: [UInt8], context: String) throws(TUFError) -> (signed: JSONValue, signatures: [TUFSignature])
    /// The bytes a signature over `signed` covers.
    func signedBytes(of signed: JSONValue) throws(TUFError) -> [UInt8]
    /// Something that checks signatures by `key`; throws for a key type or scheme the format
    /// does not know, or a key it cannot read.
    func verifier(for key: TUFKey) throws(TUFError) -> any TUFSignatureVerifier
}

/// Checks signatures made by one key (TUF specification section 4.2, "SIGNATURES").
public protocol TUFSignatureVerifier: Sendable {
    /// A value equal for the same key however it was written (SignetCrypto's canonical form),
    /// so that one key listed under two IDs counts once toward a threshold.
    var keyIdentity: [UInt8] { get }
    /// Whether `signature` is a valid signature of `message`.
    func isValid(_ signature: TUFSignature, over message: [UInt8]) -> Bool
}

/// The metadata format of the TUF specification (version 1.0, section 4.2): OLPC canonical
/// JSON of `signed`, signatures as `{"keyid", "sig"}` with `sig` in hex, and the key types of
/// ``TUFSpecificationKeys``.
public struct TUFSpecificationFormat: TUFMetadataFormat {
    public var parser: JSONParser
    public var canonicalJSON: any CanonicalJSONEncoding

    public init(parser: JSONParser = JSONParser(), canonicalJSON: any CanonicalJSONEncoding = OLPCCanonicalJSON()) {
        self.parser = parser
        self.canonicalJSON = canonicalJSON
    }

    public func envelope(of bytes: [UInt8], context: String) throws(TUFError) -> (signed: JSONValue, signatures: [TUFSignature]) {
        let document: JSONValue
        do {
            document = try parser.parse(bytes)
        } catch {
            throw TUFError(.malformedJSON, "\(context): \(error.reason)")
        }
        let reader = try FieldReader(document, context: context)
        guard let signed = reader.members["signed"], signed.objectValue != nil else {
            throw reader.failure("\"signed\" must be an object")
        }
        var signatures: [TUFSignature] = []
        for (position, element) in try reader.array("signatures").enumerated() {
            let entry = try FieldReader(element, context: "\(context).signatures[\(position)]")
            let hex = try entry.string("sig")
            guard let bytes = Hex.decode(hex) else { throw entry.failure("sig is not hex") }
            signatures.append(TUFSignature(keyID: try entry.string("keyid"), bytes: bytes))
        }
        return (signed, signatures)
    }

    public func signedBytes(of signed: JSONValue) throws(TUFError) -> [UInt8] {
        try canonicalJSON.encode(signed)
    }

    public func verifier(for key: TUFKey) throws(TUFError) -> any TUFSignatureVerifier {
        try TUFSpecificationKeys.verifier(for: key)
    }
}
