import SignetPolicy
import SignetRegistry
import SignetTestSupport
import Testing

@testable import SignetVerify

/// A verifier double that fails as cosign's key verifier does for an unsigned image: its reason
/// and steps name the signature tag derived from the digest and the repository.
private struct UnsignedImageVerifier: SignatureVerifier {
    var format: SignatureFormat { SignatureFormat("test") }

    func handles(_ authority: CompiledAuthority) -> Bool { true }

    func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
        let artifact = "\(request.image.name):sha256-\(request.digest.encoded).sig"
        return VerificationResult(
            image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
            format: format, passed: false,
            reason: "no cosign signatures: \(artifact) does not exist; no Sigstore bundle refers to \(request.digest)",
            failure: .noSignatures,
            steps: [
                VerificationStep(name: "signature artifact", passed: false, detail: "\(artifact) does not exist"),
                VerificationStep(name: "bundle referrers", passed: false, detail: "0 referrer(s) of \(request.digest)"),
            ])
    }
}

@Suite("Cached verdict texts")
struct CachedTextTests {
    let hex = String(repeating: "0123456789abcdef", count: 4)
    let repository = "registry.example:5000/team/app"

    func roundTrip(_ text: String, hex: String? = nil, repository: String? = nil) -> (String, CachedText) {
        let hex = hex ?? self.hex
        let repository = repository ?? self.repository
        let kept = CachedText(text, digestHex: hex, repository: repository, pool: TextPool())
        return (kept.text(digestHex: hex, repository: repository), kept)
    }

    @Test func textsNamingTheImageAreKeptWithMarkersAndReadBackExactly() {
        let texts = [
            "\(repository):sha256-\(hex).sig does not exist",
            "no Sigstore bundle refers to sha256:\(hex) in \(repository) (\(repository)@sha256:\(hex))",
            "\(hex)\(hex)\(repository)\(repository)",
        ]
        for text in texts {
            let (back, kept) = roundTrip(text)
            #expect(Array(back.utf8) == Array(text.utf8))
            #expect(kept.isTemplate)
        }
        // Read back for another image, the markers become that image's digest and repository.
        let kept = CachedText(texts[0], digestHex: hex, repository: repository, pool: TextPool())
        #expect(kept.text(digestHex: "ff", repository: "other/repo") == "other/repo:sha256-ff.sig does not exist")
    }

    @Test func textsThatCannotBeKeptExactlyWithMarkersAreKeptAsWritten() {
        let marker = String(CachedText.digestMarker)
        let cases: [(String, String?, String?)] = [
            ("signed by publicKeys[0]", nil, nil),
            ("", nil, nil),
            // A text that already holds a marker scalar (untrusted text from a registry).
            ("\(marker) names \(hex)", nil, nil),
            ("\(String(CachedText.repositoryMarker))\(repository)", nil, nil),
            // A digest or repository holding a marker scalar.
            ("\(repository) at \(hex)", "ab\(marker)", nil),
            ("\(repository) at \(hex)", nil, "a/\(marker)"),
            // An empty digest or repository matches everywhere.
            ("\(repository) at \(hex)", "", nil),
            ("\(repository) at \(hex)", nil, ""),
            // The repository written precomposed, the text holding it decomposed: equal as
            // Strings (canonical equivalence), different bytes; read back byte for byte.
            ("reg.example/cafe\u{301}", nil, "reg.example/caf\u{E9}"),
        ]
        for (text, hex, repository) in cases {
            let (back, kept) = roundTrip(text, hex: hex, repository: repository)
            #expect(Array(back.utf8) == Array(text.utf8))
            #expect(!kept.isTemplate)
        }
        // The same with the digest in the text: the digest is marked, the repository's other
        // bytes are not, and the text reads back byte for byte.
        let text = "reg.example/cafe\u{301} at \(hex)"
        let (back, kept) = roundTrip(text, hex: nil, repository: "reg.example/caf\u{E9}")
        #expect(Array(back.utf8) == Array(text.utf8))
        #expect(kept.isTemplate)
        #expect(Array(kept.text(digestHex: "", repository: "reg.example/caf\u{E9}").utf8) == Array("reg.example/cafe\u{301} at ".utf8))
    }

