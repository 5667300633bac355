/// An ordered list of header (or trailer) fields, in the order they were received or added.
///
/// RFC 9110 §5.1: field names are case-insensitive; RFC 9110 §5.3: the order of field lines with
/// the same name is significant, so this keeps every line instead of merging them. Lookups compare
/// names with ASCII case folding and never allocate.
public struct HTTPHeaders: Sendable, Sequence, Equatable, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One field line: the name as received and its value with surrounding whitespace removed.
    public typealias Element = (name: String, value: String)

    private var fields: [Element]

    /// An empty field list.
    public init() {
        fields = []
    }

    /// A field list holding `pairs` in order.
    public init(_ pairs: [(String, String)]) {
        fields = pairs.map { (name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// Appends a field line, keeping any existing lines with the same name.
    public mutating func add(name: String, value: String) {
        // Requests carry a handful of fields: one allocation for them instead of growing by doubling.
        if fields.capacity == 0 { fields.reserveCapacity(8) }
        fields.append((name: name, value: value))
    }

    /// Sets the value of the first line named `name` and removes the other lines with that name,
    /// or appends a line when there is none.
    public mutating func replaceOrAdd(name: String, value: String) {
        guard let first = fields.firstIndex(where: { Self.namesEqual($0.name, name) }) else {
            fields.append((name: name, value: value))
            return
        }
        fields[first].value = value
        var index = first + 1
        while index < fields.count {
            if Self.namesEqual(fields[index].name, name) {
                fields.remove(at: index)
            } else {
                index += 1
            }
        }
    }

    /// Removes every line named `name`.
    public mutating func remove(name: String) {
        fields.removeAll { Self.namesEqual($0.name, name) }
    }

    /// The value of the first line named `name`, if any.
    public subscript(name: String) -> String? {
        fields.first { Self.namesEqual($0.name, name) }?.value
    }

    /// The values of every line named `name`, in order.
    public func values(for name: String) -> [String] {
        fields.compactMap { Self.namesEqual($0.name, name) ? $0.value : nil }
    }

    /// How many lines are named `name`.
    public func count(of name: String) -> Int {
        var count = 0
        for field in fields where Self.namesEqual(field.name, name) { count += 1 }
        return count
    }

    /// Whether at least one line is named `name`.
    public func contains(_ name: String) -> Bool {
        fields.contains { Self.namesEqual($0.name, name) }
    }

    /// The number of field lines.
    public var count: Int { fields.count }

    /// Whether there are no field lines.
    public var isEmpty: Bool { fields.isEmpty }

    /// The comma-separated list elements of every line named `name`, lowercased, with optional
    /// whitespace trimmed and empty elements dropped (RFC 9110 §5.6.1), e.g. the tokens of
    /// `Connection: keep-alive, Upgrade` are `["keep-alive", "upgrade"]`.
    public func tokens(for name: String) -> [String] {
        var result: [String] = []
        for field in fields where Self.namesEqual(field.name, name) {
            for element in field.value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
                let trimmed = HTTPSyntax.trimmingWhitespace(element)
                if !trimmed.isEmpty {
                    result.append(String(decoding: trimmed.lazy.map(HTTPSyntax.lowercased), as: UTF8.self))
                }
            }
        }
        return result
    }

    /// Whether the comma-separated lists of the lines named `name` contain `token`, compared
    /// case-insensitively.
    public func containsToken(_ token: String, in name: String) -> Bool {
        for field in fields where Self.namesEqual(field.name, name) {
            for element in field.value.utf8.split(separator: UInt8(ascii: ",")) {
                if HTTPSyntax.equalsIgnoringCase(HTTPSyntax.trimmingWhitespace(element), token.utf8) {
                    return true
                }
            }
        }
        return false
    }

    public func makeIterator() -> IndexingIterator<[Element]> {
        fields.makeIterator()
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public var description: String {
        "[" + fields.map { "\($0.name): \($0.value)" }.joined(separator: ", ") + "]"
    }

    static func namesEqual(_ lhs: String, _ rhs: String) -> Bool {
        // Most names differ in length, which answers without walking them, and names are mostly
        // sent as they are asked for (an exact match is one comparison).
        lhs.utf8.count == rhs.utf8.count && (lhs == rhs || HTTPSyntax.equalsIgnoringCase(lhs.utf8, rhs.utf8))
    }
}
