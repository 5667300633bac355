/// Why a policy directory or document could not be loaded: where (file, 1-based document
/// index, field path such as `spec.images[0].glob`) and what.
public struct PolicyLoadError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case unreadable
        case invalidYAML
        case notASignetResource
        case unsupportedResource
        case invalidField
        case duplicateName
    }

    let code: Code
    /// The file name, when the error concerns one.
    public let file: String?
    /// The 1-based index of the YAML document in ``file``.
    public let document: Int?
    /// The path of the offending field, e.g. `spec.authorities[1].static.action`.
    public let fieldPath: String?
    /// What is wrong.
    public let message: String

    init(_ code: Code, file: String?, document: Int? = nil, fieldPath: String? = nil, message: String) {
        self.code = code
        self.file = file
        self.document = document
        self.fieldPath = fieldPath
        self.message = message
    }

    /// `policies/x.yaml, document 2, spec.images[0].glob: glob is empty`.
    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let document { parts.append("document \(document)") }
        if let fieldPath, !fieldPath.isEmpty { parts.append(fieldPath) }
        return parts.isEmpty ? message : parts.joined(separator: ", ") + ": " + message
    }
}
