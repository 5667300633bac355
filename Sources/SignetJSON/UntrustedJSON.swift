import Foundation

/// A gate in front of Foundation's JSON readers for documents that come from outside and are
/// read before anything trusted vouches for them: manifests, indexes and referrer lists from
/// registries, Sigstore bundles, DSSE envelopes, signature payloads, Rekor bodies, TUF metadata
/// from a Notary server, Notary Project envelopes.
///
/// Foundation's `JSONDecoder` indexes every value of a document before it decodes the few
/// members a type asks for, about 50 bytes per value, and `JSONSerialization` builds every
/// object and array, reserving room in each. A document of tiny values (`[[],[],…]`) within a
/// registry's 16 MiB blob limit took about 300 MB to read, and one verification reads several.
/// This gate counts a document's values and nesting in one pass over its bytes, without
/// building anything, and refuses it before a reader sees it when it holds more than its
/// ``Limits`` allow.
///
/// It also refuses text that is not UTF-8 as RFC 8259 section 8.1 requires: Foundation also
/// reads UTF-16 and UTF-32, in which a quote byte can hide inside another character and blind
/// a scan of the bytes. Every UTF-16 or UTF-32 text of JSON holds a NUL byte, and UTF-8 JSON
/// holds none (a NUL inside a string would have to be escaped), so a NUL byte refuses the text.
public enum UntrustedJSON {
    /// The most a document may hold.
    public struct Limits: Sendable, Hashable {
        /// Values: objects, arrays, the elements of arrays, and the names and values of members
        /// (Foundation's index holds a member's name as a value of its own).
        public var values: Int
        /// Objects and arrays.
        public var containers: Int
        /// Objects and arrays inside one another.
        public var depth: Int

        public init(values: Int, containers: Int? = nil, depth: Int = 64) {
            self.values = values
            self.containers = containers ?? values
            self.depth = depth
        }

        /// What documents from a registry or a signature server are allowed: about 5 MB of
        /// Foundation's index at most. The largest legitimate ones are referrer lists of a few
        /// thousand entries, about fifteen values each; signatures, bundles and manifests hold a
        /// few dozen to a few hundred. (TUF metadata has its own limit: `JSONParser`'s.)
        public static let registryDocument = Limits(values: 100_000)

        /// What an in-toto statement (the payload of an attestation) is allowed: the predicate
        /// of an SBOM or a scan can be a large document, up to the 12 MiB a 16 MiB envelope's
        /// base64 holds; a million values is about 50 MB of Foundation's index for a moment.
        public static let inTotoStatement = Limits(values: 1_000_000, depth: 128)

        /// What a document `JSONSerialization` reads whole is allowed: it builds every object
        /// and array, at about 1.4 KB each. Rekor entry bodies and Notary Project envelopes,
        /// headers and payloads hold a few dozen.
        public static let smallObject = Limits(values: 10_000, containers: 1_000)

        /// What an AdmissionReview that `JSONSerialization` reads whole is allowed (a Namespace's,
        /// or one of signet's own resources, object and old object with their managed fields):
        /// a large ClusterImagePolicy holds a few thousand values. A body of 8 MiB of tiny objects
        /// had grown a replica by 3 GB and held its event loop for seconds; within these limits
        /// Foundation builds at most about 15 MB.
        public static let admissionReview = Limits(values: 200_000, containers: 10_000, depth: 128)
    }

    /// Why a document was refused unread.
    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Reason: Sendable, Hashable {
            case notUTF8
            case tooManyValues(limit: Int)
            case tooManyContainers(limit: Int)
            case nestedTooDeeply(limit: Int)
            /// One object names this member twice (shown cut and escaped).
            case duplicateMember(String)
        }

        public var reason: Reason

