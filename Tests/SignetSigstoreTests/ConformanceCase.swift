import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import Testing

/// One case of sigstore-conformance `test/assets/bundle-verify/`: a bundle, its artifact and the
/// identity, key or trusted root it is verified with. A case whose name ends in `_fail` must be
/// rejected; every other case must verify.
struct ConformanceCase: Sendable, CustomTestStringConvertible {
    static let directory = TestPaths.vectors.appendingPathComponent("sigstore-conformance/test/assets/bundle-verify")
    static let defaultIdentity =
        "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
    static let defaultIssuer = "https://token.actions.githubusercontent.com"

    /// Every case folder, sorted by name.
    static var all: [ConformanceCase] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().compactMap { name in
            var isDirectory: ObjCBool = false
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
            return ConformanceCase(name: name)
        }
    }

    let name: String

    var testDescription: String { name }
    var url: URL { Self.directory.appendingPathComponent(name) }
    var expectsSuccess: Bool { !name.hasSuffix("_fail") }

    private func file(_ name: String) -> URL? {
        let candidate = url.appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: candidate.path) ? candidate : nil
    }

    var bundleURL: URL { url.appendingPathComponent("bundle.sigstore.json") }
    var artifactURL: URL { file("artifact") ?? Self.directory.appendingPathComponent("a.txt") }
    var keyURL: URL? { file("key.pub") }
    var trustedRootURL: URL? { file("trusted_root.json") }

    var identity: String {
        file("identity").flatMap { try? String(contentsOf: $0, encoding: .utf8) }?.trimmingCharacters(in: .whitespacesAndNewlines)
            ?? Self.defaultIdentity
    }

    var issuer: String {
        file("issuer").flatMap { try? String(contentsOf: $0, encoding: .utf8) }?.trimmingCharacters(in: .whitespacesAndNewlines)
            ?? Self.defaultIssuer
    }

    func artifactDigestArgument() throws -> String {
        "sha256:" + DigestAlgorithm.sha256.hexHash([UInt8](try Data(contentsOf: artifactURL)))
    }

    /// The `signet verify-bundle` arguments of the conformance client protocol.
    func arguments(form: ArtifactForm) throws -> [String] {
        var arguments = ["verify-bundle", "--bundle", bundleURL.path]
        if let keyURL {
            arguments += ["--key", keyURL.path]
        } else {
            arguments += ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer]
        }
        if let trustedRootURL { arguments += ["--trusted-root", trustedRootURL.path] }
        switch form {
        case .file: arguments.append(artifactURL.path)
        case .digest: arguments.append(try artifactDigestArgument())
        }
        return arguments
    }
}

/// How the artifact is named: the file itself or `sha256:<hex>` of it.
enum ArtifactForm: String, Sendable, CaseIterable {
    case file
    case digest
}
