import Foundation
import SignetCrypto
import SignetTestSupport
import Testing

/// `signet serve --max-buffered-registry-bytes`: a registry that drips large signature payloads
/// for several images at once makes signet stop the downloads holding the most instead of holding
/// every payload at once. Each image is still decided with a reason an operator can act on: its
/// payload arrived (on a retry if need be) and its signature was checked, or the denial names
/// the budget. The stops are in `/metrics`.
@Suite("signet serve: registry responses held at once stay within the budget")
struct RegistryBufferServeTests {
    static let imageCount = 4
    static let payloadBytes = 512 * 1024

    /// Routes for `team/app:v<i>`: an image manifest, its cosign `.sig` manifest with one layer,
    /// and that layer's payload, which goes out in 16 KiB pieces once every payload is asked for.
    static func routes() -> [String: [RegistryStubServer.Response]] {
        let manifestHeaders = ["Content-Type": "application/vnd.oci.image.manifest.v1+json"]
        var routes: [String: [RegistryStubServer.Response]] = [:]
        for index in 0..<imageCount {
            let config = DigestAlgorithm.sha256.hexHash(Array("config \(index)".utf8))
            let manifest = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\#(config)","size":2},"layers":[]}"#.utf8)
            let digest = DigestAlgorithm.sha256.hexHash(manifest)
            let headers = manifestHeaders.merging(["Docker-Content-Digest": "sha256:\(digest)"]) { $1 }
            routes["HEAD /v2/team/app/manifests/v\(index)"] = [.init(headers: headers)]
            routes["GET /v2/team/app/manifests/v\(index)"] = [.init(headers: headers, body: manifest)]
            routes["GET /v2/team/app/manifests/sha256:\(digest)"] = [.init(headers: headers, body: manifest)]

            let payload = [UInt8](repeating: UInt8(ascii: "a") + UInt8(index), count: payloadBytes)
            let payloadDigest = DigestAlgorithm.sha256.hexHash(payload)
            let signature = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\#(config)","size":2},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:\#(payloadDigest)","size":\#(payloadBytes),"annotations":{"dev.cosignproject.cosign/signature":"MEUCIQDvbUyYwH3g0i2Rbq0NnXhUd0DMUnG0r7ZQt1bLhP3uDAIgJg0mM4GmS7n0J0x5y3p9lq2hQ2cKx7m1mS6nT8yJ9aQ="}}]}"#.utf8)
            routes["GET /v2/team/app/manifests/sha256-\(digest).sig"] = [.init(headers: manifestHeaders, body: signature)]
            routes["GET /v2/team/app/blobs/sha256:\(payloadDigest)"] = [.init(body: payload, gather: imageCount, pieceInterval: 0.005)]
        }
        return routes
    }

    @Test func downloadsPastTheBudgetAreStoppedAndEveryImageIsStillDecided() async throws {
        let stub = try await RegistryStubServer.start(routes: Self.routes())
        let key = try await TestSigningKey.generate(.ecP256)
        let policies = TemporaryDirectory(prefix: "signet-buffer-policies")
        try policies.write("buffer.yaml", keyPolicyYAML(name: "buffered", glob: "\(stub.host)/team/**", keyFile: key.publicKeyFile))
        let server = try await SignetServerFixture.start(policyDirectory: policies.path, arguments: [
            "--allow-insecure-registry", stub.host, "--max-buffered-registry-bytes", "\(1 << 20)",
        ])
        let reviews = TemporaryDirectory(prefix: "signet-buffer-reviews")
        let images = (0..<Self.imageCount).map { "\(stub.host)/team/app:v\($0)" }
        let file = try ReviewFiles.pod(in: reviews, named: "buffer", images: images)
        let review = try await FaultReview.post(file, to: server, timeoutSeconds: 20, peer: "registry", fault: "dripped-payloads")
        #expect(review.httpStatus == 200, "\(review.stderr)")
        let denial = try #require(review.answer, "no AdmissionReview answer")
        #expect(!denial.allowed)
        for image in images {
            #expect(denial.message.contains(image), "\(image) is not named: \(denial.message)")
        }
        #expect(denial.message.contains("buffered"), "\(denial.message)")
        // Each image is denied for its signature (its payload arrived whole and was checked) or
        // names the budget that stopped its download; nothing else.
        let verified = denial.message.components(separatedBy: "does not verify").count - 1
        let stopped = denial.message.components(separatedBy: "--max-buffered-registry-bytes").count - 1
        #expect(verified + stopped == Self.imageCount, "\(denial.message)")
        #expect(!denial.message.contains("deadline"), "\(denial.message)")
        #expect(stub.peakConcurrentRequests >= Self.imageCount, "the payloads were never fetched side by side")
        let stops = try await server.metricValue("signet_registry_downloads_stopped_total")
        #expect((stops ?? 0) >= 1, "no download was stopped: \(String(describing: stops))")
        // Every stop is retried at once (with a backoff well inside the 20 s deadline).
        let retries = try await server.metrics().split(separator: "\n")
            .filter { $0.hasPrefix("signet_registry_retries_total{") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        #expect(retries >= 1, "no stopped download was retried")
        #expect(try await server.metricValue("signet_registry_response_buffer_bytes") == 0)
        _ = try? await offThePool {
            server.stop()
            stub.stop()
        }
    }
}
