/// The Sigstore public-good TUF repository (sigstore/root-signing), as a TUF client needs it:
/// where it is published and the root it is trusted from (TUF specification section 5.2, the
/// trusted root shipped with the client).
public enum SigstoreTUFRoot {
    /// The public mirror of the Sigstore TUF repository (metadata at `/`, targets at `/targets/`).
    public static let publicMirrorURL = "https://tuf-repo-cdn.sigstore.dev"

    /// The target that holds the Sigstore `trusted_root.json` (Sigstore client specification,
    /// "Trusted root").
    public static let trustedRootTarget = "trusted_root.json"

    /// ``embeddedJSON`` as bytes.
    public static var embeddedRoot: [UInt8] { Array(embeddedJSON.utf8) }
}
