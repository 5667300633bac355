/// `fnmatch`-style matching of one path segment, as TUF delegations use it (TUF specification
/// section 4.5, `PATHPATTERN`): `*` any run of characters, `?` one character, `[...]` a set
/// (`[!...]` its complement). Works on UTF-8 bytes.
enum ShellPattern {
    static func matches(pattern: [UInt8], text: [UInt8]) -> Bool {
        var p = 0, t = 0
        var starPattern = -1, starText = 0
        while t < text.count {
            if p < pattern.count {
                switch pattern[p] {
                case UInt8(ascii: "*"):
                    starPattern = p
                    starText = t
                    p += 1
                    continue
                case UInt8(ascii: "?"):
                    p += 1
                    t += 1
                    continue
                case UInt8(ascii: "["):
                    if let (matched, next) = matchSet(pattern, from: p, byte: text[t]) {
                        if matched {
                            p = next
                            t += 1
                            continue
                        }
                    } else if text[t] == pattern[p] {
                        p += 1
                        t += 1
                        continue
                    }
                default:
                    if pattern[p] == text[t] {
                        p += 1
                        t += 1
                        continue
                    }
                }
            }
            guard starPattern >= 0 else { return false }
            p = starPattern + 1
            starText += 1
            t = starText
        }
        while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }

    /// Whether `byte` is in the set starting at `pattern[start]` (`[`), and the index after the
    /// set; nil when the set is not closed (then `[` is literal).
    private static func matchSet(_ pattern: [UInt8], from start: Int, byte: UInt8) -> (Bool, Int)? {
        var index = start + 1
        var negate = false
        if index < pattern.count, pattern[index] == UInt8(ascii: "!") {
            negate = true
            index += 1
        }
        var matched = false
        var first = true
        while index < pattern.count {
            let current = pattern[index]
            if current == UInt8(ascii: "]"), !first {
                return (matched != negate, index + 1)
            }
            first = false
            if index + 2 < pattern.count, pattern[index + 1] == UInt8(ascii: "-"), pattern[index + 2] != UInt8(ascii: "]") {
                if current <= pattern[index + 2], (current...pattern[index + 2]).contains(byte) { matched = true }
                index += 3
            } else {
                if current == byte { matched = true }
                index += 1
            }
        }
        return nil
    }
}
