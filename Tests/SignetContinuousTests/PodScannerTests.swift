import Foundation
import SignetAdmission
import SignetPolicy
import Testing
@testable import SignetContinuous

/// Running Pods are decided as admission would decide them now: the running digest is what is
/// verified, exceptions and bypasses apply (and stop applying when they expire), and a key
/// taken out of a policy turns what it vouched for into fails at the next run.
@Suite("Pod scanner")
struct PodScannerTests {
    static let start = KubernetesTime.parse("2026-11-30T12:00:00Z")!
    let signed = ScanFixtures.pod("web", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest)
    let unsigned = ScanFixtures.pod("worker", namespace: "shop", image: "registry.example/worker:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
    let excepted = ScanFixtures.pod("batch", namespace: "billing", image: "registry.example/legacy:3", runningDigest: SigningKeyVerifier.unsignedDigest)
    let bypassed = ScanFixtures.pod("hotfix", namespace: "ops", image: "registry.example/hotfix:1", runningDigest: SigningKeyVerifier.unsignedDigest)

    func findings(_ scanner: PodScanner, _ pods: [RunningPod]) async -> [String: ImageFinding] {
        Dictionary(uniqueKeysWithValues: await scanner.scan(pods).map { ($0.location, $0) })
    }

    @Test func signedUnsignedExceptedAndBypassedPodsGetTheirResults() async throws {
        let clock = ManualClock(Self.start)
        let policies = try ScanFixtures.policies(ScanFixtures.policy(authority: "release"), ScanFixtures.exception, ScanFixtures.bypass)
        let results = await findings(ScanFixtures.scanner(policies, clock: clock), [signed, unsigned, excepted, bypassed])

        let web = try #require(results["shop/web/app"])
        #expect(web.result == .pass)
        #expect(web.image == "registry.example/web:1.0@\(SigningKeyVerifier.signedDigest)")
        #expect(web.policies == ["release-signed"] && web.formats == ["key"])
        let worker = try #require(results["shop/worker/app"])
        #expect(worker.result == .fail)
        #expect(worker.reason.contains("no signature by key release"))
        let batch = try #require(results["billing/batch/app"])
        #expect(batch.result == .skip)
        #expect(batch.exemption?.contains("PolicyException \"billing/legacy-batch\"") == true)
        let hotfix = try #require(results["ops/hotfix/app"])
        #expect(hotfix.result == .skip && hotfix.bypassed)
        #expect(hotfix.exemption?.contains("incident-7") == true)
    }

    /// A Pod signet cannot decide (here, more containers than it reads) is a fail for each of
    /// its containers, and their images are shown as verdicts show images: an escape sequence in
    /// one (the API server only refuses whitespace around an image) would reach the terminal of
    /// whoever reads `signet scan`'s table.
    @Test func anUndecidablePodsImagesAreShownWithoutControlCharacters() async throws {
        let containers = (0..<1025).map { ["name": "c\($0)", "image": $0 == 0 ? "registry.example/web:1\u{1b}[8m" : "registry.example/web:1"] }
        let object: [String: Any] = [
            "apiVersion": "v1", "kind": "Pod", "metadata": ["name": "crowd", "namespace": "shop", "uid": "uid-crowd"],
            "spec": ["containers": containers], "status": ["phase": "Running", "startTime": "2026-11-30T12:00:00Z"],
        ]
        let pod = try #require(RunningPod(json: Array(try JSONSerialization.data(withJSONObject: object))))
        let policies = try ScanFixtures.policies(ScanFixtures.policy(authority: "release"))
        let found = await ScanFixtures.scanner(policies, clock: ManualClock(Self.start)).scan([pod])
        #expect(!found.isEmpty && found.allSatisfy { $0.result == .fail }, "\(found.prefix(2))")
        #expect(found.allSatisfy { !$0.image.utf8.contains { $0 < 0x20 || $0 == 0x7F } }, "\(found.first?.image ?? "")")
        #expect(found.first { $0.container == "c0" }?.image == "registry.example/web:1?[8m")
    }

    /// A running Pod's image volume is decided with its containers and reported as a volume.
    @Test func anUntrustedImageVolumeFailsItsPod() async throws {
        let pod = ScanFixtures.pod(
            "trainer", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest,
            imageVolume: "registry.example/models@\(SigningKeyVerifier.unsignedDigest)")
        let scanner = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: ManualClock(Self.start))
        let all = await scanner.scan([pod])
        let results = Dictionary(uniqueKeysWithValues: all.map { ($0.location, $0) })
        #expect(results["shop/trainer/app"]?.result == .pass)
        let volume = try #require(results["shop/trainer/volume:models"], "\(results.keys)")
        #expect(volume.result == .fail && volume.isImageVolume)
        #expect(volume.reason.contains(#"(image volume "models")"#), "\(volume.reason)")
        let alert = try #require(Alert.untrustedRunning(all, time: Self.start).first)
        #expect(alert.summary == "untrusted image running in shop: Pod trainer, image volume models")
    }

