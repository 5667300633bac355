import Foundation
import SignetAttestation
import Testing

/// Conditions on predicates: every operator, groups, paths with `*`, and the fields kept.
@Suite("attestation conditions")
struct AttestationConditionTests {
    /// A pinned time: 2026-01-10T00:00:00Z.
    static let now = Date(timeIntervalSince1970: 1_768_003_200)

    static let predicate = AttestationValue(json: Array("""
        {"runDetails":{"builder":{"id":"https://github.com/actions/runner"}},
         "buildDefinition":{"externalParameters":{"workflow":{"ref":"refs/tags/v1.2.0","repository":"https://github.com/example/app"}}},
         "metadata":{"scanFinishedOn":"2026-01-05T12:00:00Z"},
         "scanner":{"result":{"Results":[{"Vulnerabilities":[{"Severity":"HIGH"},{"Severity":"LOW"}]},{"Vulnerabilities":[{"Severity":"MEDIUM"}]}],
                    "critical":0,"high":1}},
         "creationInfo":{"creators":["Organization: Example","Tool: syft-1.4.1"]},
         "signed":true}
        """.utf8))!

    func condition(_ yaml: String) throws -> AttestationCondition {
        try AttestationCondition(parsing: AttestationValue(json: Array(yaml.utf8))!, field: "c")
    }

    func failure(_ json: String, at now: Date = now) throws -> String? {
        let condition = try condition(json)
        return condition.failure(in: PredicateFields(reading: condition.paths, from: Self.predicate), now: now)
    }

