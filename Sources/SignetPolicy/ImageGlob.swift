import SignetRegistry

/// An image glob from `spec.images[].glob`, normalised and compiled for fast matching.
///
/// Syntax (the same as sigstore policy-controller's `ClusterImagePolicy` globs, extended):
/// - `*` matches any run of characters within one path segment (not `/`),
/// - `**` matches any run of characters across segments (including `/`),
/// - `?` matches one character other than `/`,
/// - everything else matches itself.
///
/// The normalisation of ``ImageReference`` applies to the glob as it does to references, so a
/// glob and every spelling of an image meet as one identity: `nginx` means
/// `docker.io/library/nginx`, `user/app*` means `docker.io/user/app*`, and a registry is
/// lowercased, loses the default port `:443` (with wildcards in its name too), and its Docker
/// Hub aliases (`index.docker.io`, `registry-1.docker.io`) become `docker.io`. The first segment
/// of a glob with a `/` is a registry when it contains `.`, `:`, a wildcard, or is `localhost`;
/// a glob without `/` is a Docker Hub official image name (so `nginx*` means
/// `docker.io/library/nginx*`). A glob that starts with `**` is not normalised. Names are
/// lowercase once normalised, so a glob with capitals outside the registry host could never
/// match and is refused (``unmatchableCase(_:)``).
///
/// A glob matches the repository name only (`docker.io/library/nginx`), never the tag or digest:
/// `ghcr.io/acme/web:prod-*` would otherwise be escaped by `ghcr.io/acme/web@sha256:…`. Tags are
/// a separate constraint (``tags``: `spec.images[].tags`, or a `:tag` written after the last `/`
/// of the glob, which ``tagWrittenInGlob`` flags for `signet lint`). A digest in a glob is refused.
/// How a tag constraint treats a reference without a tag (by digest alone) depends on the use:
/// for a policy it is covered (its tag is unknown, so the stricter policy applies), for an
/// exception or a bypass it is not (unknown information never exempts). A tag written beside a
/// digest is matched here as written; the ``PolicyEvaluator`` also holds such an image covered
/// by a policy whose tags do not list it, unless the tag names that digest
/// (``ParsedImages/Parsed/tagClaimPolicies``, ``TagDigestSource``).
public struct ImageGlob: Sendable, Hashable, CustomStringConvertible {
    /// The glob as written.
    public let pattern: String
    /// The repository glob after normalisation (without the tag).
    public let normalised: String
    /// The tags the entry is limited to; `nil` means every tag.
    public let tags: [TagGlob]?
    /// Whether the tag constraint was written as `:tag` in the glob rather than in `tags`.
    public let tagWrittenInGlob: Bool

    private enum Token: Sendable, Hashable {
        case byte(UInt8)
        case anyByte          // ?
        case segmentRun       // *
        case anyRun           // **
    }

    private let tokens: [Token]
    /// The bytes every match starts with (up to the first wildcard): a cheap pre-filter.
    private let literalPrefix: [UInt8]
    private let hasWildcard: Bool
    /// What follows the literal prefix when it is a single wildcard (`registry/org/**`,
    /// `registry/org/app*`): matched without simulating the glob.
    private let tail: Tail

    private enum Tail: Sendable, Hashable {
        case general
        /// `**`: anything at all.
        case anyRun
        /// `*`: anything without a `/`.
        case segmentRun
    }

