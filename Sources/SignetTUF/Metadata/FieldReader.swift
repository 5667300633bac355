/// Typed access to the members of one metadata object, with errors that name the document
/// and the member (TUF specification section 4, "Document formats").
struct FieldReader {
    let members: [String: JSONValue]
    /// Where this object is, for messages: `root.json signed.roles.targets`.
    let context: String

    init(_ value: JSONValue, context: String) throws(TUFError) {
        guard let members = value.objectValue else { throw TUFError(.malformedMetadata, "\(context) is not an object") }
        self.members = members
        self.context = context
    }

    func failure(_ reason: String) -> TUFError {
        TUFError(.malformedMetadata, "\(context): \(reason)")
    }

    func string(_ key: String) throws(TUFError) -> String {
        guard let value = members[key]?.stringValue else { throw failure("\"\(key)\" must be a string") }
        return value
    }

    func optionalString(_ key: String) throws(TUFError) -> String? {
        guard let value = members[key] else { return nil }
        guard let text = value.stringValue else { throw failure("\"\(key)\" must be a string") }
        return text
    }

    func integer(_ key: String, minimum: Int64 = 0) throws(TUFError) -> Int {
        guard let value = members[key]?.integerValue else { throw failure("\"\(key)\" must be an integer") }
        guard value >= minimum, value <= Int64(Int.max) else { throw failure("\"\(key)\" must be at least \(minimum)") }
        return Int(value)
    }

    func optionalInteger(_ key: String, minimum: Int64 = 0) throws(TUFError) -> Int? {
        guard members[key] != nil else { return nil }
        return try integer(key, minimum: minimum)
    }

    func bool(_ key: String, default fallback: Bool) throws(TUFError) -> Bool {
        guard let value = members[key] else { return fallback }
        guard let flag = value.boolValue else { throw failure("\"\(key)\" must be true or false") }
        return flag
    }

    func object(_ key: String) throws(TUFError) -> [String: JSONValue] {
        guard let value = members[key]?.objectValue else { throw failure("\"\(key)\" must be an object") }
        return value
    }

    func reader(_ key: String) throws(TUFError) -> FieldReader {
        guard let value = members[key] else { throw failure("\"\(key)\" is missing") }
        return try FieldReader(value, context: "\(context).\(key)")
    }

    func array(_ key: String) throws(TUFError) -> [JSONValue] {
        guard let value = members[key]?.arrayValue else { throw failure("\"\(key)\" must be an array") }
        return value
    }

    func strings(_ key: String) throws(TUFError) -> [String] {
        var result: [String] = []
        for element in try array(key) {
            guard let text = element.stringValue else { throw failure("\"\(key)\" must hold strings") }
            result.append(text)
        }
        return result
    }

    /// A `HASHES` object: algorithm name to lowercase hex digest.
    func hashes(_ key: String) throws(TUFError) -> [String: String] {
        var result: [String: String] = [:]
        for (algorithm, value) in try object(key) {
            guard let hex = value.stringValue, !hex.isEmpty else { throw failure("hash \(algorithm) must be a hex string") }
            result[algorithm] = hex.lowercased()
        }
        return result
    }
}
