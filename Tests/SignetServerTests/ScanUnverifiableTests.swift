import Foundation
import SignetTestSupport
import Testing

/// `signet scan` keeps an image it could not verify apart from an untrusted one: its registry
/// refuses every connection, so the result is `error` (not `fail`), the image is named on
/// standard error, and the exit status is 2 (an error), not 1 (an untrusted image runs).
@Suite("signet scan reports an image it cannot verify as an error", .serialized)
struct ScanUnverifiableTests {
    @Test func anImageWhoseRegistryRefusesConnectionsIsAnErrorWithExitStatus2() async throws {
        // Nothing listens on a port just found free: every connection is refused at once.
        let closed = FreePort.make()
        let image = "127.0.0.1:\(closed)/shop/web:v1"
        let harness = try await ScanHarness.start(podImage: image)
        defer { harness.stop() }
        try harness.apiServer.apply("clusterimagepolicies", [
            "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": "shop-signed"],
            "spec": [
                "images": [["glob": "127.0.0.1:\(closed)/shop/**"]],
                "authorities": [["name": "release", "key": ["publicKeys": [["pem": TestKeys.unusedP256PublicKeyPEM]]]]],
            ],
        ] as [String: Any])

        let scan = try await harness.scan(["--policy-source", "kubernetes", "--audit-log", "off"])
        #expect(scan.status == 2, "\(scan.stdout)\n\(scan.stderr)")
        #expect(ScanHarness.results(scan.stdout) == ["error"], "\(scan.stdout)")
        #expect(scan.stderr.contains("1 running images could not be verified now:"), "\(scan.stderr)")
        #expect(scan.stderr.contains("shop/web/app"), "\(scan.stderr)")
        #expect(!scan.stderr.contains("untrusted running images"), "\(scan.stderr)")
    }
}
