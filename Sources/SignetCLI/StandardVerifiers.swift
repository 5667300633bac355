import SignetNotary
import SignetRegistry
import SignetVerify

/// The signature formats the command line verifies with, one ``SignatureVerifier`` each behind
/// the engine's seam: cosign key-based, Sigstore keyless, Notation, Notary v1 / Docker Content Trust, and in-toto attestations.
enum StandardVerifiers {
    /// `crlDownloader`: downloads the CRLs Notation chains name (``NotationCRLOptions``); nil: none.
    static func make(
        registry: RegistryClient, notary: NotaryRepositoryClient = NotaryRepositoryClient(), crlDownloader: HTTPCRLDownloader? = nil
    ) -> [any SignatureVerifier] {
        [
            CosignKeyVerifier(registry: registry), KeylessVerifier(registry: registry),
            NotationSignatureVerifier(registry: registry, crlDownloader: crlDownloader),
            NotaryV1Verifier(registry: registry, client: notary), AttestationVerifier(registry: registry),
        ]
    }
}
