import Foundation

/// The `Retry-After` response field (RFC 9110 section 10.2.3): either a number of seconds or an
/// HTTP-date (IMF-fixdate, RFC 9110 section 5.6.7, with the obsolete RFC 850 and asctime forms).
enum RetryAfter {
    /// The wait the field asks for, measured from `now`; nil when the field does not parse.
    /// A date in the past means no wait.
    static func delay(_ value: String, now: Date = Date()) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if !text.isEmpty, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber) {
            guard let seconds = Int(text) else { return .seconds(Int.max / 2) }
            return .seconds(seconds)
        }
        for format in ["EEE, dd MMM yyyy HH:mm:ss 'GMT'", "EEEE, dd-MMM-yy HH:mm:ss 'GMT'", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) {
                let seconds = max(0, date.timeIntervalSince(now))
                return .milliseconds(Int64(seconds * 1000))
            }
        }
        return nil
    }
}
