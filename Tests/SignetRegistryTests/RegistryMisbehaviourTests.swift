import Foundation
import SignetCrypto
@testable import SignetRegistry
import SignetTestSupport
import Testing

/// Registry behaviour a real registry will not show, served by a scripted local server: lying
/// manifests, retryable answers, oversized bodies, the referrers API, slow answers.
struct RegistryMisbehaviourTests {
    typealias Response = RegistryStubServer.Response

    static let manifestBytes = Array("""
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\(String(repeating: "1", count: 64))","size":2},"layers":[]}
        """.utf8)
    static let manifestDigest = "sha256:" + DigestAlgorithm.sha256.hexHash(manifestBytes)
    static let otherDigest = "sha256:" + String(repeating: "b", count: 64)

    static func makeClient(_ stub: RegistryStubServer, configuration: RegistryClientConfiguration = RegistryClientConfiguration()) throws -> RegistryClient {
        var configuration = configuration
        configuration.allowInsecureRegistries.insert(stub.host)
        return try RegistryClient(configuration: configuration)
    }

    static func manifestResponse(status: Int = 200, digestHeader: String? = nil, body: [UInt8] = manifestBytes) -> Response {
        var headers = ["Content-Type": MediaType.ociManifest]
        if let digestHeader { headers["Docker-Content-Digest"] = digestHeader }
        return Response(status: status, headers: headers, body: body)
    }

    @Test func manifestWhoseBytesDoNotMatchTheDigestIsRejected() async throws {
        let stub = try await RegistryStubServer.start(routes: [
            "GET /v2/demo/app/manifests/\(Self.otherDigest)": [Self.manifestResponse(digestHeader: Self.otherDigest)],
            "GET /v2/demo/app/manifests/v1": [Self.manifestResponse(digestHeader: Self.otherDigest)],
            "GET /v2/demo/app/blobs/\(Self.otherDigest)": [Response(body: Array("not the blob".utf8))],
        ])
        let client = try Self.makeClient(stub)
        defer { client.shutdown() }

        let byDigest = try TestImages.reference("\(stub.host)/demo/app@\(Self.otherDigest)")
        let error = await #expect(throws: RegistryError.self) {
            try await client.manifest(byDigest, deadline: TestImages.deadline())
        }
        #expect(error?.kind == .digestMismatch)
        #expect(error?.description.contains(Self.otherDigest) == true)

