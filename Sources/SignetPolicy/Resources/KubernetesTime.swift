import Foundation

/// Kubernetes `metav1.Time` on the wire: RFC 3339 (`2026-11-22T10:00:00Z`, fractional seconds
/// and numeric offsets accepted), as the Kubernetes API conventions prescribe for timestamps.
public enum KubernetesTime {
    /// Parses an RFC 3339 timestamp, or returns `nil`.
    public static func parse(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// `2026-11-22T10:00:00Z`: RFC 3339 in UTC, whole seconds.
    /// Formatted with `gmtime_r` directly: it runs for every audit record, where building an
    /// `ISO8601DateFormatter` each time cost more than the decision.
    public static func format(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let year = String(parts.tm_year + 1900)
        let paddedYear = String(repeating: "0", count: max(0, 4 - year.count)) + year
        return "\(paddedYear)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
