#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A text compared and hashed by its UTF-8 bytes.
///
/// Swift's `String` compares and hashes by Unicode canonical equivalence: `"K"` written with
/// U+212A KELVIN SIGN equals `"K"` written with the letter. The Kubernetes API, container
/// runtimes and registries compare bytes (the OCI distribution specification's references are
/// ASCII; a kubelet refuses the Kelvin sign and pulls the letter). Wherever "the same image"
/// decides what is verified (an image unchanged by an update, a parse remembered for a text, a
/// pod's repeated image), images are compared as ExactText, so two texts are the same image only
/// when a runtime would read them the same.
public struct ExactText: Hashable, Sendable {
    /// The text, as given.
    public let text: String

    /// `text`, to be compared and hashed by its bytes.
    public init(_ text: String) {
        self.text = text
    }

    public static func == (lhs: ExactText, rhs: ExactText) -> Bool {
        lhs.text.isSameBytes(as: rhs.text)
    }

    public func hash(into hasher: inout Hasher) {
        var bytes = text  // a native string: no copy
        bytes.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(text.utf8.count)
    }
}

extension String {
    /// Whether the two texts are the same bytes (``ExactText``), not merely canonically equivalent.
    /// Compared as two buffers (native strings hold their UTF-8 contiguously): a walk of the two
    /// UTF-8 views cost a few dozen instructions a byte, for every image of every review.
    public func isSameBytes(as other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        var left = self
        var right = other
        return left.withUTF8 { left in
            right.withUTF8 { right in
                guard let a = left.baseAddress, let b = right.baseAddress else { return left.count == right.count }
                return memcmp(a, b, left.count) == 0
            }
        }
    }
}
