import Foundation
import Testing
@testable import SignetPolicy

/// ``UTCTime`` against glibc's `gmtime_r(3)`, which it replaces on the audit path, and the RFC
/// 3339 text ``KubernetesTime/format(_:)`` makes of it.
@Suite struct UTCTimeTests {
    static func libc(_ seconds: Int64) -> UTCTime? {
        var value = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&value, &parts) != nil else { return nil }
        var expected = UTCTime(secondsSinceEpoch: 0)
        expected.year = Int(parts.tm_year) + 1900
        expected.month = Int(parts.tm_mon) + 1
        expected.day = Int(parts.tm_mday)
        expected.hour = Int(parts.tm_hour)
        expected.minute = Int(parts.tm_min)
        expected.second = Int(parts.tm_sec)
        return expected
    }

    @Test func agreesWithGmtimeAtTheCalendarsEdges() throws {
        let day: Int64 = 86_400
        let edges: [Int64] = [
            0, -1, 1, day - 1, day, -day, -day - 1,
            951_782_400, 951_782_400 - 1, 951_868_800,  // 2000-02-29 (a leap day of a year divisible by 400)
            4_107_542_400 - 1, 4_107_542_400,  // 2100-02-28T23:59:59 and 2100-03-01 (2100 is no leap year)
            1_709_164_800, 1_709_251_200,  // 2024-02-29 and 2024-03-01
            1_798_675_200 - 1, 1_798_675_200,  // the last second of 2026 and the first of 2027
            253_402_300_799, 253_402_300_800,  // 9999-12-31T23:59:59 and 10000-01-01
            -62_135_596_800, -62_135_596_801,  // 0001-01-01 and the second before it
            -2_208_988_800, -5_364_662_400,  // 1900-01-01 (no leap year) and 1800-01-01
        ]
        for seconds in edges {
            #expect(UTCTime(secondsSinceEpoch: seconds) == Self.libc(seconds), "\(seconds)")
        }
    }

    /// Every day from 1600 to 2400 at a second that moves through the day, and 200,000 instants
    /// spread over ±3,000 years by a fixed sequence.
    @Test func agreesWithGmtimeOverCenturies() throws {
        let start: Int64 = -11_676_096_000  // 1600-01-01
        for index: Int64 in 0..<(800 * 366) {
            let seconds = start + index * 86_400 + (index * 7919) % 86_400
            let ours = UTCTime(secondsSinceEpoch: seconds)
            guard ours == Self.libc(seconds) else {
                Issue.record("\(seconds): \(ours) against \(String(describing: Self.libc(seconds)))")
                return
            }
        }
        var state: UInt64 = 0x5EED_1234
        for _ in 0..<200_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let seconds = Int64(bitPattern: state >> 1) % 94_670_856_000_000 / 1000  // within ±3,000 years
            let ours = UTCTime(secondsSinceEpoch: seconds)
            guard ours == Self.libc(seconds) else {
                Issue.record("\(seconds): \(ours) against \(String(describing: Self.libc(seconds)))")
                return
            }
        }
    }

    @Test func formatsRFC3339() {
        #expect(KubernetesTime.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
        #expect(KubernetesTime.format(Date(timeIntervalSince1970: 951_825_599.9)) == "2000-02-29T11:59:59Z")
        #expect(KubernetesTime.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59Z")
        #expect(KubernetesTime.format(Date(timeIntervalSince1970: 253_402_300_800)) == "10000-01-01T00:00:00Z")
        #expect(KubernetesTime.parse(KubernetesTime.format(Date(timeIntervalSince1970: 1_798_675_199))) == Date(timeIntervalSince1970: 1_798_675_199))
    }
}
