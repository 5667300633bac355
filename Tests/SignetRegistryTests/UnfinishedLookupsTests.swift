import Testing
@testable import SignetHTTPClient

/// The ceiling on host name lookups that ended transfers leave running: each counts for its
/// allowance, and new lookups are refused while the limit is held.
@Suite("Unfinished lookups")
struct UnfinishedLookupsTests {
    @Test func lookupsLeftRunningCountForTheirAllowanceThenLetNewOnesStart() {
        let lookups = UnfinishedLookups(limit: 2, allowance: .seconds(30))
        let start = ContinuousClock.now
        #expect(lookups.admit(now: start))
        lookups.leave(now: start)
        #expect(lookups.admit(now: start + .seconds(1)))
        lookups.leave(now: start + .seconds(10))
        #expect(!lookups.admit(now: start + .seconds(11)))
        #expect(lookups.count(now: start + .seconds(29)) == 2)
        // The first one's allowance has passed: one place is free again.
        #expect(lookups.admit(now: start + .seconds(30)))
        #expect(lookups.count(now: start + .seconds(30)) == 1)
        #expect(lookups.count(now: start + .seconds(40)) == 0)
    }
}

extension UnfinishedLookupsTests {
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
