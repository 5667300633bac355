import Testing

@testable import SignetRegistry
@testable import SignetVerify

/// The verification cache's digest key: a canonical sha256 digest as four words, anything else
/// as its text; two keys are equal exactly when the digests are.
@Suite("Digest key")
struct DigestKeyTests {
    static let hexDigits = Array("0123456789abcdef")
    static let base = String(repeating: "0123456789abcdef", count: 4)

    static func key(_ encoded: String, algorithm: String = "sha256") -> DigestKey {
        DigestKey(ImageDigest(uncheckedAlgorithm: algorithm, encoded: encoded))
    }

    static func replacing(_ position: Int, of text: String, with character: Character) -> String {
        var characters = Array(text)
        characters[position] = character
        return String(characters)
    }

    @Test("every digit at every position counts: one digit changed is another key")
    func everyDigitCounts() {
        var keys: Set<DigestKey> = [Self.key(Self.base)]
        for position in 0..<64 {
            for digit in Self.hexDigits where digit != Array(Self.base)[position] {
                keys.insert(Self.key(Self.replacing(position, of: Self.base, with: digit)))
            }
        }
        #expect(keys.count == 1 + 64 * 15)
        // Equal for the same digits in another string's storage.
        #expect(Self.key(Self.base) == Self.key(String(decoding: Array(Self.base.utf8), as: UTF8.self)))
    }

    @Test("a digest that is not 64 lowercase hexadecimal digits never equals a canonical one", arguments: [
        "A", "F", "G", "g", "Z", "z", "/", ":", "@", "`", "{",
    ])
    func nonCanonicalDigits(_ digit: Character) {
        // Upper-case A..F would read as a..f in the words if they were not refused; each
        // character sits next to a hexadecimal range in ASCII.
        for position in [0, 15, 16, 31, 47, 63] {
            let odd = Self.replacing(position, of: Self.base, with: digit)
            let near = Self.hexDigits.map { Self.key(Self.replacing(position, of: Self.base, with: $0)) }
            #expect(!near.contains(Self.key(odd)), "digit \(digit) at \(position)")
        }
    }

    @Test("bytes outside ASCII never read as digits", arguments: ["é", "ß", "\u{80}", "\u{FF}", "€"])
    func nonASCIIBytes(_ character: String) {
        // A character of two or three UTF-8 bytes in place of as many digits keeps 64 bytes.
        let width = character.utf8.count
        for position in [0, 30, 61] {
            var bytes = Array(Self.base.utf8)
            bytes.replaceSubrange(position..<(position + width), with: Array(character.utf8))
            let odd = String(decoding: bytes, as: UTF8.self)
            #expect(odd.utf8.count == 64)
            var near: [DigestKey] = []
            for digit in Self.hexDigits {
                var canonical = Array(Self.base.utf8)
                canonical.replaceSubrange(position..<(position + width), with: Array(repeating: digit.asciiValue!, count: width))
                near.append(Self.key(String(decoding: canonical, as: UTF8.self)))
            }
            #expect(!near.contains(Self.key(odd)), "\(character) at \(position)")
        }
    }

    @Test("other lengths and other algorithms are kept as text")
    func otherLengthsAndAlgorithms() {
        #expect(Self.key(String(Self.base.dropLast())) != Self.key(Self.base))
        #expect(Self.key(Self.base + "0") != Self.key(Self.base))
        #expect(Self.key(Self.base, algorithm: "sha512") != Self.key(Self.base))
        #expect(Self.key(Self.base, algorithm: "sha512") == Self.key(Self.base, algorithm: "sha512"))
    }
}

/// The verdict cache's key hashes everything a pod author chooses that keys differ in: one
/// digest under many tags of a Notary v1 repository makes as many hashes, so a pod with a
/// thousand made-up tags cannot pile its failures onto one chain of the cache's table.
@Suite("Verification cache key")
struct VerificationCacheKeyTests {
    @Test func keysThatDifferOnlyInTheTagHashApart() {
        let digest = ImageDigest(uncheckedAlgorithm: "sha256", encoded: String(repeating: "ab", count: 32))
        let keys = (0..<5_000).map {
            VerificationCacheKey(
                digest: digest, repository: "registry.example/covered/app", policy: "notary", revision: "r1", authority: "notary",
                trust: "t1", tag: "t\($0)")
        }
        #expect(Set(keys).count == 5_000)
        #expect(Set(keys.map(\.hashValue)).count > 4_900)
    }
}