        // By tag, a Docker-Content-Digest that disagrees with the bytes is a lie too.
        let byTag = try TestImages.reference("\(stub.host)/demo/app:v1")
        let tagError = await #expect(throws: RegistryError.self) {
            try await client.manifest(byTag, deadline: TestImages.deadline())
        }
        #expect(tagError?.kind == .digestMismatch)

        let blobError = await #expect(throws: RegistryError.self) {
            try await client.blob(try ImageDigest(parsing: Self.otherDigest), in: byTag, deadline: TestImages.deadline())
        }
        #expect(blobError?.kind == .digestMismatch)
    }

    /// A registry's error words reach deny messages a terminal shows: escape sequences (C0 and
    /// C1 controls) and bidirectional overrides are shown as `?`, and the words are cut short.
    @Test func aRegistrysErrorWordsArePrintableAndShort() async throws {
        let words = "nope \u{1B}[2J\u{9B}31m\u{202E}evil\u{2028}\u{200F}" + String(repeating: "x", count: 10_000)
        let body = try JSONSerialization.data(withJSONObject: ["errors": [["code": "DENIED", "message": words]]])
        let stub = try await RegistryStubServer.start(routes: [
            "GET /v2/demo/app/manifests/v1": [Response(status: 403, headers: ["Content-Type": "application/json"], body: Array(body))],
            "HEAD /v2/demo/app/manifests/v1": [Response(status: 403)],
        ])
        let client = try Self.makeClient(stub)
        defer { client.shutdown() }
        let error = await #expect(throws: RegistryError.self) {
            try await client.manifest(try TestImages.reference("\(stub.host)/demo/app:v1"), deadline: TestImages.deadline())
        }
        let description = try #require(error?.description)
        #expect(description.contains("DENIED: nope ?[2J?31m?evil??x"), "\(description)")
        #expect(!description.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x9B || $0.value == 0x202E }, "\(description)")
        #expect(description.utf8.count < 2_000, "\(description.utf8.count) bytes")
    }

    @Test func headWithoutDigestFallsBackToGet() async throws {
        let stub = try await RegistryStubServer.start(routes: [
            "HEAD /v2/demo/app/manifests/v1": [Response(status: 200, headers: ["Content-Type": MediaType.ociManifest])],
            "GET /v2/demo/app/manifests/v1": [Self.manifestResponse()],
        ])
        let client = try Self.makeClient(stub)
        defer { client.shutdown() }
        let (resolved, requests) = try await RegistryRequestCounter.counting {
            try await client.resolve(try TestImages.reference("\(stub.host)/demo/app:v1"), deadline: TestImages.deadline())
        }
        #expect(resolved.digest.description == Self.manifestDigest)
        #expect(requests == 2)
    }

    @Test func retryableAnswersAreRetriedHonouringRetryAfter() async throws {
        let stub = try await RegistryStubServer.start(routes: [
            "HEAD /v2/demo/app/manifests/v1": [
                Response(status: 503, headers: ["Retry-After": "0"]),
                Response(status: 429, headers: ["Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"]),
                Self.manifestResponse(digestHeader: Self.manifestDigest),
            ],
            "HEAD /v2/demo/app/manifests/v2": [Response(status: 500)],
            "HEAD /v2/demo/app/manifests/v3": [Response(status: 503, headers: ["Retry-After": "3600"])],
        ])
        let client = try Self.makeClient(stub)
        defer { client.shutdown() }

        let (resolved, requests) = try await RegistryRequestCounter.counting {
            try await client.resolve(try TestImages.reference("\(stub.host)/demo/app:v1"), deadline: TestImages.deadline())
        }
        #expect(resolved.digest.description == Self.manifestDigest)
        #expect(requests == 3)

        // 500 is not retryable.
        let (_, failedRequests) = await RegistryRequestCounter.counting {
            await #expect(throws: RegistryError.self) {
                try await client.resolve(try TestImages.reference("\(stub.host)/demo/app:v2"), deadline: TestImages.deadline())
            }
        }
        #expect(failedRequests == 1)

        // A Retry-After past the deadline ends the call at once instead of waiting.
        let (error, laterRequests) = await RegistryRequestCounter.counting {
            await #expect(throws: RegistryError.self) {
                try await client.resolve(try TestImages.reference("\(stub.host)/demo/app:v3"), deadline: TestImages.deadline(10))
            }
        }
        #expect(laterRequests == 1)
        #expect(error?.kind == .connectionFailed)
    }

    @Test func droppedConnectionsAreRetried() async throws {
        let stub = try await RegistryStubServer.start(routes: [
            "HEAD /v2/demo/app/manifests/v1": [Response(status: 0), Self.manifestResponse(digestHeader: Self.manifestDigest)],
        ])
        let client = try Self.makeClient(stub)
        defer { client.shutdown() }
        let (resolved, requests) = try await RegistryRequestCounter.counting {
            try await client.resolve(try TestImages.reference("\(stub.host)/demo/app:v1"), deadline: TestImages.deadline())
        }
        #expect(resolved.digest.description == Self.manifestDigest)
        #expect(requests == 2)
    }

    @Test func oversizedManifestIsRefused() async throws {
        let big = Array(repeating: UInt8(ascii: " "), count: 8192) + Self.manifestBytes
        // The same answer for a retry too: on a machine so busy that a transfer stalls past the
        // low-speed limit, the client retries, and the test is about the size, not the stall.
        let stub = try await RegistryStubServer.start(routes: [
            "GET /v2/demo/app/manifests/v1": Array(repeating: Self.manifestResponse(body: big), count: 3),
        ])
        let client = try Self.makeClient(stub, configuration: RegistryClientConfiguration(maximumManifestBytes: 4096))
        defer { client.shutdown() }
        let error = await #expect(throws: RegistryError.self) {
            try await client.manifest(try TestImages.reference("\(stub.host)/demo/app:v1"), deadline: TestImages.deadline())
        }
        #expect(error?.kind == .tooLarge)
    }

    @Test func referrersAPIWithAndWithoutServerSideFiltering() async throws {
        let subject = "sha256:" + String(repeating: "c", count: 64)
        func entry(_ hex: Character, _ type: String) -> String {
            #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:\#(String(repeating: hex, count: 64))","size":10,"artifactType":"\#(type)"}"#
        }
        let unfiltered = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[\#(entry("d", MediaType.notarySignature)),\#(entry("e", "application/spdx+json"))]}"#.utf8)
        let filtered = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[\#(entry("d", MediaType.notarySignature))]}"#.utf8)
        let encodedType = "application%2Fvnd.cncf.notary.signature"
        let stub = try await RegistryStubServer.start(routes: [
            "GET /v2/lax/app/referrers/\(subject)": [Response(headers: ["Content-Type": MediaType.ociIndex], body: unfiltered)],
            "GET /v2/lax/app/referrers/\(subject)?artifactType=\(encodedType)": [Response(headers: ["Content-Type": MediaType.ociIndex], body: unfiltered)],
            "GET /v2/strict/app/referrers/\(subject)?artifactType=\(encodedType)": [
                Response(headers: ["Content-Type": MediaType.ociIndex, "OCI-Filters-Applied": "artifactType"], body: filtered),
            ],
        ])
        let client = try Self.makeClient(stub)
        defer { client.shutdown() }
        let digest = try ImageDigest(parsing: subject)

        let lax = try TestImages.reference("\(stub.host)/lax/app:v1")
        let all = try await client.referrers(of: digest, in: lax, deadline: TestImages.deadline())
        #expect(all.source == .referrersAPI)
        #expect(all.referrers.count == 2)
        let clientFiltered = try await client.referrers(of: digest, in: lax, artifactType: MediaType.notarySignature, deadline: TestImages.deadline())
        #expect(clientFiltered.referrers.count == 1)
        #expect(clientFiltered.filteredByRegistry == false)

        let strict = try TestImages.reference("\(stub.host)/strict/app:v1")
        let serverFiltered = try await client.referrers(of: digest, in: strict, artifactType: MediaType.notarySignature, deadline: TestImages.deadline())
        #expect(serverFiltered.referrers.count == 1)
        #expect(serverFiltered.filteredByRegistry)
    }

    /// A referrer keeps only what a verifier reads of it: a registry that hangs a megabyte of
    /// annotations on each descriptor of its 16 pages (the verifiers of 16 images at once held
    /// about a gigabyte) leaves none of it in the listing, and a descriptor whose artifact type
    /// is longer than any media type is left out.
    @Test func referrersKeepNoAnnotationsAndNoOversizedTypes() async throws {
        let subject = "sha256:" + String(repeating: "c", count: 64)
        let bulk = String(repeating: "x", count: 1 << 20)
        let bundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
        let listing = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:\#(String(repeating: "d", count: 64))","size":10,"artifactType":"\#(bundle)","annotations":{"junk":"\#(bulk)"},"urls":["https://example.invalid/\#(bulk)"]},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:\#(String(repeating: "e", count: 64))","size":10,"artifactType":"\#(bundle)\#(bulk)"}]}"#.utf8)
        let stub = try await RegistryStubServer.start(routes: [
            "GET /v2/big/app/referrers/\(subject)": [Response(headers: ["Content-Type": MediaType.ociIndex], body: listing)],
            "GET /v2/big/app/manifests/sha256-\(String(repeating: "c", count: 64))": [
                Response(headers: ["Content-Type": MediaType.ociIndex], body: listing),
            ],
        ])
        let client = try Self.makeClient(stub)
        defer { client.shutdown() }
        let digest = try ImageDigest(parsing: subject)
        let listed = try await client.referrers(
            of: digest, in: try TestImages.reference("\(stub.host)/big/app:v1"), artifactTypePrefix: "application/vnd.dev.sigstore.bundle",
            deadline: TestImages.deadline())
        #expect(listed.listedCount == 2)
        #expect(listed.referrers.map(\.digest.description) == ["sha256:" + String(repeating: "d", count: 64)])
        #expect(listed.referrers.first?.annotations == nil && listed.referrers.first?.urls == nil)
        #expect(listed.referrers.first?.artifactType == bundle)
    }

    /// Pages are filtered as they arrive, and at most 4,096 referrers of the type asked for are
    /// kept in all: a registry cannot pile up descriptors across its 16 pages.
    @Test func referrersPagesAreFilteredAsTheyArriveAndBoundedInAll() async throws {
        let subject = "sha256:" + String(repeating: "c", count: 64)
        func page(_ types: [String]) -> [UInt8] {
            let entries = types.enumerated().map { index, type in
                #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:\#(String(format: "%064x", index))","size":10,"artifactType":"\#(type)"}"#
            }
            return Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[\#(entries.joined(separator: ","))]}"#.utf8)
        }
        let signatures = Array(repeating: MediaType.notarySignature, count: 2_100)
        let others = Array(repeating: "application/spdx+json", count: 2_100)
        let encodedType = "application%2Fvnd.cncf.notary.signature"
        func route(_ repository: String, _ first: [UInt8], _ second: [UInt8]) -> [String: [Response]] {
            [
                "GET /v2/\(repository)/app/referrers/\(subject)?artifactType=\(encodedType)": [Response(
                    headers: ["Content-Type": MediaType.ociIndex, "Link": "</v2/\(repository)/app/referrers/\(subject)?page=2>; rel=\"next\""],
                    body: first)],
                "GET /v2/\(repository)/app/referrers/\(subject)?page=2": [Response(headers: ["Content-Type": MediaType.ociIndex], body: second)],
            ]
        }
        let stub = try await RegistryStubServer.start(routes: route("mixed", page(signatures + others), page(others + ["x"] + [MediaType.notarySignature]))
            .merging(route("crowded", page(signatures), page(signatures)), uniquingKeysWith: { first, _ in first }))
        let client = try Self.makeClient(stub)
        defer { client.shutdown() }
        let digest = try ImageDigest(parsing: subject)

        // 8,401 descriptors over two pages, 2,101 of them signatures: read.
        let mixed = try await client.referrers(
            of: digest, in: try TestImages.reference("\(stub.host)/mixed/app:v1"), artifactType: MediaType.notarySignature, deadline: TestImages.deadline())
        #expect(mixed.referrers.count == 2_101)
        // 4,200 signatures: refused, naming the bound.
        let error = await #expect(throws: RegistryError.self) {
            try await client.referrers(
                of: digest, in: try TestImages.reference("\(stub.host)/crowded/app:v1"), artifactType: MediaType.notarySignature,
                deadline: TestImages.deadline())
        }
        #expect("\(String(describing: error))".contains("has more than 4096 referrers of type \(MediaType.notarySignature)"))
    }

    /// A referrers page whose next link points at another address is refused: the next page
    /// would be asked with this registry's credentials, at an address the registry chose.
    @Test func referrersPagesAreFollowedOnlyOnTheSameRegistry() async throws {
        let subject = "sha256:" + String(repeating: "d", count: 64)
        let empty = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.utf8)
        let other = try await RegistryStubServer.start(routes: [
            "GET /v2/app/referrers/\(subject)?page=2": [Response(headers: ["Content-Type": MediaType.ociIndex], body: empty)],
        ])
        defer { other.stop() }
        let stub = try await RegistryStubServer.start(routes: [
            "GET /v2/away/app/referrers/\(subject)": [Response(
                headers: ["Content-Type": MediaType.ociIndex, "Link": "<http://\(other.host)/v2/app/referrers/\(subject)?page=2>; rel=\"next\""],
                body: empty)],
        ])
        let client = try Self.makeClient(stub)
        defer { client.shutdown() }
        let error = await #expect(throws: RegistryError.self) {
            try await client.referrers(
                of: try ImageDigest(parsing: subject), in: try TestImages.reference("\(stub.host)/away/app:v1"), deadline: TestImages.deadline())
        }
        #expect("\(String(describing: error))".contains("continue at another address"), "\(String(describing: error))")
        #expect(other.requests.isEmpty, "nothing was asked of the other address")
        #expect(RegistryClient.sameOrigin("https://r.example/v2/a?x=1", "https://R.example:443/v2/b"))
        #expect(!RegistryClient.sameOrigin("https://r.example/v2/a", "http://r.example/v2/a"))
        #expect(!RegistryClient.sameOrigin("https://r.example:5000/v2/a", "https://r.example/v2/a"))
    }

    @Test func cancellingTheTaskCancelsTheTransfer() async throws {
        let stub = try await RegistryStubServer.start(routes: [
            "HEAD /v2/demo/app/manifests/slow": [Response(status: 200, delay: 20)],
        ])
        let client = try Self.makeClient(stub)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(stub.host)/demo/app:slow")
        let task = Task { () throws -> Descriptor in
            try await client.resolve(reference, deadline: TestImages.deadline(60))
        }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let result = await task.result
        guard case .failure(let error) = result else {
            Issue.record("a cancelled resolve succeeded")
            return
        }
        #expect((error as? RegistryError)?.kind == .cancelled)
    }

    @Test func deadlineEndsASlowRegistryCall() async throws {
        let stub = try await RegistryStubServer.start(routes: [
            "HEAD /v2/demo/app/manifests/slow": [Response(status: 200, delay: 20)],
        ])
        let client = try Self.makeClient(stub)
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(stub.host)/demo/app:slow")
        let error = await #expect(throws: RegistryError.self) {
            try await client.resolve(reference, deadline: ContinuousClock.now + .seconds(1))
        }
        #expect(error?.kind == .deadlineExceeded)
    }
}
