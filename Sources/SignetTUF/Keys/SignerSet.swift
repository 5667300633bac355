/// The keys and threshold that must sign one role's metadata (TUF specification section 4.3,
/// "root.json" `ROLES`, and section 4.5, "DELEGATIONS"), and the check that they did.
public struct SignerSet: Sendable, Hashable {
    /// The role's name, for messages.
    public var name: String
    public var role: TUFRole
    /// Keys by ID; the role's key IDs are looked up here.
    public var keys: [String: TUFKey]

    public init(name: String, role: TUFRole, keys: [String: TUFKey]) {
        self.name = name
        self.role = role
        self.keys = keys
    }

    /// Throws ``TUFError/Code/thresholdNotMet`` unless at least `threshold` distinct keys of the
    /// role made valid signatures over `signedValue` (sections 5.3.4, 5.4.2, 5.5.3, 5.6.3).
    ///
    /// Distinct means distinct key IDs and distinct keys: the same key listed under two IDs
    /// counts once. Signatures by keys outside the role, by keys of unknown types, or that do
    /// not verify are ignored rather than fatal, so a role can add key types a client does
    /// not know yet. Each key ID's first signature is the one checked, as python-tuf keeps
    /// one signature per key ID: a key does not get a second try over the same document.
    /// Returns the key IDs whose signatures counted, sorted.
    @discardableResult
    public func verify<Signed>(_ metadata: SignedMetadata<Signed>, format: any TUFMetadataFormat, signer: String) throws(TUFError) -> [String] {
        let message = try format.signedBytes(of: metadata.signedValue)
        var triedIDs = Set<String>()
        var countedIDs = Set<String>()
        var countedKeys = Set<[UInt8]>()
        for signature in metadata.signatures {
            guard role.keyIDs.contains(signature.keyID), triedIDs.insert(signature.keyID).inserted,
                  let key = keys[signature.keyID],
                  let verifier = try? format.verifier(for: key),
                  !countedKeys.contains(verifier.keyIdentity),
                  verifier.isValid(signature, over: message) else { continue }
            countedIDs.insert(signature.keyID)
            countedKeys.insert(verifier.keyIdentity)
        }
        guard countedIDs.count >= role.threshold else {
            throw TUFError(
                .thresholdNotMet,
                "\(name) metadata has \(countedIDs.count) valid signature(s) by the keys of \(signer), which requires \(role.threshold)")
        }
        return countedIDs.sorted()
    }
}
