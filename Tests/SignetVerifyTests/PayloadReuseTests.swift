import SignetRegistry
import Testing

@testable import SignetVerify

/// While a `.sig` image's layers are checked, a payload several layers share is fetched once,
/// and the payloads kept stay within a byte bound whatever the layers name.
@Suite
struct PayloadReuseTests {
    static func digest(_ byte: Character) throws -> ImageDigest {
        try ImageDigest(parsing: "sha256:" + String(repeating: byte, count: 64))
    }

    @Test
    func aSharedPayloadIsKeptUntilItsLastLayerAndOthersAreNot() throws {
        let (a, b, c) = (try Self.digest("a"), try Self.digest("b"), try Self.digest("c"))
        var reuse = PayloadReuse(digests: [a, b, a, c, a], maximumBytes: 100)
        #expect(reuse.next(a) == nil)
        reuse.keep(.success([UInt8](repeating: 1, count: 10)), for: a)
        #expect(reuse.next(b) == nil)
        reuse.keep(.success([UInt8](repeating: 2, count: 10)), for: b)
        #expect(reuse.keptCount == 1, "b comes once: it is not kept")
        #expect(try reuse.next(a)?.get() == [UInt8](repeating: 1, count: 10))
        #expect(reuse.next(c) == nil)
        reuse.keep(.success([UInt8](repeating: 3, count: 10)), for: c)
        #expect(try reuse.next(a)?.get() == [UInt8](repeating: 1, count: 10))
        #expect(reuse.keptCount == 0, "a is dropped after its last layer")
        #expect(reuse.keptBytes == 0)
    }

    @Test
    func payloadsPastTheBoundAreFetchedAgain() throws {
        let (a, b) = (try Self.digest("a"), try Self.digest("b"))
        var reuse = PayloadReuse(digests: [a, b, a, b], maximumBytes: 15)
        #expect(reuse.next(a) == nil)
        reuse.keep(.success([UInt8](repeating: 1, count: 10)), for: a)
        #expect(reuse.next(b) == nil)
        reuse.keep(.success([UInt8](repeating: 2, count: 10)), for: b)
        #expect(reuse.keptBytes == 10, "b does not fit beside a")
        #expect(reuse.next(a) != nil)
        #expect(reuse.next(b) == nil, "b is fetched again")
    }

    /// A hundred layers of distinct 1 MiB payloads, each named twice: at most the bound is kept.
    @Test
    func aHundredLargePayloadsKeepAtMostTheBound() throws {
        let digests = try (0..<100).map { index in
            let hex = String(index, radix: 16)
            return try ImageDigest(parsing: "sha256:" + String(repeating: "0", count: 64 - hex.count) + hex)
        }
        var reuse = PayloadReuse(digests: digests + digests)
        for digest in digests {
            #expect(reuse.next(digest) == nil)
            reuse.keep(.success([UInt8](repeating: 0, count: 1 << 20)), for: digest)
            #expect(reuse.keptBytes <= PayloadReuse.maximumBytes)
        }
        #expect(reuse.keptBytes == PayloadReuse.maximumBytes)
    }

    @Test
    func aLayerRefusedBeforeItsPayloadCountsAsChecked() throws {
        let a = try Self.digest("a")
        var reuse = PayloadReuse(digests: [a, a], maximumBytes: 100)
        #expect(reuse.next(a) == nil)
        reuse.keep(.success([1]), for: a)
        reuse.skip(a)
        #expect(reuse.keptCount == 0, "no layer left names a: nothing is kept for it")
    }
}