    /// An image volume named by a tag is decided at the digest the node mounted, where the
    /// kubelet reports it; where it does not, the tag's digest now passing says nothing of what
    /// was mounted (the tag may have moved since), so it warns instead of passing.
    @Test func anImageVolumeIsDecidedAtTheDigestTheNodeMounted() async throws {
        let volume = "registry.example/models:\(SigningKeyVerifier.signedTag)"
        let unsignedMount = ScanFixtures.pod(
            "trainer", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest,
            imageVolume: volume, mountedVolumeDigest: SigningKeyVerifier.unsignedDigest)
        let signedMount = ScanFixtures.pod(
            "tuner", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest,
            imageVolume: volume, mountedVolumeDigest: SigningKeyVerifier.signedDigest)
        let unreported = ScanFixtures.pod(
            "server", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest, imageVolume: volume)
        // The init container mounted the signed digest, the app container (started after the tag
        // moved) the unsigned one: each digest is decided.
        let remounted = ScanFixtures.pod(
            "worker", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest,
            imageVolume: volume, mountedVolumeDigest: SigningKeyVerifier.unsignedDigest, initMountedVolumeDigest: SigningKeyVerifier.signedDigest)
        let scanner = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: ManualClock(Self.start))
        let results = await findings(scanner, [unsignedMount, signedMount, unreported, remounted])
        #expect(results["shop/worker/volume:models"]?.result == .pass)
        let again = try #require(results["shop/worker/volume:models (as mounted for container app)"], "\(results.keys.sorted())")
        #expect(again.result == .fail && again.image.hasSuffix(SigningKeyVerifier.unsignedDigest), "\(again.result) \(again.reason)")

