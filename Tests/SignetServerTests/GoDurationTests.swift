import Testing

@testable import SignetCLI

/// `?timeout=` parsing: the quick reading of `<digits>s` and `<digits>ms` gives what the general
/// one gives, and leaves every other form to it.
struct GoDurationTests {
    @Test(arguments: ["10s", "1s", "0s", "30s", "010s", "500ms", "999ms", "0ms", "86399s", "86399999ms"])
    func quickReadingAgreesWithTheGeneralOne(_ text: String) throws {
        let quick = try #require(GoDuration.parseWholeSecondsOrMilliseconds(text))
        #expect(quick == GoDuration.parseAnyForm(text))
        #expect(GoDuration.parse(text) == quick)
    }

    /// Other forms, and whole numbers beyond a day (which both refuse).
    @Test(arguments: ["86400s", "1.5s", "1m30s", "10", "s", "", "10us", "10µs", "2h", "-1s", "1234567890s", "123456789ms", "10sx", "1e3s"])
    func otherFormsAreReadByTheGeneralParser(_ text: String) {
        if let quick = GoDuration.parseWholeSecondsOrMilliseconds(text) {
            Issue.record("quick reading took \(text) as \(quick)")
        }
        #expect(GoDuration.parse(text) == GoDuration.parseAnyForm(text))
    }
}
