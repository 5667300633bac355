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
    /// The most characters an image as a pod spec writes it keeps where signet shows it (deny
    /// messages, audit records, CLI output): above any valid reference (a name of at most 255
    /// characters, a tag of at most 128, a digest), so only an invalid one is ever cut.
    public static let imageLimit = 512

    /// `image` as signet shows it: itself when it is at most ``imageLimit`` bytes without a
    /// control character (every valid reference), otherwise ``clipped(_:limit:)``. A pod spec's
    /// image is anyone's text: a long one would make audit lines longer than log pipelines take
    /// whole, and an escape sequence would reach the terminal of whoever reads the deny message
    /// (`kubectl describe` of a ReplicaSet shows it in its events).
    public static func shown(image: String) -> String {
        guard image.utf8.count <= imageLimit, !image.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            return clipped(image, limit: imageLimit)
        }
        return image
    }

    /// The most characters a verification step's detail keeps.
    public static let detailLimit = 2_048
}