        let mountedUnsigned = try #require(results["shop/trainer/volume:models"], "\(results.keys)")
        #expect(mountedUnsigned.result == .fail, "\(mountedUnsigned.result) \(mountedUnsigned.reason)")
        #expect(mountedUnsigned.image == "registry.example/models:signed@\(SigningKeyVerifier.unsignedDigest)")
        let mountedSigned = try #require(results["shop/tuner/volume:models"])
        #expect(mountedSigned.result == .pass, "\(mountedSigned.result) \(mountedSigned.reason)")
        #expect(mountedSigned.image == "registry.example/models:signed@\(SigningKeyVerifier.signedDigest)")
        let unknown = try #require(results["shop/server/volume:models"])
        #expect(unknown.result == .warn, "\(unknown.result) \(unknown.reason)")
        #expect(unknown.reason.hasPrefix("the digest this image volume was mounted as is not reported"), "\(unknown.reason)")
        #expect(results["shop/server/app"]?.result == .pass)
    }

    /// The exception is limited to `legacy:*` tags. A Pod whose spec names `legacy:3` runs the
    /// digest the node pulled that tag as, and is exempt; one whose spec itself wrote a digest
    /// beside the tag runs that digest whatever `3` names, and is decided as admission would
    /// decide it: not exempt.
    @Test func onlyADigestTheNodeReportedMakesTheTagBesideItCount() async throws {
        let policies = try ScanFixtures.policies(ScanFixtures.policy(authority: "release"), ScanFixtures.exception)
        let scanner = ScanFixtures.scanner(policies, clock: ManualClock(Self.start))
        let written = ScanFixtures.pod(
            "batch-pinned", namespace: "billing", image: "registry.example/legacy:3@\(SigningKeyVerifier.unsignedDigest)",
            runningDigest: SigningKeyVerifier.unsignedDigest)
        #expect(written.nodePinnedImages.isEmpty && !excepted.nodePinnedImages.isEmpty)
        let results = await findings(scanner, [excepted, written])
        #expect(results["billing/batch/app"]?.result == .skip)
        let pinned = try #require(results["billing/batch-pinned/app"])
        #expect(pinned.result == .fail && pinned.exemption == nil, "\(pinned.result) \(pinned.reason)")
    }

    /// A Pod whose image a policy covers but that the policy is not enforced for (`kinds`,
    /// `namespaceSelector`) was not verified: skipped, never reported as passing its signatures.
    @Test func anImageNoPolicyIsEnforcedForIsSkippedNotPassed() async throws {
        let deploymentsOnly = ScanFixtures.policy(authority: "release").replacingOccurrences(of: "\n  images:", with: "\n  kinds: [Deployment]\n  images:")
        #expect(deploymentsOnly.contains("kinds: [Deployment]"))
        let scanner = ScanFixtures.scanner(try ScanFixtures.policies(deploymentsOnly), clock: ManualClock(Self.start))
        let web = try #require(await findings(scanner, [signed])["shop/web/app"])
        #expect(web.result == .skip, "\(web.result) \(web.reason)")
        #expect(web.reason.contains("not enforced for this Pod"), "\(web.reason)")
    }

    /// A namespace the webhook configuration leaves out (kube-system, signet's own): no
    /// admission checks its Pods, so the scan is their only check. An unsigned image there is
    /// still decided and reported `warn` with why, not `fail` (and alerted on) at every scan; a
    /// signed one passes; other namespaces are judged as before.
    @Test func aNamespaceTheWebhookDoesNotReviewIsReportedNotAlertedOn() async throws {
        let system = ScanFixtures.pod("proxy", namespace: "kube-system", image: "registry.example/proxy:1", runningDigest: SigningKeyVerifier.unsignedDigest)
        let systemSigned = ScanFixtures.pod("dns", namespace: "kube-system", image: "registry.example/dns:1", runningDigest: SigningKeyVerifier.signedDigest)
        var scanner = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: ManualClock(Self.start))
        scanner.unreviewedNamespaces = ["kube-system", "signet-system"]
        let results = await findings(scanner, [system, systemSigned, unsigned])
        let proxy = try #require(results["kube-system/proxy/app"])
        #expect(proxy.result == .warn, "\(proxy.result) \(proxy.reason)")
        #expect(proxy.reason.hasPrefix("namespace kube-system is not sent to the webhook (its configuration leaves it out), so no admission enforces this: "), "\(proxy.reason)")
        #expect(proxy.reason.contains("no signature by key release"), "\(proxy.reason)")
        #expect(results["kube-system/dns/app"]?.result == .pass)
        #expect(results["shop/worker/app"]?.result == .fail)
        #expect(Alert.untrustedRunning(Array(results.values), time: Self.start).map(\.namespace) == ["shop"])
    }

    /// An image whose registry does not answer is an `error`, not a `fail`: reported with the
    /// reason (severity medium, the namespace's cluster result `error` unless a fail is there
    /// too), left out of the untrusted alerts and exit status, alerted as unverifiable only when
    /// asked; in a namespace the webhook does not review it is a `warn` like a fail there.
    @Test func anImageWhoseRegistryDoesNotAnswerIsAnErrorNotAFail() async throws {
        let down = ScanFixtures.pod("api", namespace: "shop", image: "registry.example/api:2", runningDigest: SigningKeyVerifier.unreachableDigest)
        let downElsewhere = ScanFixtures.pod("cache", namespace: "cache", image: "registry.example/cache:2", runningDigest: SigningKeyVerifier.unreachableDigest)
        let downUnreviewed = ScanFixtures.pod("proxy", namespace: "kube-system", image: "registry.example/proxy:2", runningDigest: SigningKeyVerifier.unreachableDigest)
        var scanner = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: ManualClock(Self.start))
        scanner.unreviewedNamespaces = ["kube-system"]
        let found = await scanner.scan([signed, unsigned, down, downElsewhere, downUnreviewed])
        let results = Dictionary(uniqueKeysWithValues: found.map { ($0.location, $0) })
        let api = try #require(results["shop/api/app"])
        #expect(api.result == .error && api.isUnverifiable && !api.isUntrusted)
        #expect(api.reason.contains("could not verify: registry.example did not answer"), "\(api.reason)")
        #expect(results["shop/worker/app"]?.result == .fail)
        #expect(results["kube-system/proxy/app"]?.result == .warn)
        #expect(Alert.untrustedRunning(found, time: Self.start).map(\.images) == [["registry.example/worker:1.0@\(SigningKeyVerifier.unsignedDigest)"]])
        let unverifiable = Alert.unverifiableRunning(found, time: Self.start)
        #expect(unverifiable.map(\.kind) == [.unverifiableRunning, .unverifiableRunning])
        #expect(unverifiable.map(\.namespace) == ["shop", "cache"])
        #expect(unverifiable.first?.summary == "running image cannot be verified in shop: Pod api, container app")

        let builder = PolicyReportBuilder(time: Self.start)
        let shop = builder.namespaceReport("shop", findings: found.filter { $0.namespace == "shop" })
        #expect(shop["summary"] as? [String: Int] == ["pass": 1, "fail": 1, "warn": 0, "error": 1, "skip": 0])
        let apiResult = try #require((shop["results"] as? [[String: Any]])?.first { ($0["resources"] as? [[String: Any]])?.first?["name"] as? String == "api" })
        #expect(apiResult["result"] as? String == "error" && apiResult["severity"] as? String == "medium")
        let cluster = (builder.clusterReport(found)["results"] as? [[String: Any]]) ?? []
        let byNamespace = Dictionary(uniqueKeysWithValues: cluster.map { (($0["resources"] as? [[String: Any]])?.first?["name"] as? String ?? "", $0) })
        #expect(byNamespace["shop"]?["result"] as? String == "fail")
        #expect(byNamespace["cache"]?["result"] as? String == "error" && byNamespace["cache"]?["severity"] as? String == "medium")
        #expect(byNamespace["cache"]?["message"] as? String == "0 untrusted, 1 not verifiable now and 0 warned of 1 running images in namespace cache")
        #expect(byNamespace["kube-system"]?["result"] as? String == "warn")
        // When results do not fit, errors come right after the fails.
        let ranked: [(finding: ImageFinding.Result, result: [String: Any])] = [(.pass, ["n": 1]), (.warn, ["n": 2]), (.error, ["n": 3]), (.fail, ["n": 4])]
        #expect(builder.bounded(ranked).omitted == 0)
        let tight = PolicyReportBuilder(time: Self.start, maximumResultBytes: 16).bounded(ranked)
        #expect(tight.results.compactMap { $0["n"] as? Int } == [4, 3])
    }

    @Test func anExpiredExceptionTurnsItsPassIntoAFailAtTheNextRun() async throws {
        let clock = ManualClock(Self.start)
        let policies = try ScanFixtures.policies(ScanFixtures.policy(authority: "release"), ScanFixtures.exception)
        let scanner = ScanFixtures.scanner(policies, clock: clock)
        #expect(await findings(scanner, [excepted])["billing/batch/app"]?.result == .skip)
        clock.advance(to: KubernetesTime.parse("2026-12-01T00:00:01Z")!)
        let after = try #require(await findings(scanner, [excepted])["billing/batch/app"])
        #expect(after.result == .fail)
        #expect(after.exemption == nil)
    }

    @Test func anExpiryChangesTheChangeTokenSoServeRescansAtOnce() throws {
        let policies = try ScanFixtures.policies(ScanFixtures.policy(authority: "release"), ScanFixtures.exception, ScanFixtures.bypass)
        let before = ContinuousVerifier.changeToken(of: policies, at: Self.start)
        #expect(ContinuousVerifier.changeToken(of: policies, at: KubernetesTime.parse("2026-11-30T23:59:59Z")!) == before)
        let exceptionExpired = ContinuousVerifier.changeToken(of: policies, at: KubernetesTime.parse("2026-12-01T00:00:00Z")!)
        #expect(exceptionExpired != before)
        // The exception's expiry moves its namespace's part alone; the bypass's, the cluster's.
        #expect(exceptionExpired.cluster == before.cluster)
        #expect(exceptionExpired.namespacesChanged(since: before) == ["billing"], "\(exceptionExpired) \(before)")
        let bypassExpired = ContinuousVerifier.changeToken(of: policies, at: KubernetesTime.parse("2026-12-01T06:00:00Z")!)
        #expect(bypassExpired != exceptionExpired)
        #expect(bypassExpired.cluster != exceptionExpired.cluster)
    }

    @Test func aKeyRemovedFromThePolicyTurnsItsPodsIntoFails() async throws {
        let clock = ManualClock(Self.start)
        let before = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: clock)
        #expect(await findings(before, [signed])["shop/web/app"]?.result == .pass)
        let after = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "next-release")), clock: clock)
        let web = try #require(await findings(after, [signed])["shop/web/app"])
        #expect(web.result == .fail)
        #expect(web.reason.contains("next-release"))
    }

    @Test func finishedPodsAreNotScannedAndASpecWithoutStatusIsVerifiedAsWritten() async throws {
        let clock = ManualClock(Self.start)
        let scanner = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: clock)
        let done = ScanFixtures.pod("done", namespace: "shop", image: "registry.example/web:1.0", runningDigest: nil, phase: "Succeeded")
        let pending = ScanFixtures.pod("pending", namespace: "shop", image: "registry.example/web:1.0", runningDigest: nil, phase: "Pending")
        let results = await findings(scanner, [done, pending])
        #expect(results["shop/done/app"] == nil)
        #expect(results["shop/pending/app"]?.image == "registry.example/web:1.0")
        #expect(results["shop/pending/app"]?.result == .fail)
    }

    @Test func reportsCountResultsPerNamespaceAndNameTheException() async throws {
        let clock = ManualClock(Self.start)
        let policies = try ScanFixtures.policies(ScanFixtures.policy(authority: "release"), ScanFixtures.exception)
        let findings = await ScanFixtures.scanner(policies, clock: clock).scan([signed, unsigned, excepted])
        let builder = PolicyReportBuilder(time: Self.start)
        let shop = builder.namespaceReport("shop", findings: findings.filter { $0.namespace == "shop" })
        #expect(shop["summary"] as? [String: Int] == ["pass": 1, "fail": 1, "warn": 0, "error": 0, "skip": 0])
        let billing = builder.namespaceReport("billing", findings: findings.filter { $0.namespace == "billing" })
        let result = try #require((billing["results"] as? [[String: Any]])?.first)
        #expect(result["result"] as? String == "skip")
        #expect((result["properties"] as? [String: String])?["exception"]?.contains("billing/legacy-batch") == true)
        #expect((result["resources"] as? [[String: Any]])?.first?["name"] as? String == "batch")
        let cluster = builder.clusterReport(findings)
        #expect(cluster["summary"] as? [String: Int] == ["pass": 1, "fail": 1, "warn": 0, "error": 0, "skip": 1])
    }
}
