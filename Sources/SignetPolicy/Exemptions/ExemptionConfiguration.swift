/// How the ``PolicyEvaluator`` treats exceptions, bypasses and namespace opt-outs (the signet
/// design, "Resources"); one `Sendable` value with secure defaults.
///
/// - `clock`: decides expiry (see ``PolicyClock``); the system clock by default.
/// - `maximumBypassWindow`: an `EmergencyBypass` whose `expiresAt` lies further than this after
///   its `creationTimestamp` is refused at admission and ignored by the evaluator; 24 hours by
///   default. Both windows are measured from now for an object without a creation time (a file).
/// - `maximumExceptionWindow`: a `PolicyException` whose `validUntil` lies further than this
///   after its `creationTimestamp` is refused at admission and ignored by the evaluator; 90 days
///   by default.
/// - `namespaceOptOutLabel`: a namespace labelled with this key and the value `"true"` is not
///   evaluated (`signet.dev/exclude` by default); admissions there are allowed and recorded.
public struct ExemptionConfiguration: Sendable {
    public var clock: PolicyClock
    public var maximumBypassWindow: Duration
    public var maximumExceptionWindow: Duration
    public var namespaceOptOutLabel: String

    /// The label that opts a namespace out of signet: `signet.dev/exclude: "true"`.
    public static let defaultOptOutLabel = "signet.dev/exclude"

    /// 90 days: the longest a `PolicyException` may run from its creation by default.
    public static let defaultExceptionWindow: Duration = .seconds(90 * 24 * 3600)

    public init(
        clock: PolicyClock = .system, maximumBypassWindow: Duration = .seconds(24 * 3600),
        namespaceOptOutLabel: String = ExemptionConfiguration.defaultOptOutLabel,
        maximumExceptionWindow: Duration = ExemptionConfiguration.defaultExceptionWindow
    ) {
        self.maximumExceptionWindow = maximumExceptionWindow
        self.clock = clock
        self.maximumBypassWindow = maximumBypassWindow
        self.namespaceOptOutLabel = namespaceOptOutLabel
    }
}
