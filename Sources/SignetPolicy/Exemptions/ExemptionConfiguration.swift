/// How the ``PolicyEvaluator`` treats exceptions, bypasses and namespace opt-outs (the signet
/// design, "Resources"); one `Sendable` value with secure defaults.
///
/// - `clock`: decides expiry (see ``PolicyClock``); the system clock by default.
/// - `maximumBypassWindow`: an `EmergencyBypass` whose `expiresAt` lies further ahead than
///   this is refused at admission and ignored by the evaluator; 24 hours by default.
/// - `namespaceOptOutLabel`: a namespace labelled with this key and the value `"true"` is not
///   evaluated (`signet.dev/exclude` by default); admissions there are allowed and recorded.
public struct ExemptionConfiguration: Sendable {
    public var clock: PolicyClock
    public var maximumBypassWindow: Duration
    public var namespaceOptOutLabel: String

    /// The label that opts a namespace out of signet: `signet.dev/exclude: "true"`.
    public static let defaultOptOutLabel = "signet.dev/exclude"

    public init(
        clock: PolicyClock = .system, maximumBypassWindow: Duration = .seconds(24 * 3600),
        namespaceOptOutLabel: String = ExemptionConfiguration.defaultOptOutLabel
    ) {
        self.clock = clock
        self.maximumBypassWindow = maximumBypassWindow
        self.namespaceOptOutLabel = namespaceOptOutLabel
    }
}
