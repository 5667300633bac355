import Foundation
import SignetRegistry
import Testing

/// `String(concatenating:)` gives what `+` gives, for every kind of string storage.
struct StringConcatenatingTests {
    @Test func givesWhatPlusGives() {
        let bridged = NSString(string: "bridged ✓ text over fifteen bytes") as String
        let substring = String("large native string, heap-allocated, ümlauts".dropFirst(6))
        let cases: [[String]] = [
            [], [""], ["", "", ""], ["a"], ["small", " ", "strings"],
            ["image \"", "registry.example/team/app:v1", "\" (", "container \"app\"", ") allowed by policy ", "\"", "p", "\""],
            [substring, "🙂", "", "日本語のテキスト", bridged],
            [String(repeating: "x", count: 10_000), "y"],
        ]
        for pieces in cases {
            #expect(String(concatenating: pieces) == pieces.reduce("", +), "\(pieces)")
        }
    }
}