    /// Texts assembled from the digest, the repository, overlapping pieces of both, marker
    /// scalars and other text, in a long deterministic run: every one reads back exactly.
    /// The marks are where a plain byte-by-byte scan puts them: every occurrence of the digest,
    /// left to right and not overlapping, then of the repository in what is left, at the start,
    /// at the end, back to back, as the whole text, in texts shorter than the needle, in texts
    /// short enough to be stored inside the string value.
    @Test func marksAreWhereAByteByByteScanPutsThem() {
        func marked(_ text: [UInt8], _ needle: [UInt8], _ last: UInt8) -> [UInt8] {
            var output: [UInt8] = []
            var index = 0
            while index < text.count {
                if index + needle.count <= text.count, Array(text[index..<(index + needle.count)]) == needle {
                    output += [0xEE, 0x80, last]
                    index += needle.count
                } else {
                    output.append(text[index])
                    index += 1
                }
            }
            return output
        }
        let digests = ["a", "aa", "ab", "ba", "aab", "abab"]
        let repositories = ["b", "a/b", "b/", "ab/a", "/"]
        var generator = SeededGenerator(seed: 0x5EED_CAFE)
        for round in 0..<4000 {
            let digest = digests[round % digests.count]
            let repository = repositories[(round / digests.count) % repositories.count]
            let length = Int.random(in: 0...24, using: &generator)
            let text = String((0..<length).map { _ in "ab/:".randomElement(using: &generator)! })
            let expected = marked(marked(Array(text.utf8), Array(digest.utf8), 0x81), Array(repository.utf8), 0x82)
            let kept = CachedText(text, digestHex: digest, repository: repository, pool: TextPool())
            #expect(Array(kept.kept.utf8) == expected, "\(text) with \(digest) and \(repository)")
            #expect(kept.isTemplate == (expected != Array(text.utf8)))
            #expect(Array(kept.text(digestHex: digest, repository: repository).utf8) == Array(text.utf8))
        }
    }

    @Test func everyTextReadsBackExactly() {
        let repositories = [repository, "r/\(hex.prefix(8))", "\(hex.prefix(20))/x", "a/b", "caf\u{E9}/x"]
        let pieces = [
            hex, String(hex.prefix(10)), String(hex.suffix(30)), ":", "sha256-", " ", "é", "\u{E001}", "\u{E002}", "\u{E000}", "/",
            "a", "b", "registry.example:5000/", "team/app", "0123", "cafe\u{301}/x", "e\u{301}",
        ]
        var generator = SeededGenerator(seed: 0x5EED)
        for round in 0..<4_000 {
            let repository = repositories[round % repositories.count]
            var text = ""
            for _ in 0..<Int.random(in: 0...8, using: &generator) {
                text += Bool.random(using: &generator) ? repository : pieces.randomElement(using: &generator)!
            }
            let (back, _) = roundTrip(text, repository: repository)
            let exact = Array(back.utf8) == Array(text.utf8)
            #expect(exact, "round \(round): \(text.debugDescription)")
            if !exact { return }
        }
    }

