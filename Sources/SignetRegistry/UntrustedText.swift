/// Text that came from outside (a registry, a signature envelope, an object in a review) on its
/// way into a reason, a step, an audit record, an event or an alert: cut to a bound so that an
/// attacker who controls an image's signature material cannot make every copy of a deny reason
/// megabytes long, and with control characters replaced so it stays one printable line.
public enum UntrustedText {
    /// At most `limit` characters and `4 × limit` UTF-8 bytes of `text` (one character can be
    /// any number of combining scalars), control characters (C0, DEL, C1: a terminal reads
    /// U+009B as CSI), bidirectional marks, overrides and isolates, and line separators shown
    /// as `?`; a cut text ends with `…` and the size of the whole.
    public static func clipped(_ text: String, limit: Int = 120) -> String {
        var result = ""
        var count = 0
        var bytes = 0
        for character in text {
            let piece: Character = character.unicodeScalars.allSatisfy(isShown) ? character : "?"
            let size = piece.utf8.count
            if count == limit || bytes + size > 4 * limit {
                return result + "… (\(text.utf8.count) bytes)"
            }
            result.append(piece)
            count += 1
            bytes += size
        }
        return result
    }

    /// Whether `scalar` may be shown as it is: not a control character (C0, DEL, C1), a
    /// bidirectional mark, embedding, override or isolate (which reorder what follows on the
    /// line), nor a line or paragraph separator (a line break to some log viewers).
    public static func isShown(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x20, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: false
        default: true
        }
    }

    /// `text` itself when it is at most `limit` characters and `4 × limit` bytes and every
    /// scalar of it may be shown (``isShown(_:)``), otherwise ``clipped(_:limit:)``: a short
    /// reason can carry an escape sequence from a certificate's identity or a registry's answer
    /// as well as a long one.
    public static func bounded(_ text: String, limit: Int) -> String {
        let bytes = text.utf8.count
        let fits = bytes <= limit || (bytes <= 4 * limit && text.count <= limit)
        // Printable ASCII, what nearly every reason is, is decided on the bytes, eight at a time:
        // this runs for every verdict of every review, the cached ones too.
        var copy = text
        guard fits, copy.withUTF8(isPrintableASCII) || text.unicodeScalars.allSatisfy(isShown) else {
            return clipped(text, limit: limit)
        }
        return text
    }

    /// Whether every byte is printable ASCII (0x20 to 0x7E): eight bytes at a time (SWAR: a
    /// byte-wise "high bit set", "less than 0x20" and "equals 0x7F" on a 64-bit word, each exact
    /// when it says no), the last few one by one.
    static func isPrintableASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        if let base = UnsafeRawPointer(bytes.baseAddress) {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while index + 8 <= bytes.count {
                let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let control = (word &- ones &* 0x20) & ~word & highs
                let delete = word ^ (ones &* 0x7F)
                if word & highs != 0 || control != 0 || (delete &- ones) & ~delete & highs != 0 { return false }
                index += 8
            }
        }
        while index < bytes.count {
            guard (0x20..<0x7F).contains(bytes[index]) else { return false }
            index += 1
        }
        return true
    }

    /// `text` with each scalar that may not be shown as it is (``isShown(_:)``) written as
    /// ``visibleEscape(_:)``, whatever its length: one printable line that still says what was
    /// there, for text people read (a terminal table, a text log line, a chat message), where a
    /// name from a review could otherwise clear the screen, hide a link or start a line of its
    /// own that looks like signet's.
    public static func escaped(_ text: String) -> String {
        var copy = text
        if copy.withUTF8(isPrintableASCII) || text.unicodeScalars.allSatisfy(isShown) { return text }
        return replacingScalars(text) { isShown($0) ? nil : visibleEscape($0) }
    }

    /// `\u{1B}`: a scalar written as its code point in Swift's notation.
    public static func visibleEscape(_ scalar: Unicode.Scalar) -> String {
        "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
    }

    /// `text` with each Unicode scalar that `replacement` maps replaced by what it gives (an
    /// escape). Read one scalar at a time, not one `Character`: a quote or an angle bracket
    /// followed by a combining mark is one Character that equals neither, and is still a quote
    /// or a bracket to a browser or a chat client.
    public static func replacingScalars(_ text: String, _ replacement: (Unicode.Scalar) -> String?) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if let replaced = replacement(scalar) { out.append(contentsOf: replaced.unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }

    /// The most characters a verdict's reason keeps.
    public static let reasonLimit = 4_096
    /// The most bytes an image as a pod spec writes it keeps where signet shows it (deny
    /// messages, audit records, CLI output): the longest text a valid reference can be, so only
    /// an invalid one is ever cut.
    public static let imageLimit = ImageReference.maximumReferenceLength

    /// `image` as signet shows it: itself when it is at most ``imageLimit`` bytes of printable
    /// ASCII (every valid reference is), otherwise its first ``imageLimit`` bytes with every byte
    /// outside printable ASCII shown as `?`, then `…` and the size of the whole. A pod spec's
    /// image is anyone's text: a long one would make audit lines longer than log pipelines take
    /// whole, and control characters, escape sequences or bidirectional overrides would reach the
    /// terminal of whoever reads the deny message (`kubectl describe` of a ReplicaSet shows it).
    public static func shown(image: String) -> String {
        printableASCII(image, limit: imageLimit)
    }

    /// The most bytes a container's name keeps where signet shows it: 63, the longest name
    /// Kubernetes accepts (`Container.name` is an RFC 1123 label).
    public static let containerNameLimit = 63

    /// A container's name as signet shows it, by the rule of ``shown(image:)`` with
    /// ``containerNameLimit``: the API server validates names before a validating webhook sees
    /// them, but an object read from a file (`signet review`), a custom resource's pod template
    /// or a server that skips validation can carry any text there, and the name is in every
    /// deny message, audit record and event of its image.
    public static func shown(containerName: String) -> String {
        printableASCII(containerName, limit: containerNameLimit)
    }

    /// `text` itself when it is at most `limit` bytes of printable ASCII, otherwise its first
    /// `limit` bytes with every byte outside printable ASCII shown as `?`, followed, when `text`
    /// was longer than `limit` bytes, by `…` and the size of the whole.
    private static func printableASCII(_ text: String, limit: Int) -> String {
        let bytes = text.utf8
        guard bytes.count > limit || bytes.contains(where: { $0 < 0x20 || $0 > 0x7E }) else { return text }
        var shown = String(decoding: bytes.prefix(limit).map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
        if bytes.count > limit { shown += "… (\(bytes.count) bytes)" }
        return shown
    }

    /// The most characters a verification step's detail keeps.
    public static let detailLimit = 2_048
}
