import Foundation

/// The period in which a key, log or authority of a trusted root may be used
/// (`dev.sigstore.common.v1.TimeRange` in sigstore/protobuf-specs `sigstore_common.proto`).
/// Both ends are inclusive; an absent end means "still valid". A range without a start is not
/// trusted at any time.
public struct ValidityPeriod: Sendable, Hashable, CustomStringConvertible {
    /// The first instant of use; nil when the trusted root gave none (never valid).
    public var start: Date?
    /// The last instant of use, inclusive; nil when open-ended.
    public var end: Date?

    public init(start: Date?, end: Date? = nil) {
        self.start = start
        self.end = end
    }

    /// Whether `time` lies within the period, both ends included.
    public func contains(_ time: Date) -> Bool {
        guard let start, start <= time else { return false }
        if let end, time > end { return false }
        return true
    }

    public var description: String {
        "[\(start.map { $0.formatted(.iso8601) } ?? "none"), \(end.map { $0.formatted(.iso8601) } ?? "open")]"
    }
}