    /// Validates, normalises and compiles `pattern`, limited to `tags` when given.
    ///
    /// - Throws: ``ImageGlobError`` when the glob is empty, contains whitespace or control
    ///   characters, has three or more `*` in a row, names a digest, names a tag both in the
    ///   glob and in `tags`, or has capitals that no image name can hold.
    public init(_ pattern: String, tags tagPatterns: [String]? = nil) throws(ImageGlobError) {
        if pattern.isEmpty {
            throw ImageGlobError(pattern: pattern, reason: "glob is empty")
        }
        for byte in pattern.utf8 where byte <= 0x20 || byte == 0x7F {
            throw ImageGlobError(pattern: pattern, reason: "glob contains whitespace or control characters")
        }
        if pattern.contains("***") {
            throw ImageGlobError(pattern: pattern, reason: "'***' is not a valid wildcard (use '*' within a segment or '**' across segments)")
        }
        if pattern.contains("//") {
            throw ImageGlobError(pattern: pattern, reason: "glob contains an empty path segment ('//')")
        }
        if pattern.contains("@") {
            throw ImageGlobError(
                pattern: pattern,
                reason: "a glob matches repositories, not digests; name the repository (the digest an image runs is what signet verifies)")
        }
        var repositoryPattern = Substring(pattern)
        var written = tagPatterns
        let lastSegment = pattern.lastIndex(of: "/").map { pattern.index(after: $0) } ?? pattern.startIndex
        if let colon = pattern[lastSegment...].firstIndex(of: ":") {
            guard written == nil else {
                throw ImageGlobError(pattern: pattern, reason: "the tag is given both in the glob and in tags; keep it in tags")
            }
            written = [String(pattern[pattern.index(after: colon)...])]
            repositoryPattern = pattern[..<colon]
            tagWrittenInGlob = true
        } else {
            tagWrittenInGlob = false
        }
        if let written {
            guard !written.isEmpty else { throw ImageGlobError(pattern: pattern, reason: "tags is empty; leave it out to cover every tag") }
            var compiled: [TagGlob] = []
            for tag in written { compiled.append(try TagGlob(tag)) }
            tags = compiled
        } else {
            tags = nil
        }
        self.pattern = pattern
        if let problem = Self.unmatchableCase(repositoryPattern) {
            throw ImageGlobError(pattern: pattern, reason: problem)
        }
        self.normalised = Self.normalise(String(repositoryPattern))

        var tokens: [Token] = []
        let bytes = Array(normalised.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "*") {
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                    tokens.append(.anyRun)
                    index += 2
                } else {
                    tokens.append(.segmentRun)
                    index += 1
                }
            } else if byte == UInt8(ascii: "?") {
                tokens.append(.anyByte)
                index += 1
            } else {
                tokens.append(.byte(byte))
                index += 1
            }
        }
        self.tokens = tokens
        var prefix: [UInt8] = []
        for token in tokens {
            guard case .byte(let byte) = token else { break }
            prefix.append(byte)
        }
        self.literalPrefix = prefix
        self.hasWildcard = prefix.count != tokens.count
        switch tokens.count - prefix.count == 1 ? tokens.last : nil {
        case .anyRun: tail = .anyRun
        case .segmentRun: tail = .segmentRun
        default: tail = .general
        }
    }

    public var description: String { pattern }

    /// Whether a policy with this entry covers `image`: the glob matches its repository name,
    /// and its tag is allowed or unknown (named by digest alone).
    public func matches(_ image: ImageReference) -> Bool {
        matches(ImageMatchSubject(image))
    }

    /// Whether an exception or a bypass with this entry applies to `image`: the glob matches its
    /// repository name, and, when the entry lists tags, the image is named by an allowed tag and
    /// no digest. A digest is what runs (`name:1.25@sha256:…` runs the digest, whatever `1.25`
    /// names), so a tag the entry allows vouches for nothing when a digest comes with it.
    public func exempts(_ image: ImageReference) -> Bool {
        exempts(ImageMatchSubject(image))
    }



    /// Whether the repository glob matches `text` (a repository name) as a whole.
    public func matches(text: String) -> Bool {
        var copy = text
        return copy.withUTF8 { matches(bytes: $0) }
    }

    func matches(_ subject: ImageMatchSubject) -> Bool {
        guard matchesName(subject) else { return false }
        guard let tags, let tag = subject.tag else { return true }
        return tags.contains { $0.matches(tag) }
    }

    /// As ``exempts(_:)``; with `digestFromTheNode`, a digest beside the tag is the one the node
    /// pulled the tag as (a scan of running Pods), and the tag decides.
    func exempts(_ subject: ImageMatchSubject, digestFromTheNode: Bool = false) -> Bool {
        guard matchesName(subject) else { return false }
        guard let tags else { return true }
        guard digestFromTheNode || !subject.hasDigest, let tag = subject.tag else { return false }
        return tags.contains { $0.matches(tag) }
    }

    private func matchesName(_ subject: ImageMatchSubject) -> Bool {
        var name = subject.name
        return name.withUTF8 { matches(bytes: $0) }
    }

    private func matches(bytes text: UnsafeBufferPointer<UInt8>) -> Bool {
        guard text.count >= literalPrefix.count else { return false }
        for index in 0..<literalPrefix.count where text[index] != literalPrefix[index] {
            return false
        }
        if !hasWildcard {
            return text.count == literalPrefix.count
        }
        switch tail {
        case .anyRun:
            return true
        case .segmentRun:
            return !text[literalPrefix.count...].contains(UInt8(ascii: "/"))
        case .general:
            break
        }
        // Simulate the glob as an NFA over the token positions: O(text × tokens), no backtracking.
        // The two state sets live on the stack (a glob is short); no allocation per match.
        let count = tokens.count
        return withUnsafeTemporaryAllocation(of: Bool.self, capacity: 2 * (count + 1)) { states in
            var current = UnsafeMutableBufferPointer(rebasing: states[0...count])
            var next = UnsafeMutableBufferPointer(rebasing: states[(count + 1)...])
            current.initialize(repeating: false)
            next.initialize(repeating: false)
            current[literalPrefix.count] = true
            closeOverEmptyRuns(current)
            for position in literalPrefix.count..<text.count {
                let byte = text[position]
                for index in 0...count { next[index] = false }
                var anyActive = false
                for state in 0..<count where current[state] {
                    switch tokens[state] {
                    case .byte(let expected):
                        if byte == expected { next[state + 1] = true; anyActive = true }
                    case .anyByte:
                        if byte != UInt8(ascii: "/") { next[state + 1] = true; anyActive = true }
                    case .segmentRun:
                        if byte != UInt8(ascii: "/") { next[state] = true; anyActive = true }
                    case .anyRun:
                        next[state] = true
                        anyActive = true
                    }
                }
                guard anyActive else { return false }
                closeOverEmptyRuns(next)
                swap(&current, &next)
            }
            return current[count]
        }
    }

    /// A `*` or `**` may match nothing: a state on one also stands on the token after it.
    private func closeOverEmptyRuns(_ states: UnsafeMutableBufferPointer<Bool>) {
        for index in 0..<tokens.count where states[index] {
            switch tokens[index] {
            case .segmentRun, .anyRun: states[index + 1] = true
            default: break
            }
        }
    }

    /// Why a glob with uppercase letters could never match an image, or nil: a name is
    /// lowercase once normalised (the distribution reference grammar allows uppercase in the
    /// registry host alone, which normalisation lowercases), so uppercase in the repository part
    /// matches nothing, and neither does a first segment that would be a registry host only
    /// because of its capitals (a reference such as `Acme/app` is refused). Refusing such a glob
    /// makes its policy invalid, which denies what it was meant to cover, instead of leaving
    /// those images uncovered.
    static func unmatchableCase(_ pattern: Substring) -> String? {
        func hasUppercase(_ text: Substring) -> Bool { text.utf8.contains { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) } }
        guard hasUppercase(pattern) else { return nil }
        let lowercase = "repository names are lowercase (the distribution reference grammar; only a registry host may be written in capitals): the glob could never match an image"
        guard !pattern.hasPrefix("**"), let slash = pattern.firstIndex(of: "/") else { return lowercase }
        let first = pattern[..<slash]
        if !namesRegistry(first) && hasUppercase(first) {
            return "\"\(first)\" is not a registry host (it has no '.' or ':' and is not localhost), and repository names are lowercase: the glob could never match an image"
        }
        return hasUppercase(pattern[pattern.index(after: slash)...]) ? lowercase : nil
    }

    /// Whether the first segment of a glob with a `/` names a registry: it contains `.`, `:` or a
    /// wildcard, or is `localhost` (in any case).
    static func namesRegistry(_ first: Substring) -> Bool {
        first.lowercased() == "localhost" || first.contains { $0 == "." || $0 == ":" || $0 == "*" || $0 == "?" }
    }

    /// Docker Hub normalisation of a glob; see the type's documentation.
    static func normalise(_ pattern: String) -> String {
        if pattern.hasPrefix("**") {
            return pattern
        }
        guard let slash = pattern.firstIndex(of: "/") else {
            return "docker.io/library/" + pattern
        }
        let first = pattern[..<slash]
        let rest = pattern[pattern.index(after: slash)...]
        // A first segment that is a host only because of capitals was refused (unmatchableCase).
        guard namesRegistry(first) else {
            return "docker.io/" + pattern
        }
        // A host with wildcards is lowercased and loses the default port as a literal host does
        // (`*.Corp.example:443` covers what `*.corp.example` does); a wildcard in the port is
        // left as written (`0*` would otherwise become `*`).
        var registry = String(first)
        let port = registry.lastIndex(of: ":").map { registry[registry.index(after: $0)...] }
        if port?.contains(where: { $0 == "*" || $0 == "?" || $0 == "]" }) == true {
            registry = registry.lowercased()
        } else {
            registry = ImageReference.canonicalRegistry(registry)
        }
        if registry == "docker.io", !rest.contains("/"), !rest.contains("**") {
            return "docker.io/library/" + rest
        }
        return registry + "/" + rest
    }
}

