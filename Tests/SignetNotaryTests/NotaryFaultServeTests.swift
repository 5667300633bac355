import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// `signet serve` with a `notaryV1` authority whose Notary server fails: down, slower than the
/// review's deadline, 500, 429 without end, garbage for metadata. The image itself resolves in a
/// real registry. Each review is answered (HTTP 200) with the Enforce policy's deny naming the
/// image and the policy; never an allow.
@Suite("signet serve: Notary server faults end in the policy's deny", .serialized)
struct NotaryFaultServeTests {
    typealias Response = RegistryStubServer.Response
    static let faults = ["down", "slow", "500", "429", "garbage"]
    static let reviewTimeoutSeconds = 3

    static func response(_ fault: String) -> Response {
        switch fault {
        case "slow": Response(status: 200, headers: ["Content-Type": "application/json"], body: Array("{}".utf8), delay: 30)
        case "500": Response(status: 500, body: Array("internal error".utf8))
        case "429": Response(status: 429, headers: ["Retry-After": "1"])
        default: Response(status: 200, headers: ["Content-Type": "application/json"], body: Array("{\"signed\":[\u{0}\u{ff}".utf8))
        }
    }

    @Test func eachFaultIsDeniedInTimeWithAReason() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))

        let files = try NotaryTest.files(version: "0.3", gun: NotaryVectorTests.gun03, roles: ["root"])
        let keys = TemporaryDirectory(prefix: "signet-notary-fault-keys")
        let rootKeyFile = try keys.write("root.pem", NotaryTest.pem(try NotaryTest.rootKey(files["root"]!))).path

        var stubs: [RegistryStubServer] = []
        var servers: [String: String] = [:]
        for fault in Self.faults {
            if fault == "down" {
                servers[fault] = "http://127.0.0.1:\(FreePort.make())"
                continue
            }
            var routes: [String: [Response]] = [:]
            for role in ["root", "timestamp", "snapshot", "targets", "targets/releases"] {
                routes["GET /v2/\(registry.host)/team/\(fault)/app/_trust/tuf/\(role).json"] = [Self.response(fault)]
            }
            let stub = try await RegistryStubServer.start(routes: routes)
            stubs.append(stub)
            servers[fault] = "http://\(stub.host)"
        }
        let policies = TemporaryDirectory(prefix: "signet-notary-fault-policies")
        for fault in Self.faults {
            _ = try policies.write("\(fault).yaml", """
                apiVersion: signet.dev/v1alpha1
                kind: ClusterImagePolicy
                metadata:
                  name: notary-\(fault)
                spec:
                  images:
                    - glob: "\(registry.host)/team/\(fault)/**"
                  authorities:
                    - name: dct
                      notaryV1:
                        server: \(servers[fault]!)
                        rootKeys:
                          - file: \(rootKeyFile)

                """)
        }
        let server = try await SignetServerFixture.start(policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host])
        let reviews = TemporaryDirectory(prefix: "signet-notary-fault-reviews")
        for fault in Self.faults {
            let faultImage = "\(registry.host)/team/\(fault)/app:v1"
            _ = try await NotaryWorld.push(client, try ImageReference(parsing: faultImage))
            let file = try ReviewFiles.pod(in: reviews, named: fault, images: [faultImage])
            let review = try await FaultReview.post(file, to: server, timeoutSeconds: Self.reviewTimeoutSeconds, peer: "notary server", fault: fault)
            #expect(review.httpStatus == 200, "\(fault): \(review.stderr)")
            let denial = try #require(review.answer, "\(fault): no AdmissionReview answer")
            #expect(!denial.allowed, "\(fault) was allowed")
            #expect(denial.message.contains(faultImage), "\(fault): \(denial.message)")
            #expect(denial.message.contains("notary-\(fault)"), "\(fault): \(denial.message)")
        }
        let started = stubs
        _ = try? await offThePool {
            server.stop()
            for stub in started { stub.stop() }
            client.shutdown()
            registry.stop()
        }
    }
}
