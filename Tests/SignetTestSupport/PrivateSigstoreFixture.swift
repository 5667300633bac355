import Foundation

/// The private Sigstore `Tests/SigstoreFixture/private_sigstore.py` makes (a transparency log, a
/// Fulcio-like CA with a CT log, a TSA, their `trusted_root.json`, and bundles each correct or
/// broken in one place), written fresh into a directory of its own.
public enum PrivateSigstoreFixture {
    /// The identity the fixture's leaves attest.
    public static let issuer = "https://issuer.signet.test"
    public static let subject = "signer@signet.test"

    /// Runs the script into a new temporary directory.
    public static func make() async throws -> TemporaryDirectory {
        let directory = TemporaryDirectory(prefix: "signet-private-sigstore")
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/SigstoreFixture/private_sigstore.py").path
        let made = try await TestProcess.run("python3", [script, directory.path])
        guard made.status == 0 else { throw TestProcessError(message: "private_sigstore.py failed: \(made.stderr)") }
        return directory
    }
}
