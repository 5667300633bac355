import NIOConcurrencyHelpers

/// A text the verification cache keeps (a reason or a step's detail), made compact for a cache
/// that holds 100,000 verdicts.
///
/// Most texts of a verdict repeat the image they are about: the digest's hexadecimal digits and
/// the repository (`<repository>:sha256-<hex>.sig does not exist`, `no Sigstore bundle refers to
/// sha256:<hex>`). Those are kept as one-scalar markers from Unicode's private use area and put
/// back when the text is read, so one outcome for many images is one text, which ``TextPool``
/// keeps once. The cache key holds the digest and the repository, so nothing is lost.
///
/// Exact by construction: a text is kept with markers only when putting them back gives the
/// text as it was, and never when the text, the digest or the repository already holds a
/// marker scalar; otherwise it is kept as written.
struct CachedText: Sendable, Hashable {
    private enum Storage: Sendable, Hashable {
        case plain(String)
        case template(String)
    }

    /// Stands for the digest's encoded (hexadecimal) part.
    static let digestMarker: Unicode.Scalar = "\u{E001}"
    /// Stands for the repository (`registry/repository`).
    static let repositoryMarker: Unicode.Scalar = "\u{E002}"

    private let storage: Storage

    /// `text` about the image `repository@<algorithm>:digestHex`, with its repeats of both
    /// replaced by markers where that is exact; the kept text comes from `pool`.
    init(_ text: String, digestHex: String, repository: String, pool: TextPool) {
        guard !digestHex.isEmpty, !repository.isEmpty, !Self.holdsMarker(text), !Self.holdsMarker(digestHex),
            !Self.holdsMarker(repository)
        else {
            storage = .plain(pool.intern(text))
            return
        }
        var template = text
        if template.contains(digestHex) {
            template = template.replacing(digestHex, with: String(Self.digestMarker))
        }
        if template.contains(repository) {
            template = template.replacing(repository, with: String(Self.repositoryMarker))
        }
        if template != text, Self.expand(template, digestHex: digestHex, repository: repository) == text {
            storage = .template(pool.intern(template))
        } else {
            storage = .plain(pool.intern(text))
        }
    }

    /// The text as it was given, for the image whose digest and repository it was kept with.
    func text(digestHex: String, repository: String) -> String {
        switch storage {
        case .plain(let text): text
        case .template(let template): Self.expand(template, digestHex: digestHex, repository: repository)
        }
    }

    /// Whether the text is kept with markers (for tests).
    var isTemplate: Bool {
        if case .template = storage { return true }
        return false
    }

    private static func expand(_ template: String, digestHex: String, repository: String) -> String {
        let scalars = template.unicodeScalars
        var result = String()
        result.reserveCapacity(template.utf8.count + 2 * max(digestHex.utf8.count, repository.utf8.count))
        var start = scalars.startIndex
        var index = start
        while index < scalars.endIndex {
            let scalar = scalars[index]
            if scalar == digestMarker || scalar == repositoryMarker {
                result.unicodeScalars.append(contentsOf: scalars[start..<index])
                result += scalar == digestMarker ? digestHex : repository
                index = scalars.index(after: index)
                start = index
            } else {
                index = scalars.index(after: index)
            }
        }
        result.unicodeScalars.append(contentsOf: scalars[start...])
        return result
    }

    private static func holdsMarker(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0 == digestMarker || $0 == repositoryMarker }
    }
}

/// One copy of each text the verification cache keeps: the same reason for every unsigned
/// image of a repository, the same signer for every image one key signed, the same repository
/// in every key.
///
/// Bounded: when it holds ``capacity`` texts it starts again empty (texts already shared stay
/// shared; only later ones are no longer matched with them), so texts an attacker can vary
/// (registry errors, image names) cannot grow it.
final class TextPool: Sendable {
    let capacity: Int
    private let texts: NIOLockedValueBox<Set<String>>

    init(capacity: Int = 4096) {
        self.capacity = max(1, capacity)
        texts = NIOLockedValueBox([])
    }

    /// The pool's copy of `text` (which shares its storage), `text` itself when it is new.
    /// Texts of 15 bytes or fewer are stored inside the string value itself and are not kept.
    func intern(_ text: String) -> String {
        guard text.utf8.count > 15 else { return text }
        return texts.withLockedValue { texts in
            if let index = texts.firstIndex(of: text) { return texts[index] }
            if texts.count >= capacity { texts.removeAll(keepingCapacity: true) }
            texts.insert(text)
            return text
        }
    }

    /// Texts held (for tests).
    var count: Int { texts.withLockedValue { $0.count } }
}
