import ArgumentParser
import Logging
import SignetVerify

/// Whether Notation revocation downloads the CRLs certificates name (`serve`, `verify`, `scan`,
/// `review`), with the environment twin; see docs/notation.md, "Revocation".
struct NotationCRLOptions: ParsableArguments {
    @Option(name: .long, help: "Download the CRLs that the certificates of trusted Notation signing and TSA chains name (http distribution points), for revocation checking; false: only the CRLs an authority supplies count, and a certificate that publishes its status is \"revocation unavailable\". (env: SIGNET_NOTATION_CRL_DOWNLOADS, default true)")
    var notationCrlDownloads: String?

    /// The downloader these options ask for; nil when downloads are off. A wrong value, or a
    /// client that cannot start, is thrown as what `fail` makes of its message (each command
    /// reports and exits its own way).
    func downloader(or fail: (String) -> any Error) throws -> HTTPCRLDownloader? {
        do {
            return try downloader()
        } catch {
            throw fail("\(error)")
        }
    }

    /// The downloader these options ask for; nil when downloads are off.
    func downloader() throws -> HTTPCRLDownloader? {
        let text = EnvironmentOption.string(notationCrlDownloads, "SIGNET_NOTATION_CRL_DOWNLOADS", default: "true")!
        guard let enabled = Bool(text) else { throw ValidationError("--notation-crl-downloads must be true or false, not \(text)") }
        guard enabled else { return nil }
        return try HTTPCRLDownloader(logger: Logger(label: "signet.notation.crl"))
    }
}