    /// `expand` against a reference that replaces marker scalars one by one, over templates of
    /// markers, other private-use scalars whose UTF-8 also starts with `EE`, and text, read back
    /// with digests and repositories longer or shorter than the texts were kept with (and
    /// holding `EE`-led scalars themselves, which are copied, never expanded again).
    @Test func expandingPutsBackExactlyWhatEachMarkerStandsFor() {
        func reference(_ template: String, _ digest: String, _ repository: String) -> String {
            var result = ""
            for scalar in template.unicodeScalars {
                if scalar == CachedText.digestMarker {
                    result += digest
                } else if scalar == CachedText.repositoryMarker {
                    result += repository
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
            return result
        }
        let pieces = ["\u{E001}", "\u{E002}", "\u{E000}", "\u{E003}", "\u{E041}", "\u{E081}", "é", "e\u{301}", "a", ":", "/", "sha256-", " "]
        let digests = ["", "ab", hex, hex + hex, "\u{E001}"]
        let repositories = ["", "r", repository, String(repeating: "long/", count: 60) + "app", "\u{E000}/x", "\u{E002}y", "caf\u{E9}"]
        var generator = SeededGenerator(seed: 0xE001)
        for round in 0..<4_000 {
            var template = ""
            for _ in 0..<Int.random(in: 0...10, using: &generator) { template += pieces.randomElement(using: &generator)! }
            let digest = digests.randomElement(using: &generator)!
            let repository = repositories.randomElement(using: &generator)!
            let expanded = CachedText.expand(template, digestHex: digest, repository: repository)
            let expected = reference(template, digest, repository)
            let exact = Array(expanded.utf8) == Array(expected.utf8)
            #expect(exact, "round \(round): \(template.debugDescription) with \(digest.debugDescription), \(repository.debugDescription)")
            if !exact { return }
        }
    }

    /// A pool holding a text gives back that text only for the same bytes: a canonically
    /// equivalent text written otherwise is kept as given.
    @Test func thePoolGivesBackTheBytesItWasGiven() {
        let pool = TextPool()
        let precomposed = "signed by someone at caf\u{E9}.example"
        let decomposed = "signed by someone at cafe\u{301}.example"
        #expect(precomposed == decomposed)  // String equality is canonical equivalence
        _ = pool.intern(precomposed)
        #expect(Array(pool.intern(decomposed).utf8) == Array(decomposed.utf8))
        #expect(Array(pool.intern(precomposed).utf8) == Array(precomposed.utf8))
        #expect(pool.count == 2)
    }

    @Test func thePoolKeepsOneCopyAndStaysWithinItsCapacity() {
        let pool = TextPool(capacity: 64)
        let first = pool.intern(String("a text long enough to be stored apart".utf8))
        let second = pool.intern(String("a text long enough to be stored apart".utf8))
        #expect(first == second)
        #expect(pool.count == 1)
        for index in 0..<1_000 { _ = pool.intern("distinct text number \(index) from a registry") }
        #expect(pool.count <= 64)
        #expect(pool.count > 0)
    }

    /// Many unsigned images of one repository: each verdict read from the cache says exactly
    /// what the verification said, and the texts of all of them are kept once.
    @Test func cachedVerdictsOfManyImagesShareTheirTextsAndReadBackExactly() async throws {
        let client = try RegistryClient()
        let engine = VerificationEngine(registry: client, verifiers: [UnsignedImageVerifier()], clock: ManualClock().clock)
        let authority = keyAuthority([try trustedKey(file: ConnaisseurVectors.keyFile("alice"))])
        var generator = SeededGenerator(seed: 7)
        for index in 0..<200 {
            let digest = try ImageDigest(parsing: "sha256:" + (0..<64).map { _ in String(Int.random(in: 0..<16, using: &generator), radix: 16) }.joined())
            let image = try ImageReference(parsing: "registry.example:5000/team/app\(index % 2)@\(digest)")
            let verified = try await engine.verify(image: image, authority: authority, policy: "p", revision: "1", deadline: deadline())
            #expect(verified.cache == .miss)
            let again = try await engine.verify(image: image, authority: authority, policy: "p", revision: "1", deadline: deadline())
            #expect(again.cache == .hit)
            #expect(again.reason == verified.reason)
            #expect(again.reason.contains("registry.example:5000/team/app\(index % 2):sha256-\(digest.encoded).sig"))
            #expect(Array(again.steps.dropFirst(2)) == Array(verified.steps.dropFirst(1)))
        }
        // Two repositories, one reason, two step details, two step names: a handful of texts, not 200 of each.
        #expect(engine.texts.count <= 8)
    }
}
