/// A container image reference, parsed and normalised the way Docker and containerd do.
///
/// Implements the grammar of the distribution reference library
/// (github.com/distribution/reference, `reference.go`) with the Docker Hub normalisation of
/// `normalize.go`:
///
/// ```
/// reference      := name [ ":" tag ] [ "@" digest ]
/// name           := [domain "/"] remote-name
/// domain         := host [":" port-number]
/// host           := domain-name | IPv4address | "[" IPv6address "]"
/// domain-name    := domain-component ("." domain-component)*
/// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
/// port-number    := [0-9]+
/// remote-name    := path-component ("/" path-component)*
/// path-component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
/// tag            := [\w][\w.-]{0,127}
/// digest         := see ``ImageDigest``
/// ```
///
/// Normalisation (`splitDockerDomain`): the first path component is a registry only when it
/// contains `.` or `:`, is `localhost`, or has an uppercase letter; otherwise the registry is
/// `docker.io`. Then one identity per registry, so that every spelling a container runtime pulls
/// the same image by is matched and cached as one: the host is lowercased (DNS names are
/// case-insensitive, RFC 4343), the default HTTPS port `:443` is dropped, the Docker Hub aliases
/// (``dockerHubAliases``) become `docker.io`, and a single-component repository on Docker Hub
/// gets the `library/` prefix. The normalised name (`registry/repository`) may have at
/// most 255 characters, and a bare 64-character hexadecimal string is refused as ambiguous with
/// an image ID.
///
/// The parser is hand-written over UTF-8 bytes: it runs for every image of every admission.
///
/// The parts live in one immutable shared object: a reference is handed to bypasses,
/// exceptions, policies and verdict caches for every image of every review, and each copy of
/// its five strings retained and released each of them; a copy is now one reference count.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    private final class Parts: Sendable {
        let registry: String
        let repository: String
        let tag: String?
        let digest: ImageDigest?
        /// ``ImageReference/name`` and ``ImageReference/description``, put together once: cache
        /// keys and logs ask for them at every lookup.
        let name: String
        let description: String

        init(registry: String, repository: String, tag: String?, digest: ImageDigest?) {
            self.registry = registry
            self.repository = repository
            self.tag = tag
            self.digest = digest
            name = "\(registry)/\(repository)"
            var text = name
            if let tag = ImageReference.effectiveTag(tag: tag, digest: digest) { text += ":" + tag }
            if let digest { text += "@" + digest.description }
            description = text
        }
    }

    private let parts: Parts

    /// The registry host with optional port: `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`.
    public var registry: String { parts.registry }
    /// The repository path inside the registry: `library/nginx`.
    public var repository: String { parts.repository }
    /// The tag as written, or `nil` when none was given.
    public var tag: String? { parts.tag }
    /// The digest as written, or `nil` when none was given.
    public var digest: ImageDigest? { parts.digest }

    public static func == (lhs: ImageReference, rhs: ImageReference) -> Bool {
        lhs.parts === rhs.parts
            || (lhs.registry == rhs.registry && lhs.repository == rhs.repository && lhs.tag == rhs.tag && lhs.digest == rhs.digest)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(registry)
        hasher.combine(repository)
        hasher.combine(tag)
        hasher.combine(digest)
    }

    /// The registry Docker Hub uses in normalised names.
    public static let dockerHubRegistry = "docker.io"
    /// The host serving the Docker Hub distribution API.
    public static let dockerHubAPIHost = "registry-1.docker.io"
    /// Registry names that all mean Docker Hub.
    public static let dockerHubAliases: Set<String> = ["docker.io", "index.docker.io", "registry-1.docker.io"]

    /// One spelling per registry: lowercased, the port as a plain decimal number (`:0443` is
    /// `:443`, as the runtimes' port parsing reads it) and dropped when it is the default HTTPS
    /// port, Docker Hub aliases made `docker.io`. `registry` is a valid host with optional port.
    public static func canonicalRegistry(_ registry: String) -> String {
        var host = registry.lowercased()
        // The port follows the last ':' outside an IPv6 literal's brackets.
        if let colon = host.lastIndex(of: ":"), !host[colon...].contains("]"),
           !host[..<colon].contains(":") || host.hasPrefix("[") {
            let digits = host[host.index(after: colon)...]
            let trimmed = digits.drop { $0 == "0" }
            let port = trimmed.isEmpty ? "0" : String(trimmed)
            host = String(host[..<colon])
            if port != "443" { host += ":" + port }
        }
        return dockerHubAliases.contains(host) ? dockerHubRegistry : host
    }
    /// The longest normalised name (`registry/repository`) the grammar allows.
    public static let maximumNameLength = 255
    /// The longest text a valid reference can be: a maximal name, `:` and a tag of 128
    /// characters, `@` and a digest of up to 200 (longer input is refused before it is scanned).
    public static let maximumReferenceLength = maximumNameLength + 1 + 128 + 1 + 200

    /// Parses and normalises a reference such as `nginx`, `ghcr.io/org/app:v1@sha256:…`.
    ///
    /// - Throws: ``ImageReferenceError`` with a message naming the input.
    public init(parsing input: String) throws(ImageReferenceError) {
        var copy = input
        let result = copy.withUTF8 { bytes -> Result<ImageReference, ImageReferenceError> in
            do throws(ImageReferenceError) {
                return .success(try Self.parse(bytes, input: input))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    /// Builds a reference from parts that are already valid and normalised.
    init(uncheckedRegistry registry: String, repository: String, tag: String?, digest: ImageDigest?) {
        parts = Parts(registry: registry, repository: repository, tag: tag, digest: digest)
    }

    /// The normalised name without tag or digest: `docker.io/library/nginx`.
    public var name: String { parts.name }

    /// The normalised reference: `name[:tag][@digest]`. A reference with neither tag nor digest
    /// prints with `:latest`, which is what a container runtime pulls.
    public var description: String { parts.description }

    /// The tag, or `latest` when neither a tag nor a digest was given.
    public var effectiveTag: String? { Self.effectiveTag(tag: tag, digest: digest) }

    private static func effectiveTag(tag: String?, digest: ImageDigest?) -> String? {
        if let tag { return tag }
        return digest == nil ? "latest" : nil
    }

    /// The host that serves the distribution API: `registry-1.docker.io` for Docker Hub,
    /// otherwise ``registry``.
    public var apiHost: String {
        registry == Self.dockerHubRegistry ? Self.dockerHubAPIHost : registry
    }

    /// The same reference without its digest (`name:tag`, or `name:latest` when it names no
    /// tag): what the tag names, to be resolved.
    public var withoutDigest: ImageReference {
        ImageReference(uncheckedRegistry: registry, repository: repository, tag: effectiveTag ?? "latest", digest: nil)
    }

    /// The same reference pinned to `digest` (the tag, if any, is kept for display).
    public func withDigest(_ digest: ImageDigest) -> ImageReference {
        ImageReference(uncheckedRegistry: registry, repository: repository, tag: tag, digest: digest)
    }

    // MARK: - Parsing

    private static let slash = UInt8(ascii: "/")
    private static let colon = UInt8(ascii: ":")
    private static let at = UInt8(ascii: "@")
    private static let dot = UInt8(ascii: ".")
    /// The names before `:` that make a reference an image ID to the runtime (OCI image-spec
    /// digest algorithms, upper case too since a runtime may read them without regard to case).
    private static let digestAlgorithms = ["sha256", "sha384", "sha512", "SHA256", "SHA384", "SHA512"]

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, input: String) throws(ImageReferenceError) -> ImageReference {
        if bytes.isEmpty {
            throw ImageReferenceError(.empty, input: input)
        }
        // Anything longer than a maximal name, tag and sha512 digest cannot be valid; refuse it
        // before scanning.
        if bytes.count > maximumReferenceLength {
            throw ImageReferenceError(.tooLong(bytes.count), input: input)
        }
        for byte in bytes where byte <= 0x20 || byte >= 0x7F {
            throw ImageReferenceError(.invalidCharacters, input: input)
        }
        if bytes.count == 64, bytes.allSatisfy(ASCII.isLowerHex) {
            throw ImageReferenceError(.hexIdentifier, input: input)
        }
        // `sha256:<hex>` (whole or cut short) reads as the Docker Hub image `library/sha256`, but a
        // container runtime takes it for an image ID and runs that image from its local store,
        // without pulling it (containerd's CRI looks up truncated IDs too): refused, whatever the
        // tag, since no image of that name is what the node would run.
        if let colon = bytes.firstIndex(of: Self.colon), !bytes[..<colon].contains(Self.slash),
           Self.digestAlgorithms.contains(where: { bytes[..<colon].elementsEqual($0.utf8) }) {
            throw ImageReferenceError(.imageID, input: input)
        }

        // name[:tag] @ digest
        var end = bytes.endIndex
        var digest: ImageDigest?
        if let atIndex = bytes.firstIndex(of: at) {
            digest = try ImageDigest.parse(bytes[(atIndex + 1)..<bytes.endIndex], input: input)
            end = atIndex
        }

        // The tag separator is a ':' after the last '/'.
        var tag: String?
        var nameEnd = end
        var lastColon: Int?
        for index in bytes.startIndex..<end {
            switch bytes[index] {
            case slash: lastColon = nil
            case colon: lastColon = index
            default: break
            }
        }
        if let lastColon {
            let tagBytes = bytes[(lastColon + 1)..<end]
            try validateTag(tagBytes, input: input)
            tag = String(decoding: tagBytes, as: UTF8.self)
            nameEnd = lastColon
        }
        if nameEnd == bytes.startIndex {
            throw ImageReferenceError(.missingRepository, input: input)
        }

        // Split the domain off per splitDockerDomain.
        let nameBytes = bytes[bytes.startIndex..<nameEnd]
        var registry = dockerHubRegistry
        var pathStart = nameBytes.startIndex
        if let firstSlash = nameBytes.firstIndex(of: slash) {
            let first = nameBytes[nameBytes.startIndex..<firstSlash]
            if isRegistryCandidate(first) {
                try validateRegistry(first, input: input)
                registry = canonicalRegistry(String(decoding: first, as: UTF8.self))
                // A host told from a Docker Hub namespace only by its capitals (`MyReg/app`) would,
                // lowercased, print as a Docker Hub name (`myreg/app`) that reads back as another image.
                guard registry.contains(where: { $0 == "." || $0 == ":" }) || registry == "localhost" else {
                    throw ImageReferenceError(
                        .invalidRegistry("\"\(String(decoding: first, as: UTF8.self))\" is a registry host only because of its capital letters; lowercased it would name a Docker Hub namespace: give the host a domain or a port"),
                        input: input)
                }
                pathStart = firstSlash + 1
            }
        }
        let pathBytes = nameBytes[pathStart..<nameBytes.endIndex]
        try validateRemoteName(pathBytes, input: input)
        var repository = String(decoding: pathBytes, as: UTF8.self)
        if registry == dockerHubRegistry, !pathBytes.contains(slash) {
            repository = "library/" + repository
        }
        let nameLength = registry.utf8.count + 1 + repository.utf8.count
        if nameLength > maximumNameLength {
            throw ImageReferenceError(.tooLong(nameLength), input: input)
        }
        return ImageReference(uncheckedRegistry: registry, repository: repository, tag: tag, digest: digest)
    }

    /// `splitDockerDomain`: contains `.` or `:`, is `localhost`, or has an uppercase letter.
    private static func isRegistryCandidate(_ component: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        for byte in component where byte == dot || byte == colon || ASCII.isUpper(byte) {
            return true
        }
        return component.elementsEqual("localhost".utf8)
    }

    private static func validateTag(_ tag: Slice<UnsafeBufferPointer<UInt8>>, input: String) throws(ImageReferenceError) {
        guard let first = tag.first else {
            throw ImageReferenceError(.emptyTag, input: input)
        }
        guard tag.count <= 128 else {
            throw ImageReferenceError(.invalidTag("longer than 128 characters"), input: input)
        }
        guard ASCII.isWord(first) else {
            throw ImageReferenceError(.invalidTag("must start with a letter, digit or underscore"), input: input)
        }
        for byte in tag where !(ASCII.isWord(byte) || byte == dot || byte == UInt8(ascii: "-")) {
            throw ImageReferenceError(.invalidTag("may contain only letters, digits, '_', '.' and '-'"), input: input)
        }
    }

    /// domain := host [":" port]; host := domain-name | IPv4 | "[" IPv6 "]".
    private static func validateRegistry(_ domain: Slice<UnsafeBufferPointer<UInt8>>, input: String) throws(ImageReferenceError) {
        var index = domain.startIndex
        let end = domain.endIndex
        if domain.first == UInt8(ascii: "[") {
            guard let close = domain.firstIndex(of: UInt8(ascii: "]")), close > index + 1 else {
                throw ImageReferenceError(.invalidRegistry("unterminated IPv6 address"), input: input)
            }
            for byte in domain[(index + 1)..<close] where !(ASCII.isHex(byte) || byte == colon) {
                throw ImageReferenceError(.invalidRegistry("invalid IPv6 address"), input: input)
            }
            index = close + 1
        } else {
            // domain-component ("." domain-component)*, each alphanumeric with inner hyphens.
            var componentStart = index
            while index < end, domain[index] != colon {
                let byte = domain[index]
                if byte == dot {
                    guard isDomainComponent(domain[componentStart..<index]) else {
                        throw ImageReferenceError(.invalidRegistry("invalid host name"), input: input)
                    }
                    componentStart = index + 1
                } else if !(ASCII.isAlphanumeric(byte) || byte == UInt8(ascii: "-")) {
                    throw ImageReferenceError(.invalidRegistry("invalid host name"), input: input)
                }
                index += 1
            }
            guard isDomainComponent(domain[componentStart..<index]) else {
                throw ImageReferenceError(.invalidRegistry("invalid host name"), input: input)
            }
        }
        if index == end { return }
        guard domain[index] == colon, index + 1 < end else {
            throw ImageReferenceError(.invalidRegistry("invalid port"), input: input)
        }
        for byte in domain[(index + 1)..<end] where !ASCII.isDigit(byte) {
            throw ImageReferenceError(.invalidRegistry("invalid port"), input: input)
        }
    }

    private static func isDomainComponent(_ component: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        guard let first = component.first, let last = component.last else { return false }
        return ASCII.isAlphanumeric(first) && ASCII.isAlphanumeric(last)
    }

    /// remote-name := path-component ("/" path-component)*;
    /// path-component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*.
    private static func validateRemoteName(_ path: Slice<UnsafeBufferPointer<UInt8>>, input: String) throws(ImageReferenceError) {
        if path.isEmpty {
            throw ImageReferenceError(.missingRepository, input: input)
        }
        for byte in path where ASCII.isUpper(byte) {
            throw ImageReferenceError(.uppercaseRepository, input: input)
        }
        var componentStart = path.startIndex
        var index = path.startIndex
        while index <= path.endIndex {
            if index == path.endIndex || path[index] == slash {
                try validatePathComponent(path[componentStart..<index], input: input)
                componentStart = index + 1
            }
            index += 1
        }
    }

    private static func validatePathComponent(_ component: Slice<UnsafeBufferPointer<UInt8>>, input: String) throws(ImageReferenceError) {
        if component.isEmpty {
            throw ImageReferenceError(.invalidRepository("empty path component (double or trailing '/')"), input: input)
        }
        // State: after an alphanumeric run (`true`) or inside a separator (`false`).
        var afterAlphanumeric = false
        var separatorByte: UInt8 = 0
        var separatorLength = 0
        for byte in component {
            if ASCII.isLower(byte) || ASCII.isDigit(byte) {
                afterAlphanumeric = true
                separatorLength = 0
                continue
            }
            let isSeparator = byte == dot || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            guard isSeparator else {
                throw ImageReferenceError(.invalidRepository("invalid character '\(Character(Unicode.Scalar(byte)))'"), input: input)
            }
            if separatorLength == 0 {
                guard afterAlphanumeric else {
                    throw ImageReferenceError(.invalidRepository("path component must start with a letter or digit"), input: input)
                }
                separatorByte = byte
                separatorLength = 1
            } else {
                // Allowed runs: "__" and any run of '-'.
                let allowed = byte == separatorByte
                    && ((byte == UInt8(ascii: "_") && separatorLength == 1) || byte == UInt8(ascii: "-"))
                guard allowed else {
                    throw ImageReferenceError(.invalidRepository("invalid separator sequence"), input: input)
                }
                separatorLength += 1
            }
            afterAlphanumeric = false
        }
        if !afterAlphanumeric {
            throw ImageReferenceError(.invalidRepository("path component must end with a letter or digit"), input: input)
        }
    }
}

/// Why an image reference or digest does not parse, per the distribution reference grammar
/// (github.com/distribution/reference). A struct over a private code so that new reasons do not
/// break callers; compare with the static values (``empty``, ``tooLong`` ...) via ``kind``.
public struct ImageReferenceError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case empty
        case tooLong(Int)
        case invalidCharacters
        case hexIdentifier
        /// `sha256:<hex>`: an image ID the runtime would run from the node's store.
        case imageID
        case missingRepository
        case uppercaseRepository
        case invalidRepository(String)
        case emptyTag
        case invalidTag(String)
        case emptyDigest
        case invalidDigest(String)
        case invalidRegistry(String)
    }

    /// The broad reason, stable across releases, for callers that branch on it.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        let name: String
        public var description: String { name }
        public static let empty = Kind(name: "empty")
        public static let tooLong = Kind(name: "tooLong")
        public static let invalidCharacters = Kind(name: "invalidCharacters")
        public static let invalidRepository = Kind(name: "invalidRepository")
        public static let uppercaseRepository = Kind(name: "uppercaseRepository")
        public static let emptyTag = Kind(name: "emptyTag")
        public static let invalidTag = Kind(name: "invalidTag")
        public static let emptyDigest = Kind(name: "emptyDigest")
        public static let invalidDigest = Kind(name: "invalidDigest")
        public static let invalidRegistry = Kind(name: "invalidRegistry")
    }

    let code: Code
    /// The text that failed to parse.
    public let input: String

    init(_ code: Code, input: String) {
        self.code = code
        self.input = input
    }

    /// The broad reason.
    public var kind: Kind {
        switch code {
        case .empty: .empty
        case .tooLong: .tooLong
        case .invalidCharacters: .invalidCharacters
        case .hexIdentifier, .imageID, .missingRepository, .invalidRepository: .invalidRepository
        case .uppercaseRepository: .uppercaseRepository
        case .emptyTag: .emptyTag
        case .invalidTag: .invalidTag
        case .emptyDigest: .emptyDigest
        case .invalidDigest: .invalidDigest
        case .invalidRegistry: .invalidRegistry
        }
    }

    /// The reason without the input, e.g. `repository name must be lowercase`.
    public var reason: String {
        switch code {
        case .empty: "reference is empty"
        case .tooLong(let length): "name is too long (\(length) characters, at most \(ImageReference.maximumNameLength))"
        case .invalidCharacters: "contains whitespace, control or non-ASCII characters"
        case .hexIdentifier: "a 64-character hexadecimal string is an image ID, not a repository name"
        case .imageID: "an image ID (sha256:…), which the container runtime runs from the node's local images without pulling it, not an image of a repository: name the image by repository and digest"
        case .missingRepository: "repository name is missing"
        case .uppercaseRepository: "repository name must be lowercase"
        case .invalidRepository(let detail): "invalid repository name: \(detail)"
        case .emptyTag: "tag is empty"
        case .invalidTag(let detail): "invalid tag: \(detail)"
        case .emptyDigest: "digest is empty"
        case .invalidDigest(let detail): "invalid digest: \(detail)"
        case .invalidRegistry(let detail): "invalid registry: \(detail)"
        }
    }

    /// `invalid image reference "Nginx": repository name must be lowercase`, the input as
    /// ``UntrustedText/shown(image:)`` shows it.
    public var description: String {
        "invalid image reference \"\(UntrustedText.shown(image: input))\": \(reason)"
    }
}
