/// One metadata document as fetched (TUF specification section 4.2, "Document formats"): the
/// typed `signed` part, the JSON it was read from (which the signatures cover in canonical
/// form), the signatures, and the bytes as they arrived (kept on disk as the last good copy).
public struct SignedMetadata<Signed: Sendable & Hashable>: Sendable, Hashable {
    public let signed: Signed
    /// The `signed` object as parsed.
    public let signedValue: JSONValue
    public let signatures: [TUFSignature]
    /// The document's bytes as fetched.
    public let bytes: [UInt8]

    /// Reads a document with `format`, then its `signed` part with `read`. A document of more
    /// than ``TUFLimits/maximumSignatures`` signatures is refused before any is checked.
    public init(
        bytes: [UInt8], format: any TUFMetadataFormat, context: String,
        read: (JSONValue, String) throws(TUFError) -> Signed
    ) throws(TUFError) {
        let envelope = try format.envelope(of: bytes, context: context)
        guard envelope.signatures.count <= TUFLimits.maximumSignatures else {
            throw TUFError(
                .malformedMetadata,
                "\(context) carries \(envelope.signatures.count) signatures, more than the \(TUFLimits.maximumSignatures) signet checks")
        }
        self.signed = try read(envelope.signed, context)
        self.signedValue = envelope.signed
        self.signatures = envelope.signatures
        self.bytes = bytes
    }
}

/// Bounds on metadata read before its signatures are checked.
public enum TUFLimits {
    /// The most signatures one document may carry. Each is checked over the whole canonical
    /// document, which a server can make megabytes long; roles are signed by a handful of keys
    /// (Sigstore's root by its five keyholders, Notary's by one).
    public static let maximumSignatures = 32
}

/// One signature of a metadata document (TUF specification section 4.2, `SIGNATURES`): the
/// ID of the key that made it and the signature bytes.
public struct TUFSignature: Sendable, Hashable {
    public var keyID: String
    public var bytes: [UInt8]
    /// The signing method some formats name per signature (Notary v1's `method`); nil otherwise.
    public var method: String?

    public init(keyID: String, bytes: [UInt8], method: String? = nil) {
        self.keyID = keyID
        self.bytes = bytes
        self.method = method
    }
}
