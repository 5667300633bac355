import Metrics
import SignetPolicy

/// The result of deciding one image, in the Policy WG's PolicyReport vocabulary
/// (`wgpolicyk8s.io/v1alpha2` `PolicyReportResult.result`): what admission did with it, and what
/// a scan reports for a running image.
public enum ImageVerificationResult: String, Sendable, Hashable, Codable, CaseIterable {
    /// Allowed by its policies' signatures.
    case pass
    /// Denied.
    case fail
    /// Allowed with a warning (a `Warn` or `Audit` policy failed, or no policy covers the image
    /// under the `warn` no-match action).
    case warn
    /// Allowed unverified: an exemption applied, or no policy covers the image under `allow`.
    case skip
    /// Denied because verification could not finish (``ImageVerdict/isUndecided``: a registry,
    /// transparency log or CRL that did not answer, or answered with an error, or the deadline),
    /// not because a signature failed: with them answering it might pass.
    case error

    /// The result of an image decided `outcome`; `exempt` when a PolicyException or an
    /// EmergencyBypass applied, `evaluated` when a policy was evaluated for it, `undecided` when
    /// a deny hangs on verifications that could not finish. An image a policy covers but that no
    /// policy is enforced for here (`kinds`, `namespaceSelector`) was not evaluated: skipped, not
    /// passed, since nothing was verified.
    public init(outcome: ImageOutcome?, exempt: Bool, evaluated: Bool, undecided: Bool = false) {
        switch outcome {
        case .deny: self = undecided ? .error : .fail
        case nil: self = .fail
        case .warn, .audit: self = .warn
        case .allow: self = !exempt && evaluated ? .pass : .skip
        }
    }

    /// The result of one verdict.
    public init(_ verdict: ImageVerdict) {
        self.init(
            outcome: verdict.outcome, exempt: !verdict.exemptions.isEmpty, evaluated: !verdict.results.isEmpty, undecided: verdict.isUndecided)
    }
}

/// The runbook's verification totals, counted for every image decision: at admission (source
/// `admission`, dry runs included: each is a verification asked for) and by the scans of
/// running Pods (source `scan`). Labels are bounded: five results, seven formats, two sources.
///
/// - `signet_image_signature_verification_total{result,format,source}`: `format` is the kind
///   of the authority that decided (``PolicySet/decidingAuthority(of:)``, of the verdict's results: `key`, `keyless`,
///   `notation`, `notaryV1`, `attestations`, `static`), or `none` when no authority was
///   consulted (no policy covers the image, or an exemption applied);
/// - `signet_image_signature_verification_success_total{source}`: those that passed.
public final class SignatureVerificationMetrics: Sendable {
    /// Where a decision was made.
    public enum Source: String, Sendable, CaseIterable {
        case admission
        case scan
    }

    /// The process's counters (made on first use, after the metrics system is bootstrapped).
    public static let shared = SignatureVerificationMetrics()

    /// The `format` label values; the last one, `none`, when no authority decided.
    static let formats = ["static", "key", "keyless", "notation", "notaryV1", "attestations", "none"]
    /// Every total, at ``slot(_:_:_:)`` of its source, result and format index: found by
    /// arithmetic, without hashing two dictionary keys for each image decided.
    private let totals: [Counter]
    /// By source (``Source/allCases`` order).
    private let successes: [Counter]

    private init() {
        var totals: [Counter] = []
        var successes: [Counter] = []
        for source in Source.allCases {
            for result in ImageVerificationResult.allCases {
                // ``slot(_:_:_:)`` finds a counter by the order made here; the two must agree.
                precondition(Self.slot(source, result, 0) == totals.count, "signature verification counters out of slot order")
                totals += Self.formats.map { format in
                    Counter(label: "signet_image_signature_verification_total", dimensions: [
                        ("result", result.rawValue), ("format", format), ("source", source.rawValue),
                    ])
                }
            }
            let success = Counter(label: "signet_image_signature_verification_success_total", dimensions: [("source", source.rawValue)])
            // The runbook's success ratio exists from the first decision on, at zero until one passes.
            success.increment(by: 0)
            precondition(Self.sourceIndex(source) == successes.count, "signature verification counters out of source order")
            successes.append(success)
        }
        self.totals = totals
        self.successes = successes
    }

    /// The index of a source in ``Source/allCases``.
    private static func sourceIndex(_ source: Source) -> Int {
        switch source {
        case .admission: 0
        case .scan: 1
        }
    }

    /// The index of a result in ``ImageVerificationResult/allCases``.
    private static func resultIndex(_ result: ImageVerificationResult) -> Int {
        switch result {
        case .pass: 0
        case .fail: 1
        case .warn: 2
        case .skip: 3
        case .error: 4
        }
    }

    /// Where the total of `source`, `result` and format index `format` is in ``totals``
    /// (the order ``init()`` makes them in).
    private static func slot(_ source: Source, _ result: ImageVerificationResult, _ format: Int) -> Int {
        (sourceIndex(source) * ImageVerificationResult.allCases.count + resultIndex(result)) * formats.count + format
    }

    /// The `format` label of an authority kind (`none` for `nil`).
    static func formatIndex(_ kind: CompiledAuthority.Kind.Name?) -> Int {
        switch kind {
        case .static: 0
        case .key: 1
        case .keyless: 2
        case .notation: 3
        case .notaryV1: 4
        case .attestations: 5
        case nil: 6
        }
    }

    /// Counts one image decided `result`, by an authority of `kind` (`nil`: none decided).
    public func count(_ result: ImageVerificationResult, kind: CompiledAuthority.Kind.Name?, source: Source) {
        totals[Self.slot(source, result, Self.formatIndex(kind))].increment()
        if result == .pass { successes[Self.sourceIndex(source)].increment() }
    }

    /// Counts each verdict of `decision`, decided under `policies`.
    func count(_ decision: AdmissionDecision, policies: PolicySet, source: Source) {
        // By index, field by field: the verdicts are read in place (a whole verdict handed to a
        // function was copied, every string and array of it retained and released).
        for index in decision.verdicts.indices {
            let result = ImageVerificationResult(
                outcome: decision.verdicts[index].outcome, exempt: !decision.verdicts[index].exemptions.isEmpty,
                evaluated: !decision.verdicts[index].results.isEmpty, undecided: decision.verdicts[index].isUndecided)
            count(result, kind: policies.decidingAuthority(of: decision.verdicts[index].results)?.kindName, source: source)
        }
    }
}
