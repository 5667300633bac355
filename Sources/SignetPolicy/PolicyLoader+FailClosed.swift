import Foundation

extension PolicyLoader {
    /// The stand-in for a ``ClusterImagePolicy`` that does not compile (a `secretRef` signet
    /// cannot read, a malformed key, a glob the API server stored without signet's webhook, ...):
    /// it covers the images the broken policy's globs cover, in every namespace and for every
    /// kind, and fails each of them with a static authority that names the policy and the error.
    /// Without it, the images a broken policy was written to protect would fall to a broader
    /// policy or to the no-match action: fail closed instead.
    ///
    /// A glob that does not compile is taken to cover what its plainest reading covers
    /// (``standInPattern(_:)``: without its tags, whitespace, its digest or tag, doubled `/` or
    /// `*`), which is at least what its author meant; one that cannot be read even so (an empty
    /// glob) makes the stand-in cover every image, since what the policy covers is then unknown. `nil` when the policy
    /// lists no image at all.
    public func failClosedPolicy(
        name: String, images: [ClusterImagePolicy.ImagePattern], error: String, source: PolicySourceLocation
    ) -> CompiledPolicy? {
        guard !images.isEmpty else { return nil }
        let readings = images.map(Self.standInPattern)
        let everything = readings.contains { $0 == nil }
        let covered = everything ? [ClusterImagePolicy.ImagePattern(glob: "**")] : readings.compactMap { $0 }
        let scope = everything ? "every image (one of its globs cannot be read, so what it covers is unknown)" : "every image it covers"
        let message = "ClusterImagePolicy \"\(name)\" is invalid, so it denies \(scope) until it is fixed: \(error)"
        let stand = ClusterImagePolicy(
            name: name,
            spec: ClusterImagePolicy.Spec(
                images: covered,
                authorities: [ClusterImagePolicy.Authority(name: "invalid-policy", static: .init(action: .fail, message: message))]))
        return try? compile(stand, source: source)
    }

    /// What a stand-in covers for `pattern`: the pattern itself when it compiles; else the first
    /// of its plainer readings that does, each covering at least as much: the glob without the
    /// `tags` list; then lower-cased, without whitespace or control characters, without a
    /// digest or a tag written into it, with `//` and `***` made `/` and `**`. Nil when none
    /// compiles (an empty glob).
    static func standInPattern(_ pattern: ClusterImagePolicy.ImagePattern) -> ClusterImagePolicy.ImagePattern? {
        func compiles(_ glob: String, _ tags: [String]?) -> Bool { (try? ImageGlob(glob, tags: tags)) != nil }
        if compiles(pattern.glob, pattern.tags) { return pattern }
        if pattern.tags != nil, compiles(pattern.glob, nil) { return ClusterImagePolicy.ImagePattern(glob: pattern.glob) }
        var glob = String(decoding: pattern.glob.lowercased().utf8.filter { $0 > 0x20 && $0 != 0x7F }, as: UTF8.self)
        if let at = glob.firstIndex(of: "@") { glob = String(glob[..<at]) }
        // A tag: a colon in the last path segment (one in the host is a port).
        if let colon = glob.lastIndex(of: ":"), !glob[colon...].contains("/"), glob[..<colon].contains("/") { glob = String(glob[..<colon]) }
        while glob.contains("//") { glob = glob.replacingOccurrences(of: "//", with: "/") }
        while glob.contains("***") { glob = glob.replacingOccurrences(of: "***", with: "**") }
        return compiles(glob, nil) ? ClusterImagePolicy.ImagePattern(glob: glob) : nil
    }
}
