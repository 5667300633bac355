/// Text from a signed document compared as it is written: by its UTF-8 bytes, as cosign, Go and
/// the signing tools compare it (RFC 8259 section 8.3 compares member names code unit by code
/// unit). Swift's `==` and `Dictionary` take canonically equivalent strings for equal, so a
/// Kelvin sign (U+212A) would be a `K`: `refs/heads/\u{212A}8s`, a branch anyone can push, would
/// satisfy a policy that asks for the protected `refs/heads/K8s`.
public enum WrittenText {
    /// Whether `one` and `other` are the same bytes.
    @inlinable
    public static func equal(_ one: String, _ other: String) -> Bool {
        one.utf8.elementsEqual(other.utf8)
    }

    /// The value of the member named exactly `name` (the same bytes), or nil.
    public static func member<Value>(_ name: String, of object: [String: Value]) -> Value? {
        // The dictionary finds a canonically equivalent name; that is the one only when the bytes agree.
        if let index = object.index(forKey: name), equal(object[index].key, name) { return object[index].value }
        return object.first { equal($0.key, name) }?.value
    }
}
