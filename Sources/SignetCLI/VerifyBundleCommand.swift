import ArgumentParser
import Foundation
import SignetCrypto
import SignetSigstore

/// `signet verify-bundle`: offline verification of a Sigstore bundle, the verify-bundle part of
/// the sigstore-conformance client protocol (sigstore/sigstore-conformance `docs/cli_protocol.md`).
struct VerifyBundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-bundle",
        abstract: "Verify a Sigstore bundle offline against a trusted root.",
        discussion: """
            The signer is either a certificate identity (--certificate-identity with \
            --certificate-oidc-issuer) or a managed key (--key). Without --trusted-root the \
            production Sigstore root compiled into signet is used.
            Exit status: 0 verified, 1 not verified (the reason is on standard error), 2 error.
            """
    )

    @Option(name: .long, help: "The Sigstore bundle (JSON).")
    var bundle: String

    @Option(name: .long, help: "The SAN the signing certificate must carry (email, URI or username), exactly.")
    var certificateIdentity: String?

    @Option(name: .long, help: "The OIDC issuer the signing certificate must name, exactly.")
    var certificateOidcIssuer: String?

    @Option(name: .long, help: "A PEM public key that made the signature (managed key, no certificate).")
    var key: String?

    @Option(name: .long, help: "A trusted_root.json to use instead of the embedded production root.")
    var trustedRoot: String?

    @Argument(help: "The artifact: a file path, or sha256:<hex> of it.")
    var artifact: String

    func validate() throws {
        switch (certificateIdentity, certificateOidcIssuer, key) {
        case (.some, .some, nil), (nil, nil, .some): break
        default:
            throw ValidationError("give --certificate-identity with --certificate-oidc-issuer, or --key")
        }
    }

    func run() throws {
        let root: TrustedRoot
        let parsedBundle: SigstoreBundle
        let signer: SigstoreVerificationPolicy.Signer
        let subject: SigstoreArtifact
        do {
            root = try trustedRoot.map { path throws(TrustedRootError) in try TrustedRoot(contentsOf: URL(fileURLWithPath: path)) }
                ?? TrustedRoot.production()
            if let key {
                let text = try String(contentsOfFile: key, encoding: .utf8)
                signer = .publicKey(try PublicKey(pem: text))
            } else {
                signer = .certificateIdentities([CertificateIdentity(
                    issuer: .exact(certificateOidcIssuer ?? ""), subjectAlternativeName: .exact(certificateIdentity ?? ""))])
            }
            if artifact.hasPrefix("sha256:") {
                guard let digest = ArtifactDigest(parsing: artifact) else {
                    throw ValidationError("\(artifact) is not sha256: followed by 64 hex digits")
                }
                subject = .digest(digest)
            } else {
                subject = .bytes([UInt8](try Data(contentsOf: URL(fileURLWithPath: artifact))))
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw CommandFailure.report("\(error)")
        }
        do {
            parsedBundle = try SigstoreBundle(contentsOf: URL(fileURLWithPath: bundle))
        } catch {
            FileHandle.standardError.write(Data("signet: bundle rejected: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let result = SigstoreVerifier(trustedRoot: root).verify(parsedBundle, policy: SigstoreVerificationPolicy(signer: signer, artifact: subject))
        if let failure = result.failure {
            FileHandle.standardError.write(Data("signet: not verified: \(failure)\n\(result.steps.map { "  \($0)" }.joined(separator: "\n"))\n".utf8))
            throw ExitCode(1)
        }
        print(result.description)
    }
}
