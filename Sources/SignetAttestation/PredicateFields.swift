/// The values an attestation's conditions read from its predicate, and nothing else: what a
/// verified attestation keeps (and the verification cache holds), so conditions can be
/// evaluated again later (a time condition expires by itself) while a large predicate, an SBOM
/// say, is never held whole.
public struct PredicateFields: Sendable, Hashable, Codable {
    /// The distinct values each path reaches, by path; a path that reaches nothing is absent.
    public var values: [String: [AttestationScalar]]
    /// Paths that reach more than ``PredicatePath/maximumValues`` distinct values (their
    /// conditions fail closed).
    public var overflowing: [String]

    public init(values: [String: [AttestationScalar]] = [:], overflowing: [String] = []) {
        self.values = values
        self.overflowing = overflowing
    }

    /// Reads `paths` from `predicate`.
    public init(reading paths: Set<PredicatePath>, from predicate: AttestationValue) {
        var values: [String: [AttestationScalar]] = [:]
        var overflowing: [String] = []
        for path in paths.sorted(by: { $0.description < $1.description }) {
            guard let found = path.values(in: predicate) else {
                overflowing.append(path.description)
                continue
            }
            if !found.isEmpty { values[path.description] = found }
        }
        self.init(values: values, overflowing: overflowing)
    }
}