/// An image prepared once for matching against many globs: its repository name, its tag, and
/// its full normalised reference (for messages).
struct ImageMatchSubject: Sendable {
    /// The repository name, e.g. `docker.io/library/nginx`.
    let name: String
    /// The tag (`latest` when neither a tag nor a digest was written), `nil` for a reference by
    /// digest alone.
    let tag: String?
    /// Whether the reference names a digest (then the digest is what runs, whatever the tag).
    let hasDigest: Bool
    /// The full normalised reference, e.g. `docker.io/library/nginx:1.25` (its `description`).
    let reference: String

    init(_ image: ImageReference) {
        name = image.name
        tag = image.effectiveTag
        hasDigest = image.digest != nil
        reference = image.description
    }

    private init(name: String, tag: String?, hasDigest: Bool, reference: String) {
        self.name = name
        self.tag = tag
        self.hasDigest = hasDigest
        self.reference = reference
    }

    /// The same image with its tag taken as unknown, as for a reference by digest alone: for
    /// `name:tag@sha256:…`, which runs the digest whatever the tag names. `nil` when the image
    /// names no digest (then its tag is what runs).
    var withTagUnknown: ImageMatchSubject? {
        guard hasDigest, tag != nil else { return nil }
        return ImageMatchSubject(name: name, tag: nil, hasDigest: true, reference: reference)
    }

}

/// A glob in `spec.images` that cannot be compiled.
public struct ImageGlobError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The glob as written.
    public let pattern: String
    /// Why it is invalid.
    public let reason: String

    public var description: String { "invalid image glob \"\(pattern)\": \(reason)" }
}
