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
    /// Formatted into bytes directly: it runs for every audit record, where building an
    /// `ISO8601DateFormatter` (or a string per field) cost more than the decision.
    public static func format(_ date: Date) -> String {
        let parts = UTCTime(secondsSinceEpoch: Int64(date.timeIntervalSince1970.rounded(.down)))
        guard (0...9999).contains(parts.year) else {
            // Outside four digits: the general path (never for a clock reading).
            func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
            return "\(parts.year)-\(two(parts.month))-\(two(parts.day))T\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))Z"
        }
        return String(unsafeUninitializedCapacity: 20) { buffer in
            func put(_ value: Int, digits: Int, at offset: Int) {
                var rest = value
                for position in stride(from: offset + digits - 1, through: offset, by: -1) {
                    buffer[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
            }
            put(parts.year, digits: 4, at: 0)
            buffer[4] = UInt8(ascii: "-")
            put(parts.month, digits: 2, at: 5)
            buffer[7] = UInt8(ascii: "-")
            put(parts.day, digits: 2, at: 8)
            buffer[10] = UInt8(ascii: "T")
            put(parts.hour, digits: 2, at: 11)
            buffer[13] = UInt8(ascii: ":")
            put(parts.minute, digits: 2, at: 14)
            buffer[16] = UInt8(ascii: ":")
            put(parts.second, digits: 2, at: 17)
            buffer[19] = UInt8(ascii: "Z")
            return 20
        }
    }
}

/// A count of seconds since the Unix epoch as a UTC date and time of the proleptic Gregorian
/// calendar (POSIX.1-2024 §4.19, "Seconds Since the Epoch": no leap seconds), by arithmetic on
/// the day count (days to civil date in 400-year eras of 146,097 days).
///
/// What `gmtime_r(3)` gives, without it: glibc's `gmtime_r` takes the process-wide time-zone
/// lock, which every event loop then shares for each audit record and log line it writes.
public struct UTCTime: Sendable, Hashable {
    public var year: Int
    /// 1 to 12.
    public var month: Int
    /// 1 to 31.
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(secondsSinceEpoch seconds: Int64) {
        // Floor division: a moment before 1970 belongs to the day that starts before it.
        let (quotient, remainder) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let days = remainder < 0 ? quotient - 1 : quotient
        let secondOfDay = Int(remainder < 0 ? remainder + 86_400 : remainder)
        hour = secondOfDay / 3600
        minute = secondOfDay / 60 % 60
        second = secondOfDay % 60
        // Days since 0000-03-01: each era of 400 years then starts on a March 1st, and the leap
        // day is the last day of its year.
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        // Months from March: 153 days in each 5 months (31, 30, 31, 30, 31).
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        day = Int(dayOfYear - (153 * monthFromMarch + 2) / 5 + 1)
        month = Int(monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9)
        year = Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))
    }
}
