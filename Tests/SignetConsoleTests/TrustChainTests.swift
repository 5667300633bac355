import Foundation
import SignetPolicy
import SignetRegistry
import SignetVerify
import Testing

@testable import SignetConsole

/// The trust chain of a verification, drawn and written from the root down: the trust root,
/// the root certificate, each intermediate, the signing (leaf) certificate, then the checks,
/// the signature and the image.
@Suite struct TrustChainTests {
    static let digest = "sha256:" + String(repeating: "c", count: 64)

    static func run(path: [String]?) throws -> VerificationRun {
        let signer = VerificationResult.Signer(
            key: "Fulcio certificate (embedded)", algorithm: "ecdsa-p256", fingerprint: String(repeating: "ab", count: 32),
            identity: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
            issuer: "https://token.actions.githubusercontent.com", layers: [0], certificateChain: path)
        let result = VerificationResult(
            image: "ghcr.io/acme/app:1.0", digest: try ImageDigest(parsing: digest), policy: "release", authority: "keyless",
            format: SignatureFormat("cosign-keyless"), passed: true, reason: "signed keyless", signers: [signer],
            steps: [
                VerificationStep(name: "signature", passed: true, detail: "ECDSA over the payload"),
                VerificationStep(name: "certificate chain", passed: true, detail: "to CN=sigstore at the signing time"),
                VerificationStep(name: "transparency log", passed: true, detail: "Rekor entry 42"),
            ])
        return VerificationRun(
            id: "run-1", image: "ghcr.io/acme/app:1.0", namespace: nil, user: "alice", startedAt: Date(timeIntervalSince1970: 1_780_272_000),
            state: .finished, events: [],
            authorities: [AuthorityReport(policy: "release", authority: "keyless", trustRoot: "sigstore-public-good (embedded)", result: result, error: nil, elapsedMilliseconds: 3)],
            verdict: nil, totalMilliseconds: 3)
    }

    @Test func theCertificatePathIsDrawnRootFirstThroughEveryIntermediate() throws {
        let chain = try #require(TrustChain.chains(of: try Self.run(path: ["CN=leaf", "CN=intermediate-2", "CN=intermediate-1", "CN=root"])).first)
        #expect(chain.links.map(\.role) == [
            "anchor", "root", "intermediate", "intermediate", "leaf", "certificates", "identity", "signature", "log", "subject",
        ])
        let path = chain.links.filter { ["root", "intermediate", "leaf"].contains($0.role) }.map(\.detail)
        #expect(path.dropLast() == ["CN=root", "CN=intermediate-1", "CN=intermediate-2"])
        #expect(path.last?.hasPrefix("CN=leaf (https://github.com/acme/app/") == true, "the leaf names its identity")
        // The picture: one box per link, the intermediates among them, in the same order.
        let svg = chain.svg
        #expect(svg.components(separatedBy: "<rect").count - 1 == chain.links.count)
        let positions = ["link-root", "CN=intermediate-1", "CN=intermediate-2", "link-leaf", "link-signature"].map { svg.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        // The text: the same path, one line per link, indented as it descends.
        let lines = chain.text.split(separator: "\n").map(String.init)
        let root = try #require(lines.firstIndex { $0.contains("root certificate: CN=root") })
        let first = try #require(lines.firstIndex { $0.contains("intermediate certificate: CN=intermediate-1") })
        let second = try #require(lines.firstIndex { $0.contains("intermediate certificate: CN=intermediate-2") })
        let leaf = try #require(lines.firstIndex { $0.contains("signing certificate: CN=leaf") })
        let signature = try #require(lines.firstIndex { $0.contains("signature: ECDSA") })
        #expect(root < first && first < second && second < leaf && leaf < signature)
    }

    @Test func aKeyWithoutCertificatesHasNoCertificateLinks() throws {
        let chain = try #require(TrustChain.chains(of: try Self.run(path: nil)).first)
        #expect(!chain.links.contains { ["root", "intermediate", "leaf"].contains($0.role) })
        // A path of one (a self-signed leaf) is the leaf alone.
        let single = try #require(TrustChain.chains(of: try Self.run(path: ["CN=self-signed"])).first)
        #expect(single.links.filter { ["root", "intermediate", "leaf"].contains($0.role) }.map(\.role) == ["leaf"])
    }
}
