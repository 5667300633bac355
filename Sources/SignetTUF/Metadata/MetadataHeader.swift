import Foundation

/// The members every role's `signed` object carries (TUF specification section 4.3, "File
/// formats: general principles"): `_type`, `spec_version`, `version` and `expires`.
public struct MetadataHeader: Sendable, Hashable {
    /// `root`, `timestamp`, `snapshot` or `targets`.
    public var type: String
    /// The specification version the metadata was written for; its major version must be 1.
    public var specVersion: String
    /// The metadata version, at least 1.
    public var version: Int
    /// When the metadata stops being trustworthy.
    public var expires: Date

    init(_ signed: FieldReader, expectedType: String) throws(TUFError) {
        type = try signed.string("_type")
        guard type == expectedType else {
            throw TUFError(.wrongType, "\(signed.context) has _type \"\(type)\", expected \"\(expectedType)\"")
        }
        specVersion = try signed.string("spec_version")
        // Section 4.3: a client refuses metadata of another major specification version.
        let major = specVersion.split(separator: ".").first.map(String.init) ?? ""
        guard major == "1" else {
            throw signed.failure("spec_version \(specVersion) is not version 1 of the specification")
        }
        version = try signed.integer("version", minimum: 1)
        let expiresText = try signed.string("expires")
        guard let expires = MetadataDate.parse(expiresText) else {
            throw signed.failure("expires \"\(expiresText)\" is not a date-time")
        }
        self.expires = expires
    }

    /// Whether the metadata has expired at `date` (section 5.4.4: expired when `expires` is
    /// not after the update's start time).
    public func isExpired(at date: Date) -> Bool {
        expires <= date
    }
}
