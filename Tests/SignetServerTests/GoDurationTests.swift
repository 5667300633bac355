import SignetAdmission
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

/// The time signet gives itself for a review: the API server's `?timeout=` less a fifth of it,
/// at most one second, capped by the configured maximum.
struct AdmissionBudgetTests {
    private func budget(_ timeout: String?, maximum: Duration = .seconds(30)) -> Duration {
        let unused = AdmissionHTTPResult(status: 500, contentType: "text/plain", body: [])
        return SignetRequestHandler(
            admit: { _, _, _ in .answered(unused) }, mutate: { _, _, _ in .answered(unused) },
            readiness: ReadinessState(), maximumAdmissionTime: maximum
        ).admissionBudget(timeoutParameter: timeout)
    }

    @Test(arguments: [
        ("10s", Duration.seconds(9)), ("5s", .seconds(4)), ("30s", .seconds(29)),
        // Below five seconds the margin is a fifth.
        ("4s", .milliseconds(3200)), ("4999ms", .microseconds(3_999_200)), ("1s", .milliseconds(800)), ("1ms", .microseconds(800)),
    ] as [(String, Duration)])
    func marginIsAFifthAtMostOneSecond(timeout: String, expected: Duration) {
        #expect(budget(timeout) == expected)
    }

    @Test func theMaximumCapsTheBudget() {
        #expect(budget("30s", maximum: .seconds(10)) == .seconds(10))
        #expect(budget(nil, maximum: .seconds(10)) == .seconds(10))
        #expect(budget("0s", maximum: .seconds(10)) == .seconds(10))
        #expect(budget("soon", maximum: .seconds(10)) == .seconds(10))
    }
}
