import Foundation
import SignetCrypto
import SignetTUF

/// Typed access to the members of one Notary v1 metadata object, with errors that name the
/// document and the member (Notary `tuf/data` types, which follow TUF specification section 4
/// with Notary's own spelling: capitalised `_type`, base64 hashes, no `spec_version`).
struct NotaryFieldReader {
    let members: [String: JSONValue]
    /// Where this object is, for messages: `targets.json signed.delegations`.
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

    func integer(_ key: String, minimum: Int64 = 0) throws(TUFError) -> Int {
        guard let value = members[key]?.integerValue else { throw failure("\"\(key)\" must be an integer") }
        guard value >= minimum, value <= Int64(Int.max) else { throw failure("\"\(key)\" must be at least \(minimum)") }
        return Int(value)
    }

    func bool(_ key: String, default fallback: Bool) throws(TUFError) -> Bool {
        guard let value = members[key] else { return fallback }
        guard let flag = value.boolValue else { throw failure("\"\(key)\" must be true or false") }
        return flag
    }

    func reader(_ key: String) throws(TUFError) -> NotaryFieldReader {
        guard let value = members[key] else { throw failure("\"\(key)\" is missing") }
        return try NotaryFieldReader(value, context: "\(context).\(key)")
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

    /// Notary's `Hashes`: algorithm name to the base64 digest, returned as lowercase hex so that
    /// SignetTUF's ``MetadataFileCheck`` compares them.
    func hashes(_ key: String) throws(TUFError) -> [String: String] {
        var result: [String: String] = [:]
        for (algorithm, value) in members[key]?.objectValue ?? [:] {
            guard let text = value.stringValue, let bytes = Data(base64Encoded: text), !bytes.isEmpty else {
                throw failure("hash \(algorithm) must be a base64 string")
            }
            result[algorithm] = Hex.encode(bytes)
        }
        return result
    }

    /// The common header of every role (Notary `tuf/data.SignedCommon`): `_type` (capitalised:
    /// `Root`, `Targets`, `Snapshot`, `Timestamp`), `version` (at least 1), `expires`.
    func header(expectedType: String) throws(TUFError) -> NotaryMetadataHeader {
        let type = try string("_type")
        // Notary's own check (`data.ValidTUFType`) compares case-insensitively; the files it
        // writes capitalise the first letter.
        guard type.lowercased() == expectedType.lowercased() else {
            throw TUFError(.wrongType, "\(context) has _type \"\(type)\", expected \"\(expectedType)\"")
        }
        let version = try integer("version", minimum: 1)
        let text = try string("expires")
        guard let expires = MetadataDate.parse(text) else { throw failure("expires \"\(text)\" is not a date-time") }
        return NotaryMetadataHeader(type: type, version: version, expires: expires)
    }
}

/// The members every Notary v1 role's `signed` object carries (Notary `tuf/data.SignedCommon`).
public struct NotaryMetadataHeader: Sendable, Hashable {
    /// `Root`, `Targets`, `Snapshot` or `Timestamp`.
    public var type: String
    /// The metadata version, at least 1.
    public var version: Int
    /// When the metadata stops being trustworthy.
    public var expires: Date
}
