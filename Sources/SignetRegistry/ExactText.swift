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
    public let text: String

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
    @inlinable
    public func isSameBytes(as other: String) -> Bool {
        utf8.count == other.utf8.count && utf8.elementsEqual(other.utf8)
    }
}
