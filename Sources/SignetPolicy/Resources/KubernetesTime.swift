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
    public static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
