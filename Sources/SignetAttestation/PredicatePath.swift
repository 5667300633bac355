/// A path into an in-toto predicate, as a condition names it: member names separated by dots
/// (`builder.id`, `buildDefinition.externalParameters.workflow.ref`), a decimal segment for an
/// array element (`subject.0`), and `*` for every element of an array or every member of an
/// object (`scanner.result.Results.*.Vulnerabilities.*.Severity`).
///
/// A path reads the predicate of the statement (in-toto Attestation Framework v1,
/// `spec/v1/statement.md`, field `predicate`).
public struct PredicatePath: Sendable, Hashable, Codable, CustomStringConvertible {
    public let segments: [String]

    /// The most distinct values one path may read from one predicate; more fail the condition
    /// (closed) rather than being held in the cache.
    public static let maximumValues = 1024

    /// Parses a path; nil when it is empty or has an empty segment.
    public init?(_ text: String) {
        let segments = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !text.isEmpty, !segments.contains(where: \.isEmpty) else { return nil }
        self.segments = segments
    }

    public var description: String { segments.joined(separator: ".") }

    /// The distinct values the path reaches in `predicate`, in the order first found; empty when
    /// it reaches nothing; nil when it reaches more than ``maximumValues`` distinct values.
    public func values(in predicate: AttestationValue) -> [AttestationScalar]? {
        var found: [AttestationScalar] = []
        var seen: Set<AttestationScalar> = []
        var overflow = false
        func walk(_ value: AttestationValue, _ index: Int) {
            guard !overflow else { return }
            guard index < segments.count else {
                let scalar = value.scalar
                if seen.insert(scalar).inserted {
                    found.append(scalar)
                    if found.count > Self.maximumValues { overflow = true }
                }
                return
            }
            let segment = segments[index]
            switch value {
            case .object(let members):
                if segment == "*" {
                    for key in members.keys.sorted() { walk(members[key]!, index + 1) }
                } else if let member = members[segment] {
                    walk(member, index + 1)
                }
            case .array(let elements):
                if segment == "*" {
                    for element in elements { walk(element, index + 1) }
                } else if let position = Int(segment), elements.indices.contains(position) {
                    walk(elements[position], index + 1)
                }
            default:
                return
            }
        }
        walk(predicate, 0)
        return overflow ? nil : found
    }
}
