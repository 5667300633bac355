import Foundation

/// Where a repository publishes its metadata and targets (TUF specification section 5.3.3 for
/// versioned roots, 5.5.1 and 5.6.1 for versioned metadata under consistent snapshots, 5.7.3
/// for hash-prefixed targets).
///
/// ``TUFStandardLayout`` is the specification's. A Notary v1 server serves the same roles at
/// `/v2/<gun>/_trust/tuf/<role>.json` and conforms with its own layout.
public protocol TUFRepositoryLayout: Sendable {
    /// The URL of root version `version` (`<version>.root.json`).
    func rootURL(version: Int) -> String
    /// The URL of the metadata of `role` (`timestamp`, `snapshot`, `targets` or a delegated
    /// role), at `version` when the repository uses consistent snapshots and the version is known.
    func metadataURL(role: String, version: Int?) -> String
    /// The URL of the target at `path`, named by `hash` (lowercase hex) when the repository
    /// uses consistent snapshots.
    func targetURL(path: String, hash: String?) -> String
}

/// The layout of the TUF specification (section 5): `<metadata>/<version>.<role>.json` (or
/// `<role>.json`), and `<targets>/<dir>/<hash>.<name>` (or `<targets>/<path>`).
///
/// Role names and target path segments are percent-encoded, so a delegated role named
/// `a/b` cannot reach outside the metadata folder.
public struct TUFStandardLayout: TUFRepositoryLayout {
    public var metadataBaseURL: String
    public var targetsBaseURL: String

    /// `metadataBaseURL` and `targetsBaseURL` with or without a trailing `/`.
    public init(metadataBaseURL: String, targetsBaseURL: String) {
        self.metadataBaseURL = metadataBaseURL.hasSuffix("/") ? metadataBaseURL : metadataBaseURL + "/"
        self.targetsBaseURL = targetsBaseURL.hasSuffix("/") ? targetsBaseURL : targetsBaseURL + "/"
    }

    /// The usual shape: `<base>/metadata/` and `<base>/targets/` (as the tuf-conformance and
    /// Sigstore repositories publish).
    public init(repositoryURL: String) {
        let base = repositoryURL.hasSuffix("/") ? String(repositoryURL.dropLast()) : repositoryURL
        self.init(metadataBaseURL: base + "/metadata/", targetsBaseURL: base + "/targets/")
    }

    public func rootURL(version: Int) -> String {
        "\(metadataBaseURL)\(version).root.json"
    }

    public func metadataURL(role: String, version: Int?) -> String {
        let name = PathEscaping.escape(role)
        if let version { return "\(metadataBaseURL)\(version).\(name).json" }
        return "\(metadataBaseURL)\(name).json"
    }

    public func targetURL(path: String, hash: String?) -> String {
        var segments = path.split(separator: "/", omittingEmptySubsequences: false).map { PathEscaping.escape(String($0)) }
        if let hash, let last = segments.popLast() { segments.append("\(hash).\(last)") }
        return targetsBaseURL + segments.joined(separator: "/")
    }
}

/// Percent-encoding of one path segment (RFC 3986 section 2.1): every byte outside the
/// unreserved set.
enum PathEscaping {
    static func escape(_ segment: String) -> String {
        var output = ""
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                output.unicodeScalars.append(UnicodeScalar(byte))
            default:
                output += String(format: "%%%02X", byte)
            }
        }
        return output
    }
}