    @Test func equalsAndNotEquals() throws {
        #expect(try failure(#"{"path":"runDetails.builder.id","operator":"equals","value":"https://github.com/actions/runner"}"#) == nil)
        #expect(try failure(#"{"path":"runDetails.builder.id","operator":"equals","value":"https://evil.example"}"#)
            == "runDetails.builder.id is https://github.com/actions/runner, expected https://evil.example")
        #expect(try failure(#"{"path":"signed","operator":"equals","value":true}"#) == nil)
        #expect(try failure(#"{"path":"signed","operator":"equals","value":"true"}"#) != nil, "a string is not a boolean")
        #expect(try failure(#"{"path":"runDetails.builder.id","operator":"notEquals","value":"https://evil.example"}"#) == nil)
        #expect(try failure(#"{"path":"runDetails.builder.id","operator":"notEquals","value":"https://github.com/actions/runner"}"#) != nil)
        #expect(try failure(#"{"path":"runDetails.missing","operator":"equals","value":"x"}"#) == "runDetails.missing is absent, expected x")
    }

    @Test func inAndNotInOverWildcards() throws {
        let severities = "scanner.result.Results.*.Vulnerabilities.*.Severity"
        #expect(try failure(#"{"path":"\#(severities)","operator":"notIn","value":["CRITICAL"]}"#) == nil)
        #expect(try failure(#"{"path":"\#(severities)","operator":"notIn","value":["CRITICAL","HIGH"]}"#)
            == "\(severities) is HIGH, LOW, MEDIUM, expected none of CRITICAL, HIGH")
        #expect(try failure(#"{"path":"buildDefinition.externalParameters.workflow.ref","operator":"in","value":["refs/heads/main","refs/tags/v1.2.0"]}"#) == nil)
        #expect(try failure(#"{"path":"buildDefinition.externalParameters.workflow.ref","operator":"in","value":["refs/heads/main"]}"#)
            == "buildDefinition.externalParameters.workflow.ref is refs/tags/v1.2.0, expected one of refs/heads/main")
        #expect(try failure(#"{"path":"creationInfo.creators.1","operator":"equals","value":"Tool: syft-1.4.1"}"#) == nil)
    }

    @Test func matchesIsAnchored() throws {
        #expect(try failure(#"{"path":"creationInfo.creators.*","operator":"matches","value":"Tool: (syft|trivy)-.*"}"#) == nil)
        #expect(try failure(#"{"path":"buildDefinition.externalParameters.workflow.ref","operator":"matches","value":"v1\\.2"}"#) != nil,
                "a pattern matches the whole value, not a part of it")
        #expect(try failure(#"{"path":"buildDefinition.externalParameters.workflow.ref","operator":"matches","value":"refs/heads/.*"}"#)
            == "buildDefinition.externalParameters.workflow.ref is refs/tags/v1.2.0, expected to match refs/heads/.*")
        // A line break after the matched text is not part of the match (ICU's `$` took it).
        for ending in ["\\n", "\\r\\n", "\\u2028", "\\u0085"] {
            let condition = try condition(#"{"path":"ref","operator":"matches","value":"refs/heads/main"}"#)
            let predicate = try #require(AttestationValue(json: Array(#"{"ref":"refs/heads/main\#(ending)"}"#.utf8)))
            #expect(condition.failure(in: PredicateFields(reading: condition.paths, from: predicate), now: Self.now) != nil, "\(ending)")
            let dollar = try self.condition(#"{"path":"ref","operator":"matches","value":"refs/heads/main$"}"#)
            #expect(dollar.failure(in: PredicateFields(reading: dollar.paths, from: predicate), now: Self.now) != nil, "$ before \(ending)")
        }
        let exact = try #require(AttestationValue(json: Array(#"{"ref":"refs/heads/main"}"#.utf8)))
        let main = try condition(#"{"path":"ref","operator":"matches","value":"refs/heads/ma.n"}"#)
        #expect(main.failure(in: PredicateFields(reading: main.paths, from: exact), now: Self.now) == nil)
    }

    /// `equals`, `notEquals` and `in` compare strings by their bytes: a Kelvin sign (U+212A) is
    /// not a `K`, though Swift's `==` takes them for canonically equivalent.
    @Test func stringsCompareByTheirBytes() throws {
        let predicate = try #require(AttestationValue(json: Array(#"{"ref":"refs/heads/\u212A8s"}"#.utf8)))
        func failure(_ json: String) throws -> String? {
            let condition = try condition(json)
            return condition.failure(in: PredicateFields(reading: condition.paths, from: predicate), now: Self.now)
        }
        #expect(try failure(#"{"path":"ref","operator":"equals","value":"refs/heads/K8s"}"#) != nil)
        #expect(try failure(#"{"path":"ref","operator":"in","value":["refs/heads/K8s","refs/heads/main"]}"#) != nil)
        #expect(try failure(#"{"path":"ref","operator":"notEquals","value":"refs/heads/K8s"}"#) == nil)
        #expect(try failure(#"{"path":"ref","operator":"equals","value":"refs/heads/\u212A8s"}"#) == nil)
    }

    @Test func exists() throws {
        #expect(try failure(#"{"path":"runDetails.builder.id","operator":"exists"}"#) == nil)
        #expect(try failure(#"{"path":"runDetails.builder.version","operator":"exists"}"#) == "runDetails.builder.version is absent, expected it to exist")
        #expect(try failure(#"{"path":"runDetails.builder.version","operator":"exists","value":false}"#) == nil)
        #expect(try failure(#"{"path":"runDetails.builder.id","operator":"exists","value":false}"#) != nil)
    }

    @Test func numericComparisons() throws {
        #expect(try failure(#"{"path":"scanner.result.critical","operator":"lessThanOrEqual","value":0}"#) == nil)
        #expect(try failure(#"{"path":"scanner.result.high","operator":"lessThanOrEqual","value":0}"#) == "scanner.result.high is 1, expected a number <= 0")
        #expect(try failure(#"{"path":"scanner.result.high","operator":"lessThan","value":1}"#) != nil)
        #expect(try failure(#"{"path":"scanner.result.high","operator":"greaterThan","value":0}"#) == nil)
        #expect(try failure(#"{"path":"scanner.result.high","operator":"greaterThanOrEqual","value":2}"#) != nil)
        #expect(try failure(#"{"path":"runDetails.builder.id","operator":"greaterThan","value":0}"#) != nil, "a string is not a number")
    }

    @Test func notOlderThanExpiresWithTheClock() throws {
        let check = #"{"path":"metadata.scanFinishedOn","operator":"notOlderThan","value":"7d"}"#
        #expect(try failure(check) == nil)
        let later = Self.now.addingTimeInterval(3 * 86_400)
        #expect(try failure(check, at: later)
            == "metadata.scanFinishedOn is 2026-01-05T12:00:00Z, expected a date not older than 7d (on or after 2026-01-06T00:00:00Z)")
        #expect(try failure(#"{"path":"runDetails.builder.id","operator":"notOlderThan","value":"7d"}"#) != nil, "not a date")
        // A date in the future would stay fresh for ever: five minutes of a skewed clock pass, a day does not.
        let scanned = Self.now.addingTimeInterval(-388_800)  // 2026-01-05T12:00:00Z, the statement's scanFinishedOn
        let earlier = scanned.addingTimeInterval(-86_400)
        let future = try failure(check, at: earlier)
        #expect(future?.contains("not later than 2026-01-04T12:05:00Z (a time in the future stays fresh for ever)") == true, "\(future ?? "passed")")
        #expect(try failure(check, at: scanned.addingTimeInterval(-240)) == nil, "four minutes ahead is within the tolerance")
        #expect(AttestationCondition.duration("1h30m") == 5_400)
        #expect(AttestationCondition.duration("168h") == 604_800)
        #expect(AttestationCondition.duration("7") == nil)
        #expect(AttestationCondition.duration("0s") == nil)
    }

    /// Over `*` a positive check holds when one value passes: `lessThan 7` over CVSS scores of
    /// 9.8 and 2.0 held. `every: true` asks it of each value, and of at least one.
    @Test func everyValueMustPassWithEvery() throws {
        let scores = "scanner.result.Results.*.Vulnerabilities.*.Severity"
        #expect(try failure(#"{"path":"\#(scores)","operator":"in","value":["HIGH"]}"#) == nil, "one value in the list is enough without every")
        #expect(try failure(#"{"path":"\#(scores)","operator":"in","value":["HIGH"],"every":true}"#)
            == "not every value of \(scores) holds: \(scores) is LOW, expected one of HIGH")
        #expect(try failure(#"{"path":"\#(scores)","operator":"in","value":["HIGH","MEDIUM","LOW"],"every":true}"#) == nil)
        #expect(try failure(#"{"path":"scanner.result.*","operator":"lessThan","value":1}"#) == nil)
        #expect(try failure(#"{"path":"scanner.result.*","operator":"lessThan","value":1,"every":true}"#)?.hasPrefix("not every value of scanner.result.* holds") == true,
                "the Results array and high: 1 are not numbers below 1")
        #expect(try failure(#"{"path":"scanner.result.high","operator":"lessThanOrEqual","value":1,"every":true}"#) == nil)
        #expect(try failure(#"{"path":"creationInfo.creators.*","operator":"matches","value":"Tool: .*","every":true}"#) != nil)
        #expect(try failure(#"{"path":"scanner.missing.*","operator":"lessThan","value":7,"every":true}"#)
            == "scanner.missing.* is absent, expected every value of it to be checked", "nothing to check is not a pass")
        #expect(try failure(#"{"path":"scanner.missing.*","operator":"notIn","value":["CRITICAL"],"every":true}"#) != nil)
        #expect(throws: AttestationError.self) { try condition(#"{"path":"a","operator":"exists","every":true}"#) }
        #expect(throws: AttestationError.self) { try condition(#"{"path":"a","operator":"equals","value":1,"every":"yes"}"#) }
    }

    @Test func groups() throws {
        let any = #"{"anyOf":[{"path":"runDetails.builder.id","operator":"equals","value":"a"},{"path":"signed","operator":"equals","value":false}]}"#
        #expect(try failure(any) == "none of the anyOf conditions holds: runDetails.builder.id is https://github.com/actions/runner, expected a; signed is true, expected false")
        let anyPass = #"{"anyOf":[{"path":"runDetails.builder.id","operator":"equals","value":"a"},{"path":"signed","operator":"equals","value":true}]}"#
        #expect(try failure(anyPass) == nil)
        let all = #"{"allOf":[{"path":"signed","operator":"equals","value":true},{"path":"scanner.result.high","operator":"equals","value":0}]}"#
        #expect(try failure(all) == "scanner.result.high is 1, expected 0")
    }

    @Test func badConditionsAreRefused() throws {
        for bad in [
            #"{"path":"a","operator":"like","value":"x"}"#, #"{"path":"","operator":"equals","value":"x"}"#,
            #"{"path":"a..b","operator":"equals","value":"x"}"#, #"{"path":"a","operator":"matches","value":"("}"#,
            #"{"path":"a","operator":"in","value":[]}"#, #"{"path":"a","operator":"lessThan","value":"1"}"#,
            #"{"path":"a","operator":"notOlderThan","value":"soon"}"#, #"{"path":"a","operator":"equals"}"#,
            #"{"path":"a","operator":"equals","value":"x","extra":1}"#, #"{"allOf":[]}"#,
        ] {
            #expect(throws: AttestationError.self, "\(bad)") { try condition(bad) }
        }
    }

    @Test func onlyTheFieldsReadAreKeptAndLargeFanOutFailsClosed() throws {
        let condition = try condition(#"{"path":"runDetails.builder.id","operator":"exists"}"#)
        let fields = PredicateFields(reading: condition.paths, from: Self.predicate)
        #expect(fields.values == ["runDetails.builder.id": [.string("https://github.com/actions/runner")]])
        let many = AttestationValue.object(["packages": .array((0..<2000).map { .object(["name": .string("p\($0)")]) })])
        let wide = try self.condition(#"{"path":"packages.*.name","operator":"notEquals","value":"evil"}"#)
        let kept = PredicateFields(reading: wide.paths, from: many)
        #expect(kept.values.isEmpty && kept.overflowing == ["packages.*.name"])
        #expect(wide.failure(in: kept, now: Self.now)?.contains("more than 1024 distinct values") == true)
    }

    @Test func predicateTypeAliases() {
        #expect(PredicateType.resolve("slsaprovenance1") == "https://slsa.dev/provenance/v1")
        #expect(PredicateType.resolve("slsaprovenance") == "https://slsa.dev/provenance/v0.2")
        #expect(PredicateType.resolve("vuln") == "https://cosign.sigstore.dev/attestation/vuln/v1")
        #expect(PredicateType.resolve("https://example.com/custom/v1") == "https://example.com/custom/v1")
        #expect(PredicateType.resolve("provenance") == nil)
    }
}