        public var description: String {
            switch reason {
            case .notUTF8:
                "the document is not JSON in UTF-8 (it holds a NUL byte); it was refused unread"
            case .tooManyValues(let limit):
                "the document holds more than \(limit) JSON values (objects, arrays, elements, member names and values); it was refused unread"
            case .tooManyContainers(let limit):
                "the document holds more than \(limit) JSON objects and arrays; it was refused unread"
            case .nestedTooDeeply(let limit):
                "the document nests JSON objects and arrays more than \(limit) deep; it was refused unread"
            case .duplicateMember(let name):
                "an object of the document names the member \"\(name)\" twice, which JSON readers resolve differently (Foundation's JSONDecoder keeps the first, JSONSerialization and Go the last); it was refused unread"
            }
        }
    }

    /// Throws a ``Refusal`` when `bytes` exceed `limits` or are not UTF-8. Malformed JSON within
    /// the limits passes: the reader that follows says what is wrong with it.
    ///
    /// It also refuses an object that names a member twice: RFC 8259 §4 leaves the meaning to
    /// the reader, and readers differ (Foundation's `JSONDecoder` keeps the first, its
    /// `JSONSerialization` and Go the last), so a signed document could say one thing to its
    /// signer's tools and another to signet. Names are compared with their escapes resolved, and
    /// as the readers after the gate compare them: Swift's strings, the keys of what Foundation
    /// builds, take canonically equivalent names as one (`"\u212A"`, KELVIN SIGN, and `"K"`),
    /// where Go keeps two.
    public static func check(_ bytes: UnsafeBufferPointer<UInt8>, limits: Limits) throws(Refusal) {
        var containers = 0
        // Commas and colons: with the containers and one, the values.
        var separators = 0
        var depth = 0
        var index = 0
        let count = bytes.count
        // The containers open, innermost last: an object's member names so far (as strings: see
        // above); nil for an array.
        var open: [Set<String>?] = []
        while index < count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let start = index + 1
                index = endOfString(bytes, after: start)
                if index < 0 { throw Refusal(reason: .notUTF8) }
                // A member name: a closed string in an object, followed by a colon.
                if let last = open.indices.last, open[last] != nil, index <= count, index > start, bytes[index - 1] == UInt8(ascii: "\""),
                   isFollowedByColon(bytes, index) {
                    let name = String(decoding: memberName(bytes, start..<(index - 1)), as: UTF8.self)
                    if open[last]!.insert(name).inserted == false {
                        throw Refusal(reason: .duplicateMember(shownName(name)))
                    }
                }
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                containers += 1
                depth += 1
                if containers > limits.containers { throw Refusal(reason: .tooManyContainers(limit: limits.containers)) }
                if depth > limits.depth { throw Refusal(reason: .nestedTooDeeply(limit: limits.depth)) }
                if containers + separators >= limits.values { throw Refusal(reason: .tooManyValues(limit: limits.values)) }
                open.append(byte == UInt8(ascii: "{") ? [] : nil)
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                // A closer with nothing open is malformed; the reader after the gate says so.
                depth = max(0, depth - 1)
                if !open.isEmpty { open.removeLast() }
            case UInt8(ascii: ","), UInt8(ascii: ":"):
                separators += 1
                if containers + separators >= limits.values { throw Refusal(reason: .tooManyValues(limit: limits.values)) }
            case 0:
                throw Refusal(reason: .notUTF8)
            default:
                break
            }
            index += 1
        }
    }

    /// As ``check(_:limits:)-(UnsafeBufferPointer<UInt8>,_)``, for bytes in an array.
    public static func check(_ bytes: [UInt8], limits: Limits = .registryDocument) throws(Refusal) {
        let result: Result<Void, Refusal> = bytes.withUnsafeBufferPointer { buffer in
            do throws(Refusal) { try check(buffer, limits: limits); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// `type` decoded from `bytes` by Foundation's `JSONDecoder`, once ``check(_:limits:)-([UInt8],_)``
    /// let them through; throws its ``Refusal`` or the decoder's error.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], limits: Limits = .registryDocument) throws -> T {
        try check(bytes, limits: limits)
        // Read in place: a copy into `Data` would double a 16 MiB envelope for the decode.
        return try bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return try JSONDecoder().decode(type, from: Data()) }
            let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: buffer.count, deallocator: .none)
            return try JSONDecoder().decode(type, from: data)
        }
    }

    /// The value Foundation's `JSONSerialization` reads from `bytes`, once
    /// ``check(_:limits:)-([UInt8],_)`` let them through; throws its ``Refusal`` or the reader's error.
    public static func object(_ bytes: [UInt8], limits: Limits = .smallObject) throws -> Any {
        try check(bytes, limits: limits)
        return try JSONSerialization.jsonObject(with: Data(bytes))
    }

    /// Whether the first byte after `index` that is not whitespace is a colon.
    @inline(__always)
    private static func isFollowedByColon(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> Bool {
        var next = index
        while next < bytes.count, bytes[next] == 0x20 || bytes[next] == 0x0A || bytes[next] == 0x0D || bytes[next] == 0x09 { next += 1 }
        return next < bytes.count && bytes[next] == UInt8(ascii: ":")
    }

    /// The UTF-8 of a member name whose content is `range`, escapes resolved (RFC 8259 §7), so
    /// that `"a"` and `"\u0061"` are one name. A malformed escape is kept as written: the reader
    /// after the gate refuses the document anyway.
    private static func memberName(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [UInt8] {
        guard bytes[range].contains(UInt8(ascii: "\\")) else { return Array(bytes[range]) }
        var name: [UInt8] = []
        var index = range.lowerBound
        func hex(_ at: Int) -> UInt32? {
            guard at + 4 <= range.upperBound else { return nil }
            var value: UInt32 = 0
            for byte in bytes[at..<(at + 4)] {
                guard let digit = Character(Unicode.Scalar(byte)).hexDigitValue else { return nil }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while index < range.upperBound {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\"), index + 1 < range.upperBound else {
                name.append(byte)
                index += 1
                continue
            }
            let escaped = bytes[index + 1]
            switch escaped {
            case UInt8(ascii: "b"): name.append(0x08); index += 2
            case UInt8(ascii: "f"): name.append(0x0C); index += 2
            case UInt8(ascii: "n"): name.append(0x0A); index += 2
            case UInt8(ascii: "r"): name.append(0x0D); index += 2
            case UInt8(ascii: "t"): name.append(0x09); index += 2
            case UInt8(ascii: "u"):
                guard var code = hex(index + 2) else {
                    name.append(contentsOf: bytes[index..<(index + 2)])
                    index += 2
                    continue
                }
                index += 6
                if (0xD800...0xDBFF).contains(code), index + 6 <= range.upperBound, bytes[index] == UInt8(ascii: "\\"),
                   bytes[index + 1] == UInt8(ascii: "u"), let low = hex(index + 2), (0xDC00...0xDFFF).contains(low) {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                }
                name.append(contentsOf: Array(String(Unicode.Scalar(code).map(Character.init) ?? "\u{FFFD}").utf8))
            default:
                // \" \\ \/ stand for themselves.
                name.append(escaped)
                index += 2
            }
        }
        return name
    }

    /// A member name as a refusal shows it: at most 64 characters, control characters escaped.
    private static func shownName(_ text: String) -> String {
        let shown = text.unicodeScalars.prefix(64).map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
        return text.unicodeScalars.count > 64 ? shown + "…" : shown
    }

    /// The index just past the closing quote of the string whose content starts at `start`
    /// (the end of the bytes for an unterminated one), or -1 when the string holds a NUL byte.
    @inline(__always)
    private static func endOfString(_ bytes: UnsafeBufferPointer<UInt8>, after start: Int) -> Int {
        var index = start
        while true {
            index = JSONStringBytes.endOfPlainRun(bytes, from: index)
            guard index < bytes.count else { return bytes.count }
            switch bytes[index] {
            case UInt8(ascii: "\""): return index + 1
            case UInt8(ascii: "\\"):
                // The escaped byte is skipped, but not a NUL: it is never escaped in UTF-8 JSON.
                if index + 1 < bytes.count && bytes[index + 1] == 0 { return -1 }
                index += 2
            case 0: return -1
            default: index += 1  // another control byte: malformed, which the reader after the gate says
            }
        }
    }
}
