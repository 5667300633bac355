import Foundation
import SignetTestSupport
import Testing

/// `signet serve` in front of registries that fail in each way a registry can: down, slower than
/// the review's deadline, 500, 429 without end, garbage for a manifest, a manifest whose bytes
/// are not the digest it is served under. Each review is answered (HTTP 200) before the API
/// server's own timeout with the Enforce policy's decision: a deny naming the image and the
/// policy and saying what went wrong. Never an allow, never a dropped connection.
@Suite("signet serve: registry faults end in the policy's deny", .serialized)
struct RegistryFaultServeTests {
    typealias Response = RegistryStubServer.Response

    /// The review deadline the API server sends (`?timeout=`); the slow registry takes longer.
    static let reviewTimeoutSeconds = 3

    static let manifest = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.utf8)
    static let otherDigest = "sha256:" + String(repeating: "ab", count: 32)

    /// The routes of each fault for the image `team/app:v1`.
    static func routes(_ fault: String) -> [String: [Response]] {
        let manifestHeaders = ["Content-Type": "application/vnd.oci.image.manifest.v1+json"]
        func both(_ response: Response) -> [String: [Response]] {
            ["HEAD /v2/team/app/manifests/v1": [response], "GET /v2/team/app/manifests/v1": [response]]
        }
        switch fault {
        case "slow": return both(Response(status: 200, headers: manifestHeaders, body: manifest, delay: 30))
        case "500": return both(Response(status: 500, body: Array("internal error".utf8)))
        case "429": return both(Response(status: 429, headers: ["Retry-After": "1"]))
        case "garbage": return both(Response(status: 200, headers: manifestHeaders, body: Array("\u{0}\u{ff}not a manifest{[".utf8)))
        case "wrong-digest":
            let headers = manifestHeaders.merging(["Docker-Content-Digest": otherDigest]) { $1 }
            return [
                "HEAD /v2/team/app/manifests/v1": [Response(status: 200, headers: headers)],
                "GET /v2/team/app/manifests/v1": [Response(status: 200, headers: headers, body: manifest)],
                "GET /v2/team/app/manifests/\(otherDigest)": [Response(status: 200, headers: headers, body: manifest)],
            ]
        default: return [:]
        }
    }

    static let faults = ["down", "slow", "500", "429", "garbage", "wrong-digest"]

    @Test func eachFaultIsDeniedInTimeWithAReason() async throws {
        var stubs: [String: RegistryStubServer] = [:]
        var hosts: [String: String] = [:]
        for fault in Self.faults {
            if fault == "down" {
                hosts[fault] = "127.0.0.1:\(FreePort.make())"
            } else {
                let stub = try await RegistryStubServer.start(routes: Self.routes(fault))
                stubs[fault] = stub
                hosts[fault] = stub.host
            }
        }
        let key = try await TestSigningKey.generate(.ecP256)
        let policies = TemporaryDirectory(prefix: "signet-fault-policies")
        for fault in Self.faults {
            try policies.write("\(fault).yaml", keyPolicyYAML(name: "faulty-\(fault)", glob: "\(hosts[fault]!)/team/**", keyFile: key.publicKeyFile))
        }
        var arguments: [String] = []
        for fault in Self.faults { arguments += ["--allow-insecure-registry", hosts[fault]!] }
        let server = try await SignetServerFixture.start(policyDirectory: policies.path, arguments: arguments)
        let reviews = TemporaryDirectory(prefix: "signet-fault-reviews")

        for fault in Self.faults {
            let image = "\(hosts[fault]!)/team/app:v1"
            let file = try ReviewFiles.pod(in: reviews, named: fault, images: [image])
            let review = try await FaultReview.post(file, to: server, timeoutSeconds: Self.reviewTimeoutSeconds, peer: "registry", fault: fault)
            #expect(review.httpStatus == 200, "\(fault): \(review.stderr)")
            let denial = try #require(review.answer, "\(fault): no AdmissionReview answer")
            #expect(!denial.allowed, "\(fault) was allowed")
            #expect(denial.message.contains(image), "\(fault): \(denial.message)")
            #expect(denial.message.contains("faulty-\(fault)"), "\(fault): \(denial.message)")
        }
        let started = Array(stubs.values)
        _ = try? await offThePool {
            server.stop()
            for stub in started { stub.stop() }
        }
    }
}
