#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import SignetRegistry

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
        var replaced = false
        if let marked = Self.replacing(digestHex, in: template, withMarkerEndingIn: Self.digestMarkerByte) {
            template = marked
            replaced = true
        }
        if let marked = Self.replacing(repository, in: template, withMarkerEndingIn: Self.repositoryMarkerByte) {
            template = marked
            replaced = true
        }
        // Byte for byte (String's == compares canonical equivalence, which could take a
        // differently encoded text for the one given); exact by construction, checked anyway.
        if replaced, Self.expand(template, digestHex: digestHex, repository: repository).utf8.elementsEqual(text.utf8) {
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

    /// The text as kept, markers and all (for tests).
    var kept: String {
        switch storage {
        case .plain(let text), .template(let text): text
        }
    }

    /// `template` with each marker replaced by what it stands for. On UTF-8 bytes: a marker is
    /// the three-byte sequence `EE 80 81` or `EE 80 82`, and UTF-8 is self-synchronising (a lead
    /// byte such as `EE` never occurs inside another scalar's encoding), so a byte scan finds
    /// exactly the marker scalars. A cached verdict's texts are expanded on every warm review.
    static func expand(_ template: String, digestHex: String, repository: String) -> String {
        let original = template
        var template = template
        var digestHex = digestHex
        var repository = repository
        return template.withUTF8 { text in
            digestHex.withUTF8 { digest in
                repository.withUTF8 { repository in
                    let markers = markerCount(text)
                    guard markers > 0 else { return original }
                    let capacity = text.count + markers * max(digest.count, repository.count)
                    return String(unsafeUninitializedCapacity: capacity) { output in
                        var written = 0
                        func copy(_ bytes: UnsafeBufferPointer<UInt8>) {
                            guard let source = bytes.baseAddress, let target = output.baseAddress, !bytes.isEmpty else { return }
                            (target + written).initialize(from: source, count: bytes.count)
                            written += bytes.count
                        }
                        var start = 0
                        forEachMarker(text) { index, stands in
                            copy(UnsafeBufferPointer(rebasing: text[start..<index]))
                            copy(stands == digestMarkerByte ? digest : repository)
                            start = index + 3
                        }
                        copy(UnsafeBufferPointer(rebasing: text[start...]))
                        return written
                    }
                }
            }
        }
    }

    /// `text` with every occurrence of `needle`'s UTF-8 bytes, left to right and not
    /// overlapping, replaced by the marker `EE 80 <last>`; nil when there is none. On bytes, so
    /// a match is exactly the bytes the marker stands for (String's own `replacing` matches by
    /// canonical equivalence and whole characters). A valid UTF-8 needle can only match at a
    /// scalar boundary of valid UTF-8 text, so the result is valid UTF-8.
    private static func replacing(_ needle: String, in text: String, withMarkerEndingIn last: UInt8) -> String? {
        var text = text
        var needle = needle
        return text.withUTF8 { text -> String? in
            needle.withUTF8 { needle -> String? in
                guard let base = text.baseAddress, let pattern = needle.baseAddress, !needle.isEmpty else { return nil }
                var output: [UInt8] = []
                var start = 0
                var index = start
                while index + needle.count <= text.count {
                    // The next byte that starts the needle (memchr), then the rest compared.
                    guard let found = memchr(base + index, Int32(needle[0]), text.count - needle.count + 1 - index) else { break }
                    index = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                    guard memcmp(base + index, pattern, needle.count) == 0 else {
                        index += 1
                        continue
                    }
                    if output.isEmpty { output.reserveCapacity(text.count) }
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: text[start..<index]))
                    output.append(contentsOf: [0xEE, 0x80, last])
                    start = index + needle.count
                    index = start
                }
                guard start > 0 else { return nil }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: text[start...]))
                return String(decoding: output, as: UTF8.self)
            }
        }
    }

    /// The last byte of ``digestMarker``'s UTF-8 encoding (`EE 80 81`). Literal, as it is read
    /// for every marker; `expandingPutsBackExactlyWhatEachMarkerStandsFor` checks the bytes
    /// against the scalars.
    private static let digestMarkerByte: UInt8 = 0x81
    /// The last byte of ``repositoryMarker``'s UTF-8 encoding (`EE 80 82`).
    private static let repositoryMarkerByte: UInt8 = 0x82

    /// The last byte of the marker whose encoding starts at `index`, or nil.
    @inline(__always)
    private static func markerByte(_ text: UnsafeBufferPointer<UInt8>, at index: Int) -> UInt8? {
        // Both markers start `EE 80` (U+E000 to U+E03F do).
        guard index + 2 < text.count, text[index] == 0xEE, text[index + 1] == 0x80 else { return nil }
        let last = text[index + 2]
        return last == digestMarkerByte || last == repositoryMarkerByte ? last : nil
    }

    /// The index of the next `EE` byte (a marker's first) at or after `index`, or the end.
    @inline(__always)
    private static func nextCandidate(_ text: UnsafeBufferPointer<UInt8>, from index: Int) -> Int {
        guard index < text.count, let base = text.baseAddress,
              let found = memchr(base + index, 0xEE, text.count - index)
        else { return text.count }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    /// Calls `body` with the index and last byte of each marker in `text`, in order.
    @inline(__always)
    private static func forEachMarker(_ text: UnsafeBufferPointer<UInt8>, _ body: (_ index: Int, _ stands: UInt8) -> Void) {
        var index = nextCandidate(text, from: 0)
        while index < text.count {
            if let stands = markerByte(text, at: index) {
                body(index, stands)
                index = nextCandidate(text, from: index + 3)
            } else {
                index = nextCandidate(text, from: index + 1)
            }
        }
    }

    private static func markerCount(_ text: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        forEachMarker(text) { _, _ in count += 1 }
        return count
    }

    private static func holdsMarker(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { markerCount($0) > 0 }
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
    /// Kept by their bytes (``ExactText``): String's own equality is canonical equivalence,
    /// under which `café` written precomposed and decomposed are one text, and the pool would hand
    /// back other bytes than it was given.
    private let texts: NIOLockedValueBox<Set<ExactText>>

    init(capacity: Int = 4096) {
        self.capacity = max(1, capacity)
        texts = NIOLockedValueBox([])
    }

    /// The pool's copy of `text` (the same bytes, sharing one storage), `text` itself when it
    /// is new. Texts of 15 bytes or fewer are stored inside the string value itself and are not
    /// kept.
    func intern(_ text: String) -> String {
        guard text.utf8.count > 15 else { return text }
        let exact = ExactText(text)
        return texts.withLockedValue { texts in
            if let index = texts.firstIndex(of: exact) { return texts[index].text }
            if texts.count >= capacity { texts.removeAll(keepingCapacity: true) }
            texts.insert(exact)
            return text
        }
    }

    /// Texts held (for tests).
    var count: Int { texts.withLockedValue { $0.count } }
}
