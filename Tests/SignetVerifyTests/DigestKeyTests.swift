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
        #expect(Self.key(Self.base) == Self.key(String(Self.base)))
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
            #expect(Self.key(odd) == Self.key(odd))
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
