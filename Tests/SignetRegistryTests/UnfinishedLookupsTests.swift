import Testing
@testable import SignetHTTPClient

/// The ceiling on host name lookups under way and left running by ended transfers: each left
/// running holds its place for its allowance; one namespace holds at most a quarter of them once
/// they are slow, and fewer than half of the places left free at any time.
@Suite("Unfinished lookups")
struct UnfinishedLookupsTests {
    static func transfer() throws -> CurlTransfer {
        let settings = CurlTransferSettings(
            caBundlePath: nil, connectTimeout: .seconds(5), lowSpeedTimeout: .seconds(5), maximumRedirects: 0, userAgent: "test")
        return try CurlTransfer(
            HTTPRequest(method: .get, url: "https://registry.invalid/v2/", maximumResponseBytes: 1024, deadline: .now + .seconds(60)),
            settings: settings)
    }

    @Test func lookupsHoldTheirPlacesWhileRunningAndForTheirAllowanceWhenLeft() throws {
        let lookups = UnfinishedLookups(limit: 16, allowance: .seconds(30))
        #expect(lookups.groupLimit == 4)
        let start = ContinuousClock.now
        let transfers = try (0..<16).map { _ in try Self.transfer() }
        // Four just started in one namespace: a burst of healthy lookups does not spend its share.
        for transfer in transfers.prefix(4) { lookups.start(transfer, group: "shop", now: start) }
        #expect(lookups.refusal(group: "shop", now: start + .milliseconds(100)) == nil)
        // Running for over a second, they do.
        #expect(lookups.refusal(group: "shop", now: start + .seconds(2))?.contains("for namespace \"shop\"") == true)
        #expect(lookups.refusal(group: "billing", now: start + .seconds(2)) == nil)
        // One finishes: its place is free at once; another is left running by its transfer.
        lookups.finish(transfers[0])
        lookups.leave(transfers[1], now: start + .seconds(10))
        #expect(lookups.refusal(group: "shop", now: start + .seconds(11)) == nil)
        lookups.finish(transfers[2])
        lookups.finish(transfers[3])
        #expect(lookups.held(group: "shop", now: start + .seconds(39)) == 1)
        #expect(lookups.held(now: start + .seconds(40)) == 0)
        // Sixteen under way fill every place, however new.
        for (index, transfer) in transfers.enumerated() { lookups.start(transfer, group: "team-\(index % 4)", now: start + .seconds(41)) }
        #expect(lookups.refusal(group: "other", now: start + .seconds(41))?.hasPrefix("16 host name lookups are running") == true)
        #expect(lookups.resolving.count == 16)
    }

    /// One namespace whose Pods name hosts under a domain that never answers cannot take every
    /// place within the second its lookups are young: it stops while it holds fewer than half of
    /// the places left free, and the other namespaces' lookups go on, then and while its own are
    /// left running.
    @Test func oneNamespacesBurstLeavesPlacesForTheOthers() throws {
        let lookups = UnfinishedLookups(limit: 16, allowance: .seconds(30))
        let start = ContinuousClock.now
        let transfers = try (0..<16).map { _ in try Self.transfer() }
        var started: [CurlTransfer] = []
        for transfer in transfers where lookups.refusal(group: "attacker", now: start) == nil {
            lookups.start(transfer, group: "attacker", now: start)
            started.append(transfer)
        }
        // 6 held, 10 free: a seventh would leave fewer than twice what it holds.
        #expect(started.count == 6)
        #expect(lookups.refusal(group: "attacker", now: start)?.contains("and 10 of the 16 places are free") == true)
        #expect(lookups.refusal(group: "victim", now: start + .milliseconds(500)) == nil)
        for transfer in started { lookups.leave(transfer, now: start + .seconds(5)) }
        #expect(lookups.refusal(group: "victim", now: start + .seconds(6)) == nil)
        #expect(lookups.refusal(group: "attacker", now: start + .seconds(6)) != nil)
    }

    /// Several namespaces doing so at once cannot take every place either: each takes about a
    /// third of what the ones before left free, and a namespace holding none still gets one.
    /// (Before, two were enough: the first took three quarters, the second the rest.)
    @Test func severalNamespacesTogetherLeaveAPlaceForAnother() throws {
        let lookups = UnfinishedLookups(limit: 64, allowance: .seconds(30))
        let start = ContinuousClock.now
        var taken: [Int] = []
        for attacker in 0..<5 {
            var count = 0
            while lookups.refusal(group: "attacker-\(attacker)", now: start) == nil {
                lookups.start(try Self.transfer(), group: "attacker-\(attacker)", now: start)
                count += 1
            }
            taken.append(count)
        }
        #expect(taken == [22, 14, 10, 6, 4])
        #expect(lookups.held(now: start) == 56)
        // A sixth namespace starts its lookups; every attacker is refused.
        #expect(lookups.refusal(group: "victim", now: start) == nil)
        lookups.start(try Self.transfer(), group: "victim", now: start)
        #expect(lookups.refusal(group: "victim", now: start) == nil)
        for attacker in 0..<5 { #expect(lookups.refusal(group: "attacker-\(attacker)", now: start) != nil) }
    }

    /// curl asks before reading an IP address too, which needs no lookup: those never count.
    @Test func addressesAreToldFromNames() {
        #expect(CurlTransfer.authority(of: "https://user:pw@registry.example:5000/v2/?n=1") == "registry.example:5000")
        #expect(CurlTransfer.authority(of: "http://[::1]:5000/v2/") == "[::1]:5000")
        #expect(CurlTransfer.isAddress("127.0.0.1:5000"))
        #expect(CurlTransfer.isAddress("10.1.2.3"))
        #expect(CurlTransfer.isAddress("[::1]:5000"))
        #expect(!CurlTransfer.isAddress("registry.example:5000"))
        #expect(!CurlTransfer.isAddress("1.2.3.4.example"))
        #expect(!CurlTransfer.isAddress("256.1.1.1"))
        #expect(!CurlTransfer.isAddress("1.2.3"))
    }
}
