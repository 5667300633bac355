import Foundation
import SignetPolicy
import SignetTestSupport
import Testing
@testable import SignetContinuous

/// A concurrency far above the Pods to scan starts one task per Pod, not `concurrency` steps:
/// a scan concurrency of `Int.max` ran 2^63 empty steps at every scan.
@Suite struct PodScannerConcurrencyTests {
    @Test(.timeLimit(.minutes(5))) func aHugeConcurrencyScansWhatThereIs() async throws {
        let clock = ManualClock(KubernetesTime.parse("2026-11-22T10:00:00Z")!)
        var scanner = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: clock)
        scanner.concurrency = .max
        let pod = ScanFixtures.pod("web", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest)
        #expect(await scanner.scan([pod]).count == 1)
        #expect(await scanner.scan([]).isEmpty)
    }
}
