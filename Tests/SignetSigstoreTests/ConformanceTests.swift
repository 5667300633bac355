import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import Testing

/// Every sigstore-conformance bundle-verify case, in both artifact forms, through the real
/// `signet verify-bundle` binary and through the library.
///
/// The only use of the current time is "an integrated time may not lie in the future". The
/// library runs pin the clock to 2026-11-01T00:00:00Z, after every vector's signing time (the
/// latest, `integrated-time-in-future_fail`, was integrated on 2026-05-07), so their verdicts do
/// not depend on the host clock; the binary uses the real clock.
@Suite("sigstore-conformance bundle-verify")
struct ConformanceTests {
    /// 2026-11-01T00:00:00Z.
    static let pinnedNow = Date(timeIntervalSince1970: 1_793_491_200)

    /// Cases that may fail for a known reason, with the reason. Empty: every case must behave.
    static let expectedFailures: [String: String] = [:]

    @Test("the vectors are present", .tags(.conformance))
    func vectorsArePresent() {
        #expect(ConformanceCase.all.count >= 70, "expected the 70 sigstore-conformance cases under \(ConformanceCase.directory.path)")
    }

    @Test("signet verify-bundle", .tags(.conformance), arguments: ConformanceCase.all, ArtifactForm.allCases)
    func binary(_ testCase: ConformanceCase, form: ArtifactForm) async throws {
        let binary = TestPaths.signetBinary.path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build signet first: swift build")
        let result = try await TestProcess.run(binary, try testCase.arguments(form: form))
        let verified = result.status == 0
        Self.expecting(testCase) {
            if testCase.expectsSuccess {
                #expect(verified, "\(testCase.name) (\(form)) must verify: \(result.stderr)")
            } else {
                #expect(!verified, "\(testCase.name) (\(form)) must be rejected")
                #expect(result.stderr.contains("signet:"), "a rejection says why on stderr")
            }
        }
    }

    @Test("SigstoreVerifier", .tags(.conformance), arguments: ConformanceCase.all, ArtifactForm.allCases)
    func library(_ testCase: ConformanceCase, form: ArtifactForm) throws {
        let outcome = Self.verify(testCase, form: form)
        Self.expecting(testCase) {
            switch outcome {
            case .success(let result):
                #expect(result.isVerified == testCase.expectsSuccess, "\(testCase.name) (\(form)): \(result)")
                if result.isVerified {
                    #expect(result.steps.map(\.kind) == SigstoreVerificationStep.Kind.allCases)
                }
            case .failure(let error):
                #expect(!testCase.expectsSuccess, "\(testCase.name) (\(form)) must verify but was refused: \(error)")
            }
        }
    }

    /// Runs `checks`, as a known issue when the case is listed in ``expectedFailures``.
    static func expecting(_ testCase: ConformanceCase, _ checks: () -> Void) {
        if let reason = expectedFailures[testCase.name] {
            withKnownIssue(Comment(rawValue: reason)) { checks() }
        } else {
            checks()
        }
    }

    /// A verdict, or the error that stopped verification before a verdict (unreadable bundle or key).
    static func verify(
        _ testCase: ConformanceCase, form: ArtifactForm, now pinnedNow: Date = ConformanceTests.pinnedNow, key: PublicKey? = nil
    ) -> Result<SigstoreVerificationResult, any Error> {
        return Result { () throws -> SigstoreVerificationResult in
            let root = try testCase.trustedRootURL.map { try TrustedRoot(contentsOf: $0) } ?? TrustedRoot.production()
            let bundle = try SigstoreBundle(contentsOf: testCase.bundleURL)
            let artifact: SigstoreArtifact = switch form {
            case .file: .bytes([UInt8](try Data(contentsOf: testCase.artifactURL)))
            case .digest: .digest(ArtifactDigest(parsing: try testCase.artifactDigestArgument())!)
            }
            let signer: SigstoreVerificationPolicy.Signer = if let key {
                .publicKey(key)
            } else if let keyURL = testCase.keyURL {
                .publicKey(try PublicKey(pem: String(contentsOf: keyURL, encoding: .utf8)))
            } else {
                .certificateIdentities([CertificateIdentity(issuer: .exact(testCase.issuer), subjectAlternativeName: .exact(testCase.identity))])
            }
            var configuration = SigstoreVerifierConfiguration()
            configuration.clock = { pinnedNow }
            return SigstoreVerifier(trustedRoot: root, configuration: configuration)
                .verify(bundle, policy: SigstoreVerificationPolicy(signer: signer, artifact: artifact))
        }
    }
}

extension Tag {
    @Tag static var conformance: Self
}
