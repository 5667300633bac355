/// Text that came from outside (a registry, a signature envelope, an object in a review) on its
/// way into a reason, a step, an audit record, an event or an alert: cut to a bound so that an
/// attacker who controls an image's signature material cannot make every copy of a deny reason
/// megabytes long, and with control characters replaced so it stays one printable line.
public enum UntrustedText {
    /// At most `limit` characters of `text`, control characters shown as `?`; a cut text ends
    /// with `…` and the size of the whole.
    public static func clipped(_ text: String, limit: Int = 120) -> String {
        var result = ""
        var count = 0
        for character in text {
            if count == limit {
                return result + "… (\(text.utf8.count) bytes)"
            }
            result.append(character.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F } ? character : "?")
            count += 1
        }
        return result
    }

    /// The most characters a verdict's reason keeps.
    public static let reasonLimit = 4_096
    /// The most characters a verification step's detail keeps.
    public static let detailLimit = 2_048
}
